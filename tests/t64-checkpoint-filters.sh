#!/usr/bin/env bash
# Checkpoints through a filter (issue 20, point 5).  The documented jq
# idiom keeps the checkpoint lines in place: every key is saved, nothing
# is said.  A filter that drops them all is said (at the end, and while
# the run goes on with --checkpoint-timeout); one that drops some is a gap,
# said once, keys still saved; one that reorders lines (jq -s sort_by) is
# caught before any key is saved: exit 65, the key file untouched, and a
# SIGKILL then loses nothing.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token

N=3000
msgs $N 7 >"$T/in"
standin s --messages "$T/in"
PRODUCE="flespi-recv --once --checkpoints --limit-count 100 --url $URL 1"
KEEP='select(has("@checkpoint") or .seq % 3 != 0)'
want_kept=$((N - N / 3))

# --- the documented idiom: checkpoints kept in place
start_recv idiom
$PRODUCE --state "$T/idiom.key" 2>/dev/null |
    jq -c --unbuffered "$KEEP" |
    $F2W --state "$T/idiom.key" "127.0.0.1:$port" 2>"$T/idiom.err"
rc=$?
check "jq idiom: exit 0 ($rc)" test $rc = 0
check "... the last key saved" test "$(cat "$T/idiom.key" 2>/dev/null)" = $((N + 1))
check "... every kept message delivered" has_lines "$T/idiom.out" $want_kept
check "... nothing said" test ! -s "$T/idiom.err"
kill $rpid; wait $rpid 2>/dev/null

# --- a filter that drops the checkpoint lines: said at the end
start_recv drop
$PRODUCE 2>/dev/null | jq -c 'select(.ident != null and .seq % 3 != 0)' |
    $F2W --state "$T/drop.key" "127.0.0.1:$port" 2>"$T/drop.err"
rc=$?
check "checkpoints dropped: exit 0 ($rc)" test $rc = 0
check "... said: no checkpoint line came, the key is not saved" \
    grep -q "no checkpoint line came with the $want_kept messages read: the key is not saved" "$T/drop.err"
check "... with the jq idiom to fix it" grep -q 'select(has("@checkpoint") or' "$T/drop.err"
kill $rpid; wait $rpid 2>/dev/null

# ... and while the run goes on, after --checkpoint-timeout
start_recv quiet
{ msgs 50 3; sleep 2; msgs 5 3; } |
    $F2W --checkpoint-timeout 1 --state "$T/quiet.key" "127.0.0.1:$port" \
    2>"$T/quiet.err"
check "no checkpoint for 1 s while messages flow: said during the run" \
    grep -q 'no checkpoint line for 1 s while 50 messages went through' "$T/quiet.err"
check "... once" test "$(grep -c 'no checkpoint line' "$T/quiet.err")" = 1
kill $rpid; wait $rpid 2>/dev/null

# --- a filter that drops some checkpoints: a gap, said once, keys saved
start_recv gap
$PRODUCE 2>/dev/null |
    jq -c --unbuffered 'select((has("@checkpoint") | not) or ((.["@checkpoint"] | tonumber) % 1000 != 501))' |
    $F2W --state "$T/gap.key" "127.0.0.1:$port" 2>"$T/gap.err"
rc=$?
check "some checkpoints dropped: exit 0 ($rc)" test $rc = 0
check "... the gap said once" \
    test "$(grep -c 'checkpoint lines between keys 401 and 501 are missing' "$T/gap.err")" = 1
check "... the last key saved" test "$(cat "$T/gap.key" 2>/dev/null)" = $((N + 1))
kill $rpid; wait $rpid 2>/dev/null

# --- a filter that reorders lines: no key saved, exit 65
start_recv sort
$PRODUCE 2>/dev/null | jq -s -c 'sort_by(.timestamp)[]' |
    $F2W --state "$T/sort.key" "127.0.0.1:$port" 2>"$T/sort.err"
rc=$?
check "jq -s sort_by: exit 65 ($rc)" test $rc = 65
check "... said: a filter reorders lines" grep -q 'a filter in the pipe reorders lines' "$T/sort.err"
check "... no key saved" test ! -e "$T/sort.key"
check "... every message still delivered" has_lines "$T/sort.out" $N
kill $rpid; wait $rpid 2>/dev/null

# ... and one that lets checkpoint lines through at once but holds the
# messages back a moment (a batching filter): the first checkpoint comes
# before its messages, so no key is saved until they are seen in place,
# and they never are.
start_recv late
$PRODUCE 2>/dev/null | python3 -c '
import sys, time
held = []
for line in sys.stdin:
    if "\"@checkpoint\"" in line:
        sys.stdout.write(line)
        sys.stdout.flush()
    else:
        held.append(line)
time.sleep(0.2)
sys.stdout.writelines(held)
' | $F2W --state "$T/late.key" "127.0.0.1:$port" 2>"$T/late.err"
rc=$?
check "checkpoints ahead of their messages: exit 65 ($rc)" test $rc = 65
check "... said: a filter reorders lines" grep -q 'a filter in the pipe reorders lines' "$T/late.err"
check "... no key saved in the moment before the messages came" test ! -e "$T/late.key"
check "... every message still delivered" has_lines "$T/late.out" $N
kill $rpid; wait $rpid 2>/dev/null

# ... and a SIGKILL while the receiver holds back acknowledgements loses
# nothing: the next run (no filter) starts from the start again.
start_recv stall --stall-after 10
$PRODUCE 2>/dev/null | jq -s -c 'sort_by(.timestamp)[]' |
    $F2W --state "$T/kill.key" "127.0.0.1:$port" 2>"$T/kill.err" &
fpid=$!
wait_for 20 grep -q 'reorders lines' "$T/kill.err"
kill -KILL $fpid 2>/dev/null; wait $fpid 2>/dev/null
check "SIGKILL after a reordering filter: no key was saved" test ! -e "$T/kill.key"
kill $rpid; wait $rpid 2>/dev/null
start_recv again
$PRODUCE --state "$T/kill.key" 2>/dev/null |
    $F2W --state "$T/kill.key" "127.0.0.1:$port" 2>/dev/null
check "... the next run delivers every message" has_lines "$T/again.out" $N
kill $rpid; wait $rpid 2>/dev/null
finish
