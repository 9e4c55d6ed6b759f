#!/usr/bin/env bash
# The README's replay of --failed, taken from the README as written, is
# safe while the service appends to the file (issue 20, section 3): a
# service whose peer is down runs again and again, each run appending
# the lines it reads to --failed over about a second, while the recipe
# runs in a loop whenever the file holds something, into a live
# receiver.  Every line the service took ends at the receiver, in the
# failed file or in the copy being replayed: none lost.  A copy that a
# replay could not finish is replayed first, never overwritten.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"
cd "$TESTS/.."

RP=$(readme_block 'f=/var/lib/flespi-pipe/1234.failed' 'rm $f.replay ;; esac; }')
check "the README's replay recipe found, with flock" \
    all test -n "$RP" -- grep -q 'flock \$f mv \$f \$f.replay' <<<"$RP"
mkdir -p "$T/lib"
RP=${RP//\/var\/lib\/flespi-pipe\//$T/lib/}
start_recv rp
RP=${RP//wialon.example.com:20163/127.0.0.1:$port}
F=$T/lib/1234.failed
replay() { /bin/bash -c "$RP" 2>>"$T/replay.err"; }

# allseqs FILE...: the seq of every message line in the files (or of
# every receiver record), sorted.
allseqs() {
	python3 -c '
import json, sys
for f in sys.argv[1:]:
    try:
        lines = open(f).read().split("\n")
    except FileNotFoundError:
        continue
    for l in lines:
        if not l:
            continue
        o = json.loads(l)
        if "params" in o:
            print([p[2] for p in o["params"] if p[0] == "seq"][0])
        else:
            print(o["seq"])
' "$@" | sort -n
}

# slice FIRST N: N messages from seq FIRST, one every 8 ms.
slice() {
	python3 -c '
import sys, time
a, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(a, a + n):
    sys.stdout.write("{\"ident\":\"d%d\",\"timestamp\":1700000000,\"seq\":%d}\n" % (i % 3, i))
    sys.stdout.flush()
    time.sleep(0.008)
' "$1" "$2"
}

# --- the service: 12 runs back to back, 100 lines each, its peer down;
# each gives up at once and appends what it reads, over about a second
ROUNDS=12 PER=100
(
	for r in $(seq 0 $((ROUNDS - 1))); do
		slice $((r * PER)) $PER |
		    flespi-to-wialon -v --retries 0 --failed "$F" 127.0.0.1:1 \
		    2>>"$T/svc.err" &
		echo $! >"$T/svc.pid"
		wait $!
		echo $? >>"$T/svc.rcs"
	done
	touch "$T/svc.done"
) &
svc=$!
# --- meanwhile the recipe, whenever the file holds something and the
# running service has it open (so that it must notice the move)
holds() {
	local p
	p=$(cat "$T/svc.pid" 2>/dev/null) && [ -n "$p" ] &&
	    ls -l "/proc/$p/fd" 2>/dev/null | grep -q -- "-> $F\$"
}
due() { [ -e "$T/svc.done" ] || { [ -s "$F" ] && holds; }; }
replays=0
while [ ! -e "$T/svc.done" ]; do
	wait_for 10 due || break
	[ -e "$T/svc.done" ] && break
	replay
	replays=$((replays + 1))
done
wait $svc
replay
replay
seq 0 $((ROUNDS * PER - 1)) >"$T/want"
check "the service's runs each gave up and read their input to its end (exit 75)" \
    test "$(sort -u "$T/svc.rcs")" = 75 -a "$(lines "$T/svc.rcs")" = $ROUNDS -a \
    "$(grep -c 'stopped reading' "$T/svc.err")" = 0
check "... and wrote every line to --failed ($(grep -o '[0-9]* messages undelivered, written' "$T/svc.err" | awk '{ n += $1 } END { print n + 0 }'))" \
    test "$(grep -o '[0-9]* messages undelivered, written' "$T/svc.err" | awk '{ n += $1 } END { print n + 0 }')" = $((ROUNDS * PER))
moved=$(grep -c "failed file '$F' was moved away" "$T/svc.err")
check "the recipe ran $replays times while a run of the service held the file, which each noticed ($moved; at least 3)" \
    test $moved -ge 3 -a $moved = $replays
allseqs "$T/rp.out" "$F" "$F.replay" | sort -n -u >"$T/got"
missing=$(comm -23 "$T/want" "$T/got" | wc -l)
check "every line delivered, in the failed file or being replayed: $missing of $((ROUNDS * PER)) lost" \
    test "$missing" = 0
allseqs "$T/rp.out" | sort -n -u >"$T/delivered"
diff_ok "after the last replays: every line delivered" "$T/want" "$T/delivered"
check "... the failed file empty, no copy left" \
    all test ! -s "$F" -- test ! -e "$F.replay"
check "... the replays said nothing" test ! -s "$T/replay.err"
sed 's/^/#   /' "$T/replay.err" | head -5

# --- a copy left by a replay that could not finish is replayed first,
# not overwritten by the next move
slice 5000 3 >"$F.replay"
slice 6000 2 >"$F"
: >"$T/rp.out"
replay
check "a copy left over: replayed first (3 delivered), the file left for the next run" \
    all test "$(lines "$T/rp.out")" = 3 -- test ! -e "$F.replay" -- \
    test "$(lines "$F")" = 2
replay
check "... which then replays the file (5 delivered in all)" \
    all test "$(lines "$T/rp.out")" = 5 -- test ! -s "$F" -- test ! -e "$F.replay"
kill $rpid
finish
