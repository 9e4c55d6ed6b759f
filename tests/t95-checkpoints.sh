#!/usr/bin/env bash
# flespi-to-wialon --state: a checkpoint line's key is saved only when
# every message line before it is done (acknowledged, or written to the
# failed file).  Input: 300 messages, a checkpoint after every 10th
# (key 1000 + messages before it); the receiver acknowledges 109 and
# stalls.  Found by the forwarder-core mutants (tests/mutants/c*).
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

python3 -c '
import sys
w = sys.stdout.write
for i in range(300):
    w("{\"ident\":\"d%d\",\"timestamp\":1700000000,\"seq\":%d}\n" % (i % 3, i))
    if i % 10 == 9:
        w("{\"@checkpoint\":\"%d\"}\n" % (1000 + i + 1))
' >"$T/in"
grep -v checkpoint "$T/in" >"$T/msgs"

# run NAME [options]: deliver $T/in to a receiver stalling after 109,
# SIGTERM once it has them, no drain; leaves $T/NAME.{out,err,key}.
run() {
	local n=$1; shift
	start_recv "$n" --stall-after 109
	$F2W --ack-timeout 60 --drain-timeout 0 --state "$T/$n.key" "$@" \
	    "127.0.0.1:$port" <"$T/in" 2>"$T/$n.err" &
	fpid=$!
	wait_for 10 has_lines "$T/$n.out" 109 ||
	    notok "$n: the receiver did not get 109 packets in time"
	# The acks are on their way: give them a moment to be read.
	wait_for 2 test "$(cat "$T/$n.key" 2>/dev/null)" = 1100
	kill -TERM $fpid
	wait $fpid
	rc=$?
	kill $rpid
}

# No --failed: what is undelivered is lost, so the key stays at the last
# checkpoint with all 100 messages before it acknowledged.
run lost
check "no --failed: exit 75 ($rc)" test $rc = 75
check "no --failed: key 1100, not past the 109 acknowledged ($(cat "$T/lost.key" 2>/dev/null))" \
    test "$(cat "$T/lost.key" 2>/dev/null)" = 1100

# With --failed: the undelivered lines and the rest of the input are in
# the file, so every checkpoint is reached, the last one included.
run failed --failed "$T/failed.lines"
check "--failed: exit 75 ($rc)" test $rc = 75
check "--failed: the last key, 1300, saved ($(cat "$T/failed.key" 2>/dev/null))" \
    test "$(cat "$T/failed.key" 2>/dev/null)" = 1300
head -n 109 "$T/msgs" | cat - "$T/failed.lines" >"$T/failed.all"
diff_ok "--failed: acknowledged + failed = every message, in order" \
    "$T/msgs" "$T/failed.all"

# The same with a small window: the core holds fewer lines than the input
# has, so at the stop most of it is still unread; read then into --failed,
# its checkpoints are reached too.
run small --window 20 --failed "$T/small.lines"
check "--window 20 --failed: exit 75 ($rc)" test $rc = 75
check "--window 20 --failed: the last key, 1300, saved ($(cat "$T/small.key" 2>/dev/null))" \
    test "$(cat "$T/small.key" 2>/dev/null)" = 1300
head -n 109 "$T/msgs" | cat - "$T/small.lines" >"$T/small.all"
diff_ok "--window 20 --failed: acknowledged + failed = every message" \
    "$T/msgs" "$T/small.all"
finish
