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

# The input is a pipe that stays open DELAY seconds and carries nothing
# (sleep is the input's timing here, not a wait for a condition).  The
# delays spread over the few tens of milliseconds four handshakes take,
# on a fast machine or a slow (sanitized, loaded) one.
runs=0 bad=0
for d in 0.002 0.004 0.006 0.008 0.010 0.012 0.015 0.020 0.025 0.030 \
    0.040 0.060; do
	for i in 1 2 3; do
		# shellcheck disable=SC2046
		(sleep $d) | timeout 30 flespi-to-aws $(broker_aws_args "$D") \
		    --connections 4 >/dev/null 2>>"$T/err"
		rc=$?
		runs=$((runs + 1))
		[ $rc -eq 0 ] || bad=$((bad + 1))
	done
done
check "$runs runs with input ending after 2-60 ms: all exit 0 ($bad did not)" \
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
check "connections were made while input ended ($accepted accepted)" \
    test "$accepted" -ge 4
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
