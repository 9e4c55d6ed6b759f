#!/usr/bin/env bash
# flespi-to-wialon: bad lines between good ones, --strict, SIGTERM with
# --failed (and its replay), SIGTERM with a producer that stops too, and
# back-pressure while the receiver is stalled.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

# seqs FILE: the seq of every record, one per line.


# --- bad lines between good ones: diagnosed, skipped, the rest delivered
msgs 1000 3 | awk '{ print } NR % 100 == 0 { print "garbage " NR }' >"$T/mixed.json"
start_recv mixed
$F2W --failed "$T/mixed.failed" --rejected "$T/mixed.rejected" "127.0.0.1:$port" <"$T/mixed.json" 2>"$T/mixed.err"
rc=$?
check "bad lines: exit 65 ($rc)" test $rc = 65
check "bad lines: all 1000 good ones delivered" test "$(lines "$T/mixed.out")" = 1000
seqs "$T/mixed.out" >"$T/mixed.seqs"
seq 0 999 >"$T/all1000"
diff_ok "bad lines: good ones in order" "$T/all1000" "$T/mixed.seqs"
awk '/^garbage/ { print NR }' "$T/mixed.json" >"$T/mixed.badno"
sed -n 's/^flespi-to-wialon: <stdin>:\([0-9]*\): not JSON.*/\1/p' "$T/mixed.err" >"$T/mixed.gotno"
diff_ok "bad lines: diagnosed with their line numbers" "$T/mixed.badno" "$T/mixed.gotno"
grep '^garbage' "$T/mixed.json" >"$T/mixed.badlines"
diff_ok "bad lines: copied to --rejected" "$T/mixed.badlines" "$T/mixed.rejected"
check "bad lines: --failed stays empty (all good ones delivered)" test ! -s "$T/mixed.failed"
kill $rpid

# --- --strict: stop at the first bad line, deliver what came before
start_recv strict
$F2W --strict "127.0.0.1:$port" <"$T/mixed.json" 2>"$T/strict.err"
rc=$?
check "--strict: exit 65 ($rc)" test $rc = 65
check "--strict: the 100 lines before the bad one delivered, no more" \
    test "$(lines "$T/strict.out")" = 100
check "--strict: one diagnostic, line 101" \
    test "$(cat "$T/strict.err")" = "flespi-to-wialon: <stdin>:101: not JSON: '[' or '{' expected near 'garbage' at column 7"
kill $rpid

# --- SIGTERM while the receiver is stalled: delivered + failed = input,
# and the failed file replays
msgs 5000 4 >"$T/term.json"
start_recv term --stall-after 1000
$F2W --ack-timeout 60 --drain-timeout 0.5 --failed "$T/term.failed" \
    "127.0.0.1:$port" <"$T/term.json" 2>"$T/term.err" &
fpid=$!
wait_for 10 has_lines "$T/term.out" 1000 ||
    notok "term: the receiver did not get 1000 packets in time"
kill -TERM $fpid
wait $fpid
rc=$?
check "SIGTERM, receiver stalled: exit 75 ($rc)" test $rc = 75
check "SIGTERM: undelivered count reported" grep -q '4000 messages undelivered' "$T/term.err"
seqs "$T/term.out" >"$T/term.seqs"
seq 0 999 >"$T/term.want"
diff_ok "SIGTERM: the receiver has exactly the acknowledged 1000" "$T/term.want" "$T/term.seqs"
head -n 1000 "$T/term.json" | cat - "$T/term.failed" >"$T/term.all"
diff_ok "SIGTERM: acknowledged + --failed = the whole input, in order" "$T/term.json" "$T/term.all"
kill $rpid
start_recv replay
$F2W "127.0.0.1:$port" <"$T/term.failed" 2>"$T/replay.err"
check "replay of --failed: exit 0" test $? = 0
seqs "$T/replay.out" >"$T/replay.seqs"
seq 1000 4999 >"$T/replay.want"
diff_ok "replay of --failed: delivers the other 4000" "$T/replay.want" "$T/replay.seqs"
# The cron recipe of the man page: nothing to do without the file; with
# it, delivered and removed.
replay() {
	local f=$1
	[ ! -s $f ] || { mv $f $f.replay &&
	    $F2W --failed $f --rejected "$T/rejected" "127.0.0.1:$port" <$f.replay &&
	    rm $f.replay; }
}
replay "$T/none.ndjson" 2>"$T/cron0.err"
check "cron replay, no file: exit 0, silent" test $? = 0 -a ! -s "$T/cron0.err"
: >"$T/empty.ndjson"
replay "$T/empty.ndjson"
check "cron replay, empty file: nothing to do, exit 0" test $? = 0 -a ! -e "$T/empty.ndjson.replay"
cp "$T/term.failed" "$T/cron.ndjson"
replay "$T/cron.ndjson" 2>"$T/cron1.err"
check "cron replay: exit 0, the file empty, the copy gone" \
    test $? = 0 -a ! -s "$T/cron.ndjson" -a ! -e "$T/cron.ndjson.replay"
check "cron replay: the 4000 delivered again" test "$(lines "$T/replay.out")" = 8000
kill $rpid

# --- SIGTERM to a pipeline: the producer stops too, everything it wrote
# is delivered, exit 0
start_recv pipe
mkfifo "$T/fifo"
# The producer, like flespi-recv, writes out the batch it holds when told
# to stop (200 lines), then says how many lines it wrote in all.
python3 -c '
import signal, sys, time
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
i = 0
def line():
    global i
    sys.stdout.write("{\"ident\":\"d%d\",\"timestamp\":1700000000,\"seq\":%d}\n" % (i % 3, i))
    sys.stdout.flush()
    i += 1
while not stop:
    line()
    if i % 20 == 0:
        time.sleep(0.002)
for _ in range(200):
    line()
open(sys.argv[1], "w").write("%d\n" % i)
' "$T/pipe.count" >"$T/fifo" &
ppid=$!
$F2W "127.0.0.1:$port" <"$T/fifo" 2>"$T/pipe.err" &
fpid=$!
wait_for 10 has_lines "$T/pipe.out" 500 ||
    notok "pipe: the receiver did not get 500 packets in time"
kill -TERM $ppid 2>/dev/null || echo "# note: the producer had already exited"
kill -TERM $fpid 2>/dev/null || echo "# note: flespi-to-wialon had already exited"
wait $fpid
rc=$?
check "SIGTERM to the pipeline: exit 0 ($rc)" test $rc = 0
seqs "$T/pipe.out" >"$T/pipe.seqs"
wait $ppid
n=$(cat "$T/pipe.count" 2>/dev/null) || notok "pipe: the producer did not say how many lines it wrote"
seq 0 $((${n:-0} - 1)) >"$T/pipe.want"
diff_ok "SIGTERM to the pipeline: all $n lines written were delivered, in order" \
    "$T/pipe.want" "$T/pipe.seqs"
kill $rpid

# --- back-pressure: a stalled receiver stops the reading of stdin
python3 "$TESTS/genmsgs.py" 20000 >"$T/bp.json"
size=$(wc -c <"$T/bp.json")
start_recv bp --stall-after 100
$F2W --ack-timeout 60 --drain-timeout 0 "127.0.0.1:$port" <"$T/bp.json" 2>"$T/bp.err" &
fpid=$!
wait_for 10 has_lines "$T/bp.out" 100 ||
    notok "bp: the receiver did not get 100 packets in time"
pos() { awk '/^pos:/ { print $2 }' /proc/$fpid/fdinfo/0; }
# Reading stops once the window and the line buffer are full: the offset
# must settle and then stay put.
p2=$(pos)
for i in 1 2 3 4 5 6 7 8 9 10; do
	p1=$p2; sleep 0.3; p2=$(pos)
	[ "$p1" = "$p2" ] && break
done
rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$fpid/status)
check "back-pressure: stdin not read on ($p1 -> $p2 bytes of $size)" \
    test "$p1" = "$p2" -a "$p2" -lt 1048576
check "back-pressure: resident memory $rss kB < 16 MiB" test "$rss" -lt 16384
kill -TERM $fpid
wait $fpid
check "back-pressure: SIGTERM with drain 0: exit 75" test $? = 75
kill $rpid
finish
