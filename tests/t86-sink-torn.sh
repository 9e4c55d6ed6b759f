#!/usr/bin/env bash
# --failed and --rejected survive a crash (issue 20, section 3): a torn
# last line left by a run killed while writing is cut off at open, kept
# in FILE.torn and said, never glued to the next line; the check takes
# the file's lock, so a writer's line in progress is never taken for a
# torn one; a FIFO that nobody reads fails at once with 74 instead of
# blocking the start.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"
source "$TESTS/nginx.sh"

# whole FILE: every line of FILE is a JSON object, and FILE ends in a
# newline (or is empty).
whole() {
	python3 -c '
import json, sys
b = open(sys.argv[1], "rb").read()
if b and not b.endswith(b"\n"):
    sys.exit("no newline at the end")
for i, l in enumerate(b.split(b"\n")[:-1]):
    if not isinstance(json.loads(l), dict):
        sys.exit("line %d is not an object" % (i + 1))
' "$1"
}
FRAG='{"ident":"torn","timestamp":17000'

# --- --failed with a torn tail: the next run's lines are not glued to it
msgs 3 1 >"$T/f"
printf '%s' "$FRAG" >>"$T/f"
msgs 5 2 >"$T/five"
flespi-to-wialon --retries 0 --failed "$T/f" 127.0.0.1:1 <"$T/five" 2>"$T/f.err"
rc=$?
check "torn --failed: the run goes on, exit 75 ($rc)" test $rc = 75
{ msgs 3 1; cat "$T/five"; } >"$T/f.want"
diff_ok "torn --failed: whole lines before, the new ones after, nothing glued" \
    "$T/f.want" "$T/f"
printf '%s\n' "$FRAG" >"$T/frag.want"
diff_ok "torn --failed: the fragment kept in FILE.torn, as a line" "$T/frag.want" "$T/f.torn"
check "... FILE.torn is 0600" test "$(stat -c %a "$T/f.torn" 2>/dev/null)" = 600
check "... said on stderr, with its size and where it went" \
    grep -q "^flespi-to-wialon: failed file '$T/f': its last line was torn (${#FRAG} bytes without a newline.*moved to '$T/f.torn'" "$T/f.err"
# The replay of that file now delivers everything in it.
start_recv replay
flespi-to-wialon "127.0.0.1:$port" <"$T/f" 2>"$T/replay.err"
rc=$?
check "its replay: exit 0 ($rc), all 8 delivered, nothing rejected" \
    all test $rc = 0 -- has_lines "$T/replay.out" 8 -- test ! -s "$T/replay.err"
kill $rpid

# --- --rejected with a torn tail, and a file holding only a fragment
printf 'not json\n%s' "$FRAG" >"$T/r"
printf '%s' "$FRAG" >"$T/r2"
printf '{"ident":"a","timestamp":1}\nbad line\n' >"$T/bad"
flespi-to-wialon --dump --rejected "$T/r" <"$T/bad" >/dev/null 2>"$T/r.err"
rc=$?
printf 'not json\nbad line\n' >"$T/r.want"
check "torn --rejected: exit 65 for the bad line ($rc)" test $rc = 65
diff_ok "torn --rejected: nothing glued" "$T/r.want" "$T/r"
diff_ok "torn --rejected: the fragment in FILE.torn" "$T/frag.want" "$T/r.torn"
flespi-to-http --rejected "$T/r2" http://127.0.0.1:1/ </dev/null 2>"$T/r2.err"
check "a file of only a fragment: emptied, the fragment in FILE.torn" \
    all test ! -s "$T/r2" -- cmp -s "$T/frag.want" "$T/r2.torn"
printf 'a\n' >"$T/ok"
flespi-to-wialon --retries 0 --failed "$T/ok" 127.0.0.1:1 </dev/null 2>"$T/ok.err"
check "a whole file: left alone, no FILE.torn, nothing said of it" \
    all test "$(cat "$T/ok")" = a -- test ! -e "$T/ok.torn" -- \
    test -z "$(grep -e torn -e "$T/ok" "$T/ok.err")"

# --- the check at open takes the lock: a writer holding it in the middle
# of a line (a replay, the service) is waited for, its line kept whole
printf 'a\n' >"$T/w"
flock "$T/w" sh -c "printf '{\"ident\":\"w\",' >>'$T/w'; touch '$T/w.mid';
    sleep 1; printf '\"timestamp\":1}\n' >>'$T/w'" &
lpid=$!
wait_for 10 test -e "$T/w.mid" || notok "the writer holding the lock did not start"
flespi-to-wialon --retries 0 --failed "$T/w" 127.0.0.1:1 <"$T/five" 2>"$T/w.err"
rc=$?
wait $lpid
{ printf 'a\n{"ident":"w","timestamp":1}\n'; cat "$T/five"; } >"$T/w.want"
check "a line in progress under the lock: exit 75 ($rc), nothing cut off" \
    all test $rc = 75 -- test ! -e "$T/w.torn"
diff_ok "... it and the run's lines whole, in order" "$T/w.want" "$T/w"

# --- runs killed in the middle of writing --failed, one after another
# appending to it: each killed by the file size limit (SIGXFSZ) in the
# middle of a big line, at a different place.  Each run cuts off the
# tail the one before tore and keeps it aside: the file never holds a
# glued line.
python3 -c '
import sys
for i in range(30):
    sys.stdout.write("{\"ident\":\"k\",\"timestamp\":1,\"seq\":%d,\"pad\":\"%s\"}\n" % (i, "z" * 700000))
' >"$T/kbig"
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
for round in 1 2 3 4 5; do
	lim=$(( ($(size "$T/k") + round * 1500000) / 1024 ))
	# (bash reports the SIGXFSZ: not ours to show)
	( ulimit -f $lim; exec flespi-to-wialon --retries 0 --failed "$T/k" \
	    127.0.0.1:1 <"$T/kbig" 2>>"$T/k.err" ) 2>/dev/null
	echo "$?" >>"$T/k.rcs"
done
flespi-to-wialon --retries 0 --failed "$T/k" 127.0.0.1:1 </dev/null 2>>"$T/k.err"
torn=$(grep -c 'its last line was torn' "$T/k.err")
check "5 runs killed while writing --failed ($(tr '\n' ' ' <"$T/k.rcs")): every line in it whole ($(lines "$T/k") lines)" \
    whole "$T/k"
check "... the 5 torn tails cut off ($torn), each in FILE.torn, one a line" \
    test "$torn" = 5 -a "$(lines "$T/k.torn")" = 5

# --- a FIFO that nobody reads: exit 74 at once, said
mkfifo "$T/fifo"
for p in flespi-to-wialon flespi-to-http; do
	case $p in *wialon) to=127.0.0.1:1 ;; *) to=http://127.0.0.1:1/ ;; esac
	for o in --failed --rejected; do
		timed timeout 10 $p $o "$T/fifo" $to </dev/null 2>"$T/fifo.err"
		check "$p $o FIFO without a reader: exit 74 ($rc) in $ms ms" \
		    test $rc = 74 -a $ms -lt 5000
		check "... said why" grep -q "^$p: $o: cannot open '$T/fifo': a FIFO that no process reads" "$T/fifo.err"
	done
done
# With a reader it is written to as before.  The reader opens it without
# waiting for a writer, says so, and reads to the writer's end.
timeout 20 python3 -c '
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
open(sys.argv[2], "w").close()
out = open(sys.argv[3], "wb")
p = select.poll()
p.register(fd, select.POLLIN)
while True:
    p.poll()
    b = os.read(fd, 65536)
    if not b:
        break
    out.write(b)
' "$T/fifo" "$T/fifo.ready" "$T/fifo.out" &
cpid=$!
wait_for 10 test -e "$T/fifo.ready" || notok "the FIFO's reader did not start"
flespi-to-wialon --dump --rejected "$T/fifo" <"$T/bad" >/dev/null 2>"$T/fifo.err"
rc=$?
wait $cpid
check "--rejected FIFO with a reader: exit 65 ($rc), the bad line through it" \
    all test $rc = 65 -- test "$(cat "$T/fifo.out")" = "bad line"
finish
