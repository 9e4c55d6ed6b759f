#!/usr/bin/env bash
# flespi-recv given hostile message bodies by the stand-in: odd but valid
# JSON (-0, 2^63, 2^64, duplicate keys, escapes, deep nesting, CRLF-free
# long lines) passes through byte for byte, compact or pretty-printed; an
# answer carrying a message that is not JSON (invalid UTF-8, a NUL byte,
# 1e400, NaN, 3000 levels of nesting, a lone surrogate, a truncated
# object) is refused and retried, never half written: the good messages
# before it come out exactly, the key stops at it, --retries gives up
# with 75.  No crash, no hang.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
H=$T/h
python3 "$TESTS/hostile/gen.py" "$H" || { notok "generator"; finish; exit 1; }
export FLESPI_TOKEN=test-token
RECV="--retry-wait 0.02 --request-timeout 2 --once"


n=$(wc -l <"$H/recv.ndjson")
for mode in compact pretty; do
	opt=; [ $mode = pretty ] && opt=--pretty
	standin $mode --messages "$H/recv.ndjson" $opt
	timeout 30 flespi-recv --url "$URL" $RECV 1 >"$T/out" 2>"$T/err"
	rc=$?
	check "odd but valid messages ($mode): exit 0, rc $rc" [ $rc -eq 0 ]
	diff_ok "... all $n passed through byte for byte" "$H/recv.ndjson" "$T/out"
done

# good, bad1, good, bad2, ..., good: key 2i holds bad message i.
python3 - "$H/recvbad.ndjson" "$T/mixed" <<'PY'
import sys
bad = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
with open(sys.argv[2], "wb") as f:
    for i, b in enumerate(bad):
        f.write(b'{"ident":"g","timestamp":1,"seq":%d}\n' % i)
        f.write(b + b"\n")
    f.write(b'{"ident":"g","timestamp":1,"seq":%d}\n' % len(bad))
PY
standin mixed --messages "$T/mixed"
nbad=$(wc -l <"$H/recvbad.ndjson")
for i in $(seq 1 "$nbad"); do
	good=$(sed -n "$((2 * i - 1))p" "$T/mixed")
	echo $((2 * i - 1)) >"$T/state"
	timeout 30 flespi-recv --url "$URL" $RECV --limit-count 1 --retries 2 \
	    --state "$T/state" 1 >"$T/out" 2>"$T/err"
	rc=$?
	what=$(sed -n "$((2 * i))p" "$T/mixed" | tr -d '\n' | head -c 40 | tr -c '[:print:]' '?')
	if [ $rc -eq 75 ] && [ "$(cat "$T/out")" = "$good" ] &&
	    [ "$(cat "$T/state")" = $((2 * i)) ] &&
	    grep -q '^flespi-recv: .*not JSON\|^flespi-recv: .*JSON' "$T/err"; then
		ok "bad message $i ($what): refused, retried, gave up with 75; good one before it exact; key stops at it"
	else
		notok "bad message $i ($what)" "rc $rc, state $(cat "$T/state")" \
		    "out: $(head -c 200 "$T/out")" "$(head -3 "$T/err")"
	fi
done

# The whole mix in one answer: refused as a whole, nothing written.
timeout 30 flespi-recv --url "$URL" $RECV --retries 1 1 >"$T/out" 2>"$T/err"
rc=$?
check "whole mixed answer: exit 75, rc $rc" [ $rc -eq 75 ]
check "... nothing half written" [ ! -s "$T/out" ]

# A message bigger than --limit-size + 1 MiB: its answer is oversized,
# retried as a temporary fault and given up with 75; the message before
# it comes out exactly and the key stops at it.
python3 -c '
import sys
w = sys.stdout.write
w("{\"ident\":\"g\",\"timestamp\":1,\"seq\":1}\n")
w("{\"ident\":\"g\",\"timestamp\":1,\"s\":\"" + "x" * (1200 << 10) + "\"}\n")
' >"$T/big"
standin big --messages "$T/big"
echo 0 >"$T/state"
timeout 30 flespi-recv --url "$URL" $RECV --limit-size 1024 --retries 2 \
    --state "$T/state" 1 >"$T/out" 2>"$T/err"
rc=$?
check "oversized message: exit 75, rc $rc" [ $rc -eq 75 ]
check "... the one before it written exactly" \
    [ "$(cat "$T/out")" = '{"ident":"g","timestamp":1,"seq":1}' ]
check "... key stops at it" [ "$(cat "$T/state")" = 2 ]

# An empty buffer: --once exits 0 with no output.
standin empty
timeout 30 flespi-recv --url "$URL" $RECV 1 >"$T/out" 2>"$T/err"
rc=$?
check "empty channel: exit 0 ($rc), no output" all [ $rc -eq 0 ] -- [ ! -s "$T/out" ]
finish
