#!/usr/bin/env bash
# flespi-to-aws --connections 4 whose input ends within milliseconds of the
# start, so that connections are still in their TLS handshake or waiting
# for CONNACK when the run is over: every connection the broker accepted
# ends with a clean DISCONNECT.  Closed halfway up, mosquitto logs
# "disconnected: Protocol error" (a handshake cut short, or a DISCONNECT
# lost to the reset that closing with the CONNACK unread causes).
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/b
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
broker_start "$D" || { notok "broker starts"; finish; exit 1; }
log=$D/mosquitto.log

# accepted_gt N: the broker has accepted more than N connections.
accepted_gt() { [ "$(grep -c 'New connection from' "$log")" -gt "$1" ]; }

# The input is a pipe that carries nothing and ends DELAY seconds after
# the broker accepted the run's first connection: while the connections
# are in their TLS handshake or waiting for CONNACK, on a fast machine or
# a slow (sanitized, loaded) one.  Watched every 2 ms (wait_for's 50 ms
# would miss the moment), at most 10 s; sleep DELAY is the input's timing.
ends_after() {
	local n=$1 d=$2 i=0
	while ! accepted_gt "$n" && [ $i -lt 5000 ]; do
		sleep 0.002
		i=$((i + 1))
	done
	sleep "$d"
}
runs=0 bad=0
for d in 0 0.001 0.002 0.004 0.006 0.010 0.015 0.025; do
	for i in 1 2 3; do
		n=$(grep -c 'New connection from' "$log")
		# shellcheck disable=SC2046
		ends_after "$n" $d | timeout 30 flespi-to-aws \
		    $(broker_aws_args "$D") --connections 4 >/dev/null 2>>"$T/err"
		rc=$?
		runs=$((runs + 1))
		[ $rc -eq 0 ] || bad=$((bad + 1))
	done
done
check "$runs runs with input ending 0-25 ms after the first accept: all exit 0 ($bad did not)" \
    test $bad -eq 0

# Every accepted connection has logged its end once the broker has read
# it (bounded: the broker may be a moment behind the last exit).
ended() {
	[ "$(grep -c 'New connection from' "$log")" -eq \
	    "$(grep -c 'disconnected\|closed its connection\|Socket error' "$log")" ]
}
wait_for 10 ended
accepted=$(grep -c 'New connection from' "$log")
clean=$(grep -c 'Client .* disconnected\.$' "$log")
perr=$(grep -c 'Protocol error' "$log")
check "every run connected while its input ended ($accepted accepted in $runs runs)" \
    test "$accepted" -ge "$runs"
check "no 'Protocol error' in the broker's log ($perr of $accepted)" \
    test "$perr" -eq 0
if [ "$clean" -eq "$accepted" ]; then
	ok "every accepted connection ended with DISCONNECT ($clean)"
else
	notok "every accepted connection ended with DISCONNECT ($clean of $accepted)" \
	    "$(grep -v 'New connection\|New client\|disconnected\.$' "$log" | tail -5)"
fi
broker_stop
finish
