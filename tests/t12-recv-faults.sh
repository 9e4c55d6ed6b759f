#!/usr/bin/env bash
# flespi-recv against a failing server: every temporary fault (429, 5xx,
# stall, cut connection, truncated or garbage body) is retried and the
# output stays exact; --retries gives up with 75; 401/403/404 end at once
# with 69 and a clear message.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"

faults() {	# faults LIST: the next requests get these faults
	curl -fsS --data-binary "$1" "$URL/control/faults" >/dev/null
}
logged() { [ "$(wc -l <"$T/a.log")" -ge "$1" ]; }	# requests logged
export FLESPI_TOKEN=test-token
RECV="--retry-wait 0.02 --request-timeout 0.5 --limit-count 100 --once"

python3 "$TESTS/genmsgs.py" 300 >"$T/in"
standin a --messages "$T/in"

# Each fault hits the second request twice: a batch is already out.
for f in 429 500 503 truncate cut garbage close stall:1; do
	: >"$T/a.log"
	faults "ok,$f,$f"
	flespi-recv --url "$URL" $RECV 1 >"$T/out" 2>"$T/err"; rc=$?
	check "$f: exit 0 after retries" test $rc -eq 0
	if cmp -s "$T/in" "$T/out"; then ok "$f: every message once, in order"
	else notok "$f: every message once, in order" "$(head -3 "$T/err")"; fi
	# libcurl itself retries once when a reused connection was closed.
	want=2; [ $f = close ] && want=1
	check "$f: retries reported on stderr" \
	    test "$(grep -c 'retry [12] in [0-9]* ms' "$T/err")" -ge $want
	# A stalled request is logged when its stall ends.
	wait_for 5 logged 6 || true
	check "$f: the failed key is asked for again" python3 - "$T/a.log" <<'PY'
import json, sys
recs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["n"])
keys = [r["curr_key"] for r in recs]
assert keys[:5] == [0, 101, 101, 101, 201], keys
PY
done
check "stall: the diagnostic says it timed out" grep -qi 'timeout\|timed out' "$T/err"

# A pretty (indented) body that is cut short is rejected as a whole.
: >"$T/a.log"
faults "truncate"
flespi-recv --url "$URL" $RECV -v 1 >"$T/out" 2>"$T/err"
check "truncated: reported as not JSON" grep -q 'not JSON' "$T/err"

# An answer whose next_key does not move on is not written.
: >"$T/a.log"
faults "ok,stuck"
flespi-recv --url "$URL" $RECV 1 >"$T/out" 2>"$T/err"; rc=$?
check "stuck next_key: exit 0 after a retry" test $rc -eq 0
check "stuck next_key: says so" grep -q 'next_key 101 does not move on.*retry 1' "$T/err"
if cmp -s "$T/in" "$T/out"; then ok "stuck next_key: every message once, in order"
else notok "stuck next_key: every message once, in order" "$(head -3 "$T/err")"; fi

# An answer past --limit-size plus 1 MiB is not buffered: retried.
faults "ok,huge"
flespi-recv --url "$URL" $RECV --limit-size 100000 1 >"$T/out" 2>"$T/err"; rc=$?
check "oversized answer: exit 0 after a retry" test $rc -eq 0
check "oversized answer: says so" grep -q 'answer longer than 1148576 bytes .*raise --limit-size.*; retry 1' "$T/err"
if cmp -s "$T/in" "$T/out"; then ok "oversized answer: every message once, in order"
else notok "oversized answer: every message once, in order" "$(head -3 "$T/err")"; fi

# 429 with Retry-After: the server's delay wins over the short backoff.
faults "429:1"
timed flespi-recv --url "$URL" $RECV 1 >"$T/out" 2>"$T/err"
check "429 with Retry-After: 1 waits a second ($ms ms)" test $rc -eq 0 -a $ms -ge 1000
check "429 with Retry-After: the retry names the delay" grep -q 'retry 1 in 1000 ms' "$T/err"

# SIGTERM during a backoff wait ends it at once, exit 0, key saved.
faults "ok,500,500,500"
flespi-recv --url "$URL" --retry-wait 20 --limit-count 100 --state "$T/st2" 1 \
    >"$T/out" 2>"$T/err2" &
pid=$!
wait_for 5 grep -q 'retry 1 in' "$T/err2"
t0=$(date +%s%N)
kill -TERM $pid
wait $pid; rc=$?
ms=$(ms_since $t0)
check "SIGTERM during a backoff wait: exit 0 at once ($ms ms)" test $rc -eq 0 -a $ms -lt 2000
check "SIGTERM during a backoff wait: key after the written batch" \
    test "$(cat "$T/st2")" = 101 -a "$(wc -l <"$T/out")" -eq 100

# --retries N: N retries, then exit 75, key saved for what was written.
faults "ok,500,500,500,500"
flespi-recv --url "$URL" $RECV --retries 2 --state "$T/st" 1 \
    >"$T/out" 2>"$T/err"; rc=$?
check "--retries 2: exit 75" test $rc -eq 75
check "--retries 2: says it gave up" grep -q 'giving up after 2 retries: ' "$T/err"
check "--retries 2: the first batch was written" test "$(wc -l <"$T/out")" -eq 100
check "--retries 2: the key after it was saved" test "$(cat "$T/st")" = 101
faults "500"
flespi-recv --url "$URL" $RECV --retries 0 1 >/dev/null 2>"$T/err"; rc=$?
check "--retries 0: no retry, exit 75" test $rc -eq 75

# Refusals: no retry, exit 69, the cause named.
standin b --messages "$T/in" --channels 1,2 --forbidden 7
FLESPI_TOKEN=wrong flespi-recv --url "$URL" $RECV 1 >"$T/out" 2>"$T/err"
check "bad token: exit 69" test $? -eq 69
check "bad token: message names the token" grep -q '401.*token' "$T/err"
flespi-recv --url "$URL" $RECV 7 >"$T/out" 2>"$T/err"
check "forbidden channel: exit 69" test $? -eq 69
check "forbidden channel: message says 403" grep -q '403 Forbidden' "$T/err"
flespi-recv --url "$URL" $RECV 1,99 >"$T/out" 2>"$T/err"
check "unknown channel: exit 69" test $? -eq 69
check "unknown channel: message says no such channel" \
    grep -q 'channel 1,99: 404 Not Found: no such channel' "$T/err"
check "refusals: one request each, never retried" \
    test "$(wc -l <"$T/b.log")" -eq 3
check "refusals: nothing on stdout" test ! -s "$T/out"
flespi-recv --url "$URL" $RECV 1,2 >"$T/out" 2>"$T/err"
check "a selector of two channels is accepted" test $? -eq 0 -a -s "$T/out"

# No server at all: a connection failure is temporary.
flespi-recv --url "http://127.0.0.1:1" $RECV --retries 1 1 2>"$T/err"
check "connection refused: retried, then exit 75" test $? -eq 75
finish
