#!/usr/bin/env bash
# End to end, nothing lost: flespi-recv --checkpoints | [jq] |
# flespi-to-wialon --state, one stage SIGKILLed at a random moment, the
# rest stopped (SIGKILL or SIGTERM), the pipeline started again, several
# times; then run to the end.  At the real receiver: every message at
# least once, duplicates within one answer plus the window per restart.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token

N=20000
ANSWER=1000
WINDOW=64
ROUNDS=${E2E_ROUNDS:-6}
FILTER='select(has("@checkpoint") or .seq % 10 != 9)'

msgs $N 7 >"$T/in"
standin s --messages "$T/in"

# pipeline NAME JQ ONCE: start the stages joined by FIFOs; sets rpid,
# jpid (or empty) and fpid.
pipeline() {
	local n=$1 usejq=$2 once=$3
	rm -f "$T/p1" "$T/p2"
	mkfifo "$T/p1" "$T/p2"
	flespi-recv --url "$URL" --checkpoints --state "$T/$n.key" \
	    -c $ANSWER $once 1 >"$T/p1" 2>>"$T/$n.recv.err" &
	rpid=$!
	if [ "$usejq" = 1 ]; then
		jq -c --unbuffered "$FILTER" <"$T/p1" >"$T/p2" 2>>"$T/$n.jq.err" &
		jpid=$!
	else
		cat <"$T/p1" >"$T/p2" &
		jpid=$!
	fi
	flespi-to-wialon --state "$T/$n.key" -w $WINDOW --retry-wait 0.05 \
	    "127.0.0.1:$port" <"$T/p2" 2>>"$T/$n.fwd.err" &
	fpid=$!
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# stop_all SIG: the stages still running get SIG; wait for them all.
stop_all() {
	local p
	for p in $rpid $jpid $fpid; do kill -"$1" $p 2>/dev/null; done
	wait_for 15 sh -c "! kill -0 $rpid 2>/dev/null && ! kill -0 $jpid 2>/dev/null && ! kill -0 $fpid 2>/dev/null" ||
	    { for p in $rpid $jpid $fpid; do kill -KILL $p 2>/dev/null; done; }
	wait $rpid $jpid $fpid 2>/dev/null
}

verify() {
	python3 - "$T/$1.out" $N "$2" "$3" <<'EOF'
import json, sys
out, n, maxdup, usejq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
want = set(i for i in range(n) if not (usejq and i % 10 == 9))
seen, dup = set(), 0
for line in open(out):
    r = json.loads(line)
    s = [p[2] for p in r["params"] if p[0] == "seq"][0]
    if s in seen:
        dup += 1
    seen.add(s)
missing = len(want - seen)
extra = len(seen - want)
print("%d distinct of %d, missing %d, unexpected %d, duplicates %d (bound %d)"
      % (len(seen), len(want), missing, extra, dup, maxdup))
sys.exit(0 if missing == 0 and extra == 0 and dup <= maxdup else 1)
EOF
}

one_case() {
	local n=$1 usejq=$2 i victim t rc kills=""
	start_recv $n
	for i in $(seq $ROUNDS); do
		pipeline $n $usejq ""
		t=$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.05 + (r % 60) / 100 }')
		sleep "$t"
		case $((RANDOM % (usejq ? 3 : 2))) in
		0) victim=$fpid; kills="$kills fwd" ;;
		1) victim=$rpid; kills="$kills recv" ;;
		2) victim=$jpid; kills="$kills jq" ;;
		esac
		kill -KILL $victim 2>/dev/null
		sleep 0.2
		if [ $((i % 2)) = 1 ]; then stop_all KILL; else stop_all TERM; fi
	done
	pipeline $n $usejq --once
	wait $fpid
	rc=$?
	wait $rpid $jpid 2>/dev/null
	check "$n: the last run ends with exit 0 ($rc)" test $rc = 0
	check "$n: the key reached the end ($((N + 1)))" test "$(cat "$T/$n.key" 2>/dev/null)" = $((N + 1))
	if res=$(verify $n $((ROUNDS * (ANSWER + WINDOW))) $usejq); then
		ok "$n: $ROUNDS SIGKILLs ($kills ): every message at least once; $res"
	else
		notok "$n: $ROUNDS SIGKILLs ($kills ): $res" "$(tail -3 "$T/$n.fwd.err")"
	fi
	kill $rpid 2>/dev/null
}

s=$(date +%s)
one_case plain 0 2>/dev/null
echo "# plain: $(( $(date +%s) - s )) s"
s=$(date +%s)
one_case jq 1 2>/dev/null
echo "# jq: $(( $(date +%s) - s )) s"
finish
