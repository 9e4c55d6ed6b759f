#!/usr/bin/env bash
# flespi-recv --mqtt when the broker says no: a refused CONNACK (bad token,
# not authorised) or SUBACK exits 69 at once with a clear message; "server
# unavailable" is retried, then --retries gives up with 75; MQTT 5 to a
# broker that closes at it (MQTT 3.1.1 only) ends in 69 naming the option.  The peer is
# tests/tools/mqtt-refuser.py over TLS (mosquitto cannot refuse a token
# without a password).
source "$(dirname "$0")/lib.sh"
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=some-token
broker_certs "$T/c" || { notok "certificates"; finish; exit 1; }
MQ_CA=$T/c/ca.pem

n=0
refuser() {	# refuser MODE CODE: start one; sets MQ_PORT, RECV, LOG
	n=$((n + 1))
	LOG=$T/r$n.log
	python3 "$TESTS/tools/mqtt-refuser.py" --cert "$T/c/server.pem" \
	    --key "$T/c/server.key" --port-file "$T/r$n.port" --log "$LOG" \
	    "$1" "$2" &
	MQ_PORT=$(port_of "$T/r$n.port")
	mq_cmd
}
connects() { grep -c '^connect' "$LOG"; }

refuser connack 135		# MQTT 5: not authorized
timeout 10 "${RECV[@]}" 7 >"$T/out" 2>"$T/err"; rc=$?
check "MQTT 5 CONNACK 'not authorized': exit 69" test $rc -eq 69
check "... once, no retry" test "$(connects)" -eq 1
check "... the token sent as the username" grep -qx 'connect 5 some-token' "$LOG"
check "... a clear message" grep -q 'refused the connection: Not authorized' "$T/err"
check "... nothing on stdout" test ! -s "$T/out"
if grep -q some-token "$T/err"; then notok "the token is never printed"
else ok "the token is never printed"; fi

refuser connack 134		# MQTT 5: bad user name or password
timeout 10 "${RECV[@]}" 7 >/dev/null 2>"$T/err"; rc=$?
check "MQTT 5 CONNACK 'bad user name or password': exit 69" test $rc -eq 69

refuser connack 5		# MQTT 3.1.1: not authorised
timeout 10 "${RECV[@]}" --mqtt-version 3.1.1 7 >/dev/null 2>"$T/err"; rc=$?
check "MQTT 3.1.1 CONNACK 5: exit 69" test $rc -eq 69
check "... MQTT 3.1.1 was spoken" grep -q '^connect 4 ' "$LOG"
check "... says so" grep -q 'not authorised' "$T/err"

refuser suback 135		# subscription refused (token ACL)
timeout 10 "${RECV[@]}" 7 >/dev/null 2>"$T/err"; rc=$?
check "SUBACK 'not authorized': exit 69" test $rc -eq 69
check "... naming the topic" \
    grep -q 'subscription to flespi/message/gw/channels/7/+' "$T/err"

refuser suback 128		# MQTT 3.1.1 failure
timeout 10 "${RECV[@]}" --mqtt-version 3.1.1 7 >/dev/null 2>"$T/err"; rc=$?
check "MQTT 3.1.1 SUBACK 0x80: exit 69" test $rc -eq 69

refuser disconnect 142		# MQTT 5: session taken over
timeout 10 "${RECV[@]}" --session s1 7 >/dev/null 2>"$T/err"; rc=$?
check "DISCONNECT 'session taken over': exit 69, no retry" \
    test $rc -eq 69 -a "$(connects)" -eq 1
check "... naming --session" grep -q 'another client uses this --session' "$T/err"

# A broker that speaks only MQTT 3.1.1 and closes at an MQTT 5 CONNECT
# without a word (RabbitMQ 3.10): each retry says what to try, and the
# third close before CONNACK in a row is a refusal (69) naming the option.
refuser v311only 0
timed timeout 20 "${RECV[@]}" --retry-wait 0.1 7 >/dev/null 2>"$T/err"
check "MQTT 5 closed before CONNACK 3 times: exit 69 in ${ms} ms (rc $rc)" \
    test $rc -eq 69
check "... after three MQTT 5 CONNECTs" test "$(grep -c '^connect 5 ' "$LOG")" -eq 3
check "... each retry hints at --mqtt-version 3.1.1" \
    test "$(grep -c 'before CONNACK (.*try --mqtt-version 3.1.1); retry [12] in' "$T/err")" -eq 2
check "... and so does the refusal" \
    grep -q 'closed the connection before CONNACK 3 times in a row: .*try --mqtt-version 3.1.1' "$T/err"
timeout 10 "${RECV[@]}" --retries 0 7 >/dev/null 2>"$T/err"; rc=$?
check "... with --retries 0: exit 75, the hint in the give-up line" \
    test $rc -eq 75 -a -n "$(grep 'giving up.*--mqtt-version 3.1.1' "$T/err")"
: >"$T/err"
"${RECV[@]}" -v --mqtt-version 3.1.1 7 >/dev/null 2>"$T/err" &
pid=$!
wait_for 10 mq_subscribed "$T/err"
check "... and with --mqtt-version 3.1.1 it subscribes" mq_subscribed "$T/err"
kill -TERM $pid; mq_wait $pid

refuser connack 136		# server unavailable: temporary
start=$(date +%s)
timeout 20 "${RECV[@]}" --retries 1 7 >/dev/null 2>"$T/err"; rc=$?
check "CONNACK 'server unavailable' retried, --retries 1: exit 75" \
    test $rc -eq 75
check "... two connections" test "$(connects)" -eq 2
check "... within 4 s" test $(( $(date +%s) - start )) -le 4

# SIGTERM while waiting to retry: exit 0 at once.
refuser connack 136
: >"$T/err"
"${RECV[@]}" 7 >/dev/null 2>"$T/err" &
pid=$!
wait_for 10 grep -q '; retry [0-9]* in [0-9]* ms' "$T/err"
kill -TERM $pid; mq_wait $pid; rc=$?
check "SIGTERM during the backoff: exit 0" test $rc -eq 0

finish
