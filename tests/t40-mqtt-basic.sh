#!/usr/bin/env bash
# flespi-recv --mqtt against a local mosquitto (TLS): command line, ordered
# delivery byte for byte, -n, payloads that are not compact objects,
# SIGTERM, EPIPE, /dev/full, an untrusted broker, no broker at all.
source "$(dirname "$0")/lib.sh"
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=goodtoken
TOPIC=flespi/message/gw/channels/7/352625066004561

# Command line (no broker needed; a CA file must hold a certificate).
broker_certs "$T/mq" || notok "certificates"
MQ_PORT=1 MQ_CA=$T/mq/ca.pem
mq_cmd
flespi-recv --mqtt --help >"$T/help" 2>"$T/err"
check "--help exits 0 with usage on stdout" \
    test $? -eq 0 -a ! -s "$T/err" -a -s "$T/help"
check "--help names the MQTT options" grep -q -- '--share GROUP' "$T/help"
flespi-recv --version >"$T/out"
check "--version prints a version" grep -q ' [0-9][0-9.]*$' "$T/out"
for bad in "" "7 8" "7," ",7" "a7" "7/8" "#"; do
	# shellcheck disable=SC2086
	"${RECV[@]}" $bad >/dev/null 2>"$T/err"; rc=$?
	check "CHANNEL '$bad' exits 64" test $rc -eq 64 -a -s "$T/err"
done
"${RECV[@]}" --sticky 7 >/dev/null 2>"$T/err"; rc=$?
check "--sticky without --share exits 64" test $rc -eq 64
check "... and says why" grep -q -- '--sticky needs --share' "$T/err"
"${RECV[@]}" --share 'a/b' 7 >/dev/null 2>&1
check "--share with '/' exits 64" test $? -eq 64
"${RECV[@]}" --session-expiry 60 7 >/dev/null 2>&1
check "--session-expiry without --session exits 64" test $? -eq 64
"${RECV[@]}" --mqtt-version 4 7 >/dev/null 2>"$T/err"; rc=$?
check "--mqtt-version 4 exits 64 naming the value" \
    test $rc -eq 64 -a -n "$(grep "'4'" "$T/err")"
"${RECV[@]}" -n 0 7 >/dev/null 2>"$T/err"; rc=$?
check "-n 0 exits 64" test $rc -eq 64
"${RECV[@]}" --url mqtt://127.0.0.1:1883 7 >/dev/null 2>"$T/err"; rc=$?
check "plain mqtt:// URL refused (64)" test $rc -eq 64
check "... saying TLS only" grep -q 'TLS only' "$T/err"
FLESPI_TOKEN= "${RECV[@]}" 7 >/dev/null 2>"$T/err"; rc=$?
check "empty token exits 64" test $rc -eq 64
(unset FLESPI_TOKEN; "${RECV[@]}" 7 >/dev/null 2>"$T/err"); rc=$?
check "no token exits 64" test $rc -eq 64
check "... naming FLESPI_TOKEN" grep -q FLESPI_TOKEN "$T/err"

"${RECV[@]}" --token-file "$T/nonexistent" 7 >/dev/null 2>"$T/err"; rc=$?
check "missing --token-file exits 64 naming it" \
    test $rc -eq 64 -a -n "$(grep nonexistent "$T/err")"

# Nothing listens: retries, then 75.
port=$(free_ports 1)
start=$(date +%s)
MQ_PORT=$port mq_cmd
"${RECV[@]}" --retries 1 7 >"$T/out" 2>"$T/err"; rc=$?
check "no broker, --retries 1: exit 75" test $rc -eq 75
check "... after one retry" test "$(grep -c '; retry 1 in [0-9]* ms' "$T/err")" -eq 1
check "... saying so" grep -q 'giving up after 1 retry: ' "$T/err"
check "... within 3 s" test $(( $(date +%s) - start )) -le 3

# The options reach the subscription topic (tests/unit/test_recvmqtt.c
# covers the builder itself).
"${RECV[@]}" -v --retries 0 --share g --sticky --filter 'position.speed>80' \
    10,20 >/dev/null 2>"$T/err"
grep 'subscribing to' "$T/err" | sed 's/^[^:]*: //' >"$T/got"
echo 'subscribing to $share/g:6/$filter/payload=position.speed%3E80/flespi/message/gw/channels/10,20/+' >"$T/want"
diff_ok "--share --sticky --filter with two channels: the topic" "$T/want" "$T/got"

mq_start "$T/mq" || { notok "broker starts"; finish; exit 1; }

# Ordered delivery: 5000 realistic messages, byte for byte (token from a
# file this time).
python3 "$TESTS/genmsgs.py" 5000 >"$T/msgs"
printf 'goodtoken\n' >"$T/token"
: >"$T/got"; : >"$T/err"	# never a stale line from before
FLESPI_TOKEN= "${RECV[@]}" --token-file "$T/token" -v -n 5000 7 \
    >"$T/got" 2>"$T/err" &
pid=$!
wait_for 10 mq_subscribed "$T/err" || notok "consumer subscribes" "$(cat "$T/err")"
mq_pub "$TOPIC" <"$T/msgs"
mq_wait $pid; rc=$?
check "-n 5000: exit 0" test $rc -eq 0
diff_ok "5000 messages in order, byte for byte" "$T/msgs" "$T/got"

# Not compact objects: pretty-printed is compacted, the rest is skipped.
: >"$T/got"; : >"$T/err"
"${RECV[@]}" -v -n 3 7 >"$T/got" 2>"$T/err" &
pid=$!
wait_for 10 mq_subscribed "$T/err"
pub1() { mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" --cafile "$MQ_CA" -q 1 \
    -t "$TOPIC" -m "$1"; }
pub1 '{"a":1}'
pub1 '[1,2]'
pub1 'not json'
pub1 "$(printf '{\n  "b": 2\n}')"
pub1 '{"c":3}'
mq_wait $pid; rc=$?
printf '%s\n' '{"a":1}' '{"b":2}' '{"c":3}' >"$T/want"
diff_ok "pretty-printed payload compacted, bad ones skipped" "$T/want" "$T/got"
check "skipped payloads: exit 65" test $rc -eq 65
check "... each named with its topic" \
    test "$(grep -c "$TOPIC: payload is not a JSON object" "$T/err")" -eq 2

# SIGTERM: exit 0, clean DISCONNECT (the broker logs "disconnected").
: >"$T/got"; : >"$T/err"
"${RECV[@]}" -v --session term1 7 >"$T/got" 2>"$T/err" &
pid=$!
wait_for 10 mq_subscribed "$T/err"
printf '{"n":1}\n{"n":2}\n' | mq_pub "$TOPIC"
wait_for 10 mq_lines_ge 2 "$T/got"
kill -TERM $pid; mq_wait $pid; rc=$?
check "SIGTERM: exit 0" test $rc -eq 0
check "SIGTERM: the two lines written" test "$(wc -l <"$T/got")" -eq 2
check "SIGTERM: clean disconnect" \
    wait_for 5 grep -q 'Client term1 disconnected\.' "$MQ_DIR/mq.log"

# The reader goes away: exit 0, quietly, even before the next message.
: >"$T/got"; : >"$T/err"; rm -f "$T/rc"
("${RECV[@]}" -v 7 2>"$T/err"; echo $? >"$T/rc") | head -1 >"$T/got" &
wait_for 10 mq_subscribed "$T/err"
python3 "$TESTS/genmsgs.py" 2 | mq_pub "$TOPIC"
wait_for 10 test -s "$T/rc"
check "EPIPE: exit 0" test "$(cat "$T/rc")" = 0
check "EPIPE: one line, no diagnostic" \
    test "$(wc -l <"$T/got")" -eq 1 -a -z "$(grep -v 'subscrib\|connected\|acknowledg\|written' "$T/err")"

# stdout full: 74.
: >"$T/err"
"${RECV[@]}" -v -n 1 7 >/dev/full 2>"$T/err" &
pid=$!
wait_for 10 mq_subscribed "$T/err"
pub1 '{"a":1}'
mq_wait $pid; rc=$?
check "/dev/full: exit 74" test $rc -eq 74
check "... with a diagnostic" grep -q 'stdout' "$T/err"

# A broker whose certificate is not from the CA we trust: 69, no retry.
mkdir -p "$T/other"
cp "$MQ_DIR/other-ca.pem" "$T/other/ca.pem"
MQ_CA=$T/other/ca.pem mq_cmd
"${RECV[@]}" 7 >/dev/null 2>"$T/err"; rc=$?
check "untrusted broker certificate: exit 69" test $rc -eq 69
check "... naming TLS" grep -q 'TLS' "$T/err"

mq_stop
finish
