#!/usr/bin/env bash
# flespi-recv --mqtt checks every payload exactly as a polling answer's
# messages are checked: not JSON, two objects glued, invalid UTF-8, nesting
# past jansson's limit and a number past a double are reported (topic
# escaped), acknowledged, skipped and counted in exit status 65; what is
# written is compacted byte for byte as in polling mode.
source "$(dirname "$0")/lib.sh"
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=goodtoken
TOPIC=flespi/message/gw/channels/7/352625066004561

mq_start "$T/mq" || { notok "broker starts"; finish; exit 1; }
pubf() { mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" --cafile "$MQ_CA" -q 1 \
    -t "$TOPIC" -f "$1"; }
python3 - "$T" <<'PY'
import sys
d = sys.argv[1]
bad = [b'{garbage}', b'{"a":1}{"b":2}', b'{"a":"\xff\xfe"}',
       b'{"a":' + b'[' * 5000 + b']' * 5000 + b'}', b'{"a":1e400}',
       b'[1,2]', b'{"a":1', b'{"a":"x\x00y"}']
for i, b in enumerate(bad):
    open("%s/bad%d" % (d, i), "wb").write(b)
open(d + "/good0", "wb").write(b'{ "n" : 1.50 , "s" : "a  b" }')
open(d + "/good1", "wb").write(b'{"n":2}')
PY
nbad=8
: >"$T/got"; : >"$T/err"
"${RECV[@]}" -v -n 2 7 >"$T/got" 2>"$T/err" &
pid=$!
wait_for 10 mq_subscribed "$T/err" || notok "consumer subscribes" "$(cat "$T/err")"
pubf "$T/good0"
for i in $(seq 0 $((nbad - 1))); do pubf "$T/bad$i"; done
pubf "$T/good1"
mq_wait $pid; rc=$?
printf '%s\n' '{"n":1.50,"s":"a  b"}' '{"n":2}' >"$T/want"
diff_ok "bad payloads skipped, good ones compacted byte for byte" \
    "$T/want" "$T/got"
check "exit 65 (rc $rc)" test $rc -eq 65
n=$(grep -c 'payload is not a JSON object, skipped' "$T/err")
check "each bad payload reported ($n of $nbad)" test "$n" -eq $nbad
check "... naming its topic" \
    test "$(grep -c "$TOPIC: payload" "$T/err")" -eq $nbad

# They were acknowledged: a new consumer of the same session gets none.
"${RECV[@]}" -v --session s44 --retries 0 -n 1 7 >"$T/got" 2>"$T/err" &
pid=$!
wait_for 10 mq_subscribed "$T/err"
pubf "$T/bad0"
pubf "$T/good1"
mq_wait $pid; rc=$?
"${RECV[@]}" -v --session s44 7 >"$T/got2" 2>"$T/err2" &
pid=$!
wait_for 10 mq_subscribed "$T/err2"
pubf "$T/good1"
wait_for 10 test -s "$T/got2"
kill -TERM $pid; mq_wait $pid
check "a skipped payload is acknowledged: not delivered again" \
    bash -c "! grep -q 'payload is not' '$T/err2' && [ \$(wc -l <'$T/got2') -eq 1 ]"
finish
