#!/usr/bin/env bash
# A cut-off last line is not a bad line (issue 20, section 7): a last
# line without its newline that does not parse (its writer was killed in
# the middle of it) is said once, not rejected, not copied to --rejected,
# not counted, no reason for exit 65; one that parses is a message like
# any other.  SIGTERM to a forwarder whose input stays open (a quiet
# channel) ends 75: it stopped before its input did.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token
FRAG='{"ident":"a","timestamp":17000'

# --- an unterminated last line that does not parse: cut off
start_recv cut
{ msgs 3 1; printf '%s' "$FRAG"; } >"$T/cut.in"
flespi-to-wialon -v --rejected "$T/cut.rej" "127.0.0.1:$port" <"$T/cut.in" \
    2>"$T/cut.err"
rc=$?
check "a cut-off last line: exit 0 ($rc), not 65" test $rc = 0
check "... not in --rejected" test ! -s "$T/cut.rej"
check "... said once, with its line number" \
    test "$(grep -c "^flespi-to-wialon: <stdin>:4: cut off: the input ended inside this line (${#FRAG} bytes without a newline): not rejected" "$T/cut.err")" = 1
check "... not counted: 3 delivered, 0 rejected" \
    grep -q '3 delivered, 0 failed, 0 rejected' "$T/cut.err"
check "... the 3 before it delivered" has_lines "$T/cut.out" 3

# --- half a checkpoint line at the end, with --state: cut off too, and
# the key before it saved
{ msgs 5 1 5; msgs 6 1 | tail -n 1; printf '{"@checkpoint":"1'; } >"$T/ck.in"
flespi-to-wialon --state "$T/ck.key" --rejected "$T/ck.rej" \
    "127.0.0.1:$port" <"$T/ck.in" 2>"$T/ck.err"
rc=$?
check "half a checkpoint line at the end: exit 0 ($rc), not rejected" \
    all test $rc = 0 -- test ! -s "$T/ck.rej" -- grep -q 'cut off' "$T/ck.err"
check "... the key before it saved (5)" test "$(cat "$T/ck.key" 2>/dev/null)" = 5

# --- unterminated last lines that parse: a message, a checkpoint
: >"$T/cut.out"
{ msgs 2 1; printf '{"ident":"z","timestamp":3}'; } |
    flespi-to-wialon "127.0.0.1:$port" 2>"$T/last.err"
rc=$?
check "a good last line without a newline: exit 0 ($rc), delivered, nothing said" \
    all test $rc = 0 -- has_lines "$T/cut.out" 3 -- test ! -s "$T/last.err"
{ msgs 2 1; printf '{"@checkpoint":"9"}'; } |
    flespi-to-wialon --state "$T/ck2.key" "127.0.0.1:$port" 2>"$T/last2.err"
rc=$?
check "a whole checkpoint line without a newline: its key saved ($rc)" \
    all test $rc = 0 -- test "$(cat "$T/ck2.key" 2>/dev/null)" = 9

# --- a long one: over --max-line and unterminated is cut off as well
{ msgs 1 1; printf '{"ident":"a","timestamp":1,"pad":"'; head -c 5000 /dev/zero | tr '\0' x; } |
    flespi-to-wialon --dump --max-line 1000 --rejected "$T/long.rej" \
    >/dev/null 2>"$T/long.err"
rc=$?
check "an unterminated last line over --max-line: exit 0 ($rc), cut off, not rejected" \
    all test $rc = 0 -- test ! -s "$T/long.rej" -- \
    grep -q '<stdin>:2: cut off: the input ended inside this line (5034 bytes' "$T/long.err"

# --- jq killed in the middle of writing (it writes in blocks, not lines):
# at most one cut-off line a round, never a rejected line, never 65
: >"$T/jq.rcs"
: >"$T/jq.rej"
msgs 200000 3 >"$T/jq.in"
for round in 1 2 3 4 5; do
	mkfifo "$T/jq.fifo.$round"
	jq -c . <"$T/jq.in" >"$T/jq.fifo.$round" &
	jpid=$!
	flespi-to-wialon --dump --rejected "$T/jq.rej" <"$T/jq.fifo.$round" \
	    >"$T/jq.out" 2>"$T/jq.err.$round" &
	fpid=$!
	wait_for 10 has_lines "$T/jq.out" $((round * 3000)) || true
	kill -KILL $jpid
	wait $jpid 2>/dev/null
	wait $fpid
	echo $? >>"$T/jq.rcs"
done
cuts=$(cat "$T/jq".err.* | grep -c 'cut off')
check "jq killed mid-write 5 times: exit 0 each ($(tr '\n' ' ' <"$T/jq.rcs"))" \
    test "$(sort -u "$T/jq.rcs")" = 0
check "... $cuts cut-off lines said (at most one a round), none rejected" \
    all test "$cuts" -le 5 -- test ! -s "$T/jq.rej" -- \
    test -z "$(cat "$T/jq".err.* | grep -v 'cut off')"
kill $rpid

# --- SIGTERM to a forwarder on a quiet channel (flespi-recv waits in a
# long poll, its output open): the drain ends with the input still open,
# so the run ends 75, not 0 or 65
msgs 10 2 >"$T/q.in"
standin q --messages "$T/q.in"
start_recv quiet
mkfifo "$T/q.fifo"
flespi-recv --url "$URL" --checkpoints --state "$T/q.key" 1 >"$T/q.fifo" \
    2>"$T/q.recv.err" &
qrecv=$!
flespi-to-wialon --drain-timeout 0.5 --state "$T/q.key" --rejected "$T/q.rej" \
    "127.0.0.1:$port" <"$T/q.fifo" 2>"$T/q.err" &
qfwd=$!
key11() { [ "$(cat "$T/q.key" 2>/dev/null)" = 11 ]; }
wait_for 10 key11 ||
    notok "quiet channel: the key after the 10 messages not saved in time"
term_wait() { kill -TERM "$1"; wait "$1"; }
timed term_wait $qfwd
check "SIGTERM on a quiet channel: exit 75 ($rc), in $ms ms (< 6000)" \
    test $rc = 75 -a $ms -lt 6000
check "... said why: the input is still open" \
    grep -q 'stopped reading the input after line 11: it is still open' "$T/q.err"
check "... nothing rejected" test ! -s "$T/q.rej"
kill $qrecv 2>/dev/null
wait $qrecv 2>/dev/null

# --- the same with a line begun and not ended in the pipe (its writer
# paused mid-line): cut off, not rejected, still 75
mkfifo "$T/p.fifo"
python3 -c '
import os, sys, time
for i in range(5):
    os.write(1, b"{\"ident\":\"p\",\"timestamp\":1,\"seq\":%d}\n" % i)
os.write(1, b"{\"ident\":\"p\",\"tim")
time.sleep(60)
' >"$T/p.fifo" &
ppid=$!
flespi-to-wialon --drain-timeout 0.5 --rejected "$T/p.rej" -v \
    "127.0.0.1:$port" <"$T/p.fifo" 2>"$T/p.err" &
pfwd=$!
wait_for 10 has_lines "$T/quiet.out" 15 ||
    notok "paused writer: the 5 lines not delivered in time"
timed term_wait $pfwd
check "SIGTERM, a line begun in the pipe: exit 75 ($rc), not 65" test $rc = 75
check "... the line cut off, said, not in --rejected" \
    all test ! -s "$T/p.rej" -- \
    grep -q '<stdin>:6: cut off: the input stayed open after stopping (17 bytes without a newline): not rejected' "$T/p.err"
kill $ppid

# --- the whole pipeline stopped, its producer ending in the middle of a
# line: the forwarder reads to the end, cuts the line off, exits 0
python3 -c '
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
for i in range(5):
    os.write(1, b"{\"ident\":\"s\",\"timestamp\":1,\"seq\":%d}\n" % i)
os.write(1, b"{\"ident\":\"s\",\"tim")
open(sys.argv[1], "w").write("%d\n" % os.getpid())
time.sleep(60)
' "$T/s.pid" | flespi-to-wialon --rejected "$T/s.rej" "127.0.0.1:$port" 2>"$T/s.err" &
sfwd=$!
wait_for 10 test -s "$T/s.pid" || notok "pipeline: the producer did not start"
wait_for 10 has_lines "$T/quiet.out" 20 || notok "pipeline: the 5 lines not delivered in time"
kill -TERM "$(cat "$T/s.pid")" $sfwd
wait $sfwd
rc=$?
check "SIGTERM to the pipeline, the producer cut off mid-line: exit 0 ($rc)" \
    all test $rc = 0 -- test ! -s "$T/s.rej" -- grep -q 'cut off' "$T/s.err"
kill $rpid
finish
