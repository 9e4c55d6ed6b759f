#!/usr/bin/env bash
# The periodic stats line for logs (health.c): every --stats-interval
# SECS when stderr is not a terminal, one complete "PROG: stats: KEY=VALUE
# ..." line with the counts since the start and the rate; none by default
# into a pipe (cron mails every line) or with -q or 0; SIGUSR1 prints one
# at once, in every tool, and disturbs nothing else; bad values exit 64.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token
LINE='^flespi-to-wialon: stats: up=[0-9]+s read=[0-9]+ delivered=[0-9]+ failed=0 rejected=0 rate=[0-9]+\.[0-9]/s'
slow() { local i; for i in $(seq "$1"); do msgs 1 1; sleep 0.5; done; }

# ---- every second into a file: lines that add up
slow 7 | flespi-to-wialon --dump --stats-interval 1 >/dev/null 2>"$T/f.err"
rc=$?
n=$(grep -c -E "$LINE" "$T/f.err")
check "--stats-interval 1 into a file: exit 0 ($rc), 2 or more lines ($n)" \
    test $rc = 0 -a "$n" -ge 2
check "... every line of stderr is one ($(wc -l <"$T/f.err") lines)" \
    test "$(grep -c -v -E "$LINE" "$T/f.err")" = 0
check "... the counts grow: the last says read=N delivered=N with N of 1..7" \
    grep -q -E 'read=([1-7]) delivered=\1 ' <(tail -1 "$T/f.err")
sed 's/^/#   /' "$T/f.err" | head -3
# ... and into a pipe when asked for
slow 4 | flespi-to-wialon --dump --stats-interval 1 2>&1 >/dev/null | cat >"$T/p.err"
check "--stats-interval 1 into a pipe: lines too" grep -q -E "$LINE" "$T/p.err"

# ---- by default: none into a pipe (cron), none with -q or 0
slow 5 | flespi-to-wialon --dump 2>&1 >/dev/null | cat >"$T/d.err"
check "no option, stderr a pipe (cron): no line in 2.5 s" test ! -s "$T/d.err"
slow 5 | flespi-to-wialon --dump -q 2>"$T/q.err" >/dev/null
check "-q, stderr a file: no line" test ! -s "$T/q.err"

# ---- SIGUSR1: one line at once, whatever the interval
mkfifo "$T/fifo"
flespi-to-wialon --dump --stats-interval 0 <"$T/fifo" >/dev/null 2>"$T/u.err" &
pid=$!
exec 3>"$T/fifo"
msgs 3 1 >&3
sleep 0.3
t0=$(date +%s%N)
kill -USR1 $pid
wait_for 3 grep -q 'stats:' "$T/u.err"
check "forwarder, --stats-interval 0, SIGUSR1: a line at once ($(ms_since $t0) ms)" \
    grep -q -E '^flespi-to-wialon: stats: up=[0-9]+s read=3 delivered=3 ' "$T/u.err"
kill -USR1 $pid
wait_for 3 test "$(grep -c stats: "$T/u.err")" -ge 2
exec 3>&-
wait $pid
rc=$?
check "... twice, two lines; the run ends 0 ($rc)" \
    test "$(grep -c stats: "$T/u.err")" = 2 -a $rc = 0

standin idle --messages /dev/null
flespi-recv --url "$URL" --timeout 20 1 >/dev/null 2>"$T/r.err" &
pid=$!
sleep 1.5		# in its long poll now
t0=$(date +%s%N)
kill -USR1 $pid
wait_for 5 grep -q 'stats:' "$T/r.err"
ms=$(ms_since $t0)
check "flespi-recv in a long poll, SIGUSR1: a line within 2 s ($ms ms)" \
    all grep -q -E '^flespi-recv: stats: up=[0-9]+s read=0 delivered=0 failed=0 rejected=0 rate=0\.0/s' "$T/r.err" -- \
    test "$ms" -lt 2000
kill -TERM $pid
wait $pid
check "... and SIGTERM still ends it with 0 ($?)" true

# ---- SIGUSR1 in the middle of delivery changes nothing else
N=20000
msgs $N 5 >"$T/big"
start_recv w
flespi-to-wialon "127.0.0.1:$port" <"$T/big" 2>"$T/big.err" &
pid=$!
# Once it runs (its handlers are installed before it reads): the first
# messages are at the receiver.
wait_for 20 has_lines "$T/w.out" 1
for i in $(seq 20); do kill -USR1 $pid 2>/dev/null; sleep 0.02; done
wait $pid
rc=$?
wait_for 10 has_lines "$T/w.out" $N
check "20 x SIGUSR1 during delivery: exit 0 ($rc), all $N delivered ($(wc -l <"$T/w.out"))" \
    test $rc = 0 -a "$(wc -l <"$T/w.out")" = $N
check "... only stats lines on stderr" \
    test "$(grep -c -v -E '^flespi-to-wialon: stats: up=' "$T/big.err")" = 0

# ---- bad values
for v in 0.5 x -1 86401; do
	flespi-to-wialon --dump --stats-interval "$v" </dev/null >/dev/null 2>"$T/bad.err"
	rc=$?
	check "--stats-interval $v: exit 64 ($rc), named" \
	    all test $rc = 64 -- grep -qF "stats-interval: '$v'" "$T/bad.err"
done
flespi-recv --stats-interval 0.2 1 >/dev/null 2>&1
check "flespi-recv --stats-interval 0.2: exit 64" test $? = 64
finish
