# e2e.sh: what the end-to-end kill tests (t60, t61, t62) share.  Sourced
# after lib.sh; the pipelines themselves stay in each test.

# e2e_stop SIG PID...: send SIG to the stages still running and wait for
# them all; a stage still there after 15 s gets SIGKILL.
e2e_stop() {
	local sig=$1 p alive
	shift
	for p; do kill -"$sig" "$p" 2>/dev/null; done
	alive=""
	for p; do alive="$alive kill -0 $p 2>/dev/null ||"; done
	wait_for 15 sh -c "! ($alive false)" ||
	    { for p; do kill -KILL "$p" 2>/dev/null; done; }
	wait "$@" 2>/dev/null
}

# e2e_pause MIN: sleep MIN seconds plus a random 0 to 0.59 more, so that
# the next SIGKILL lands somewhere else in the stream.
e2e_pause() {
	sleep "$(awk -v m="$1" -v r=$RANDOM 'BEGIN { printf "%.2f", m + (r % 60) / 100 }')"
}

# e2e_marker DIR TOPIC OUT: publish a marker to the broker of DIR after
# the run; once it reaches the subscriber's OUT, everything the broker
# acknowledged before it has arrived too.
e2e_marker() {
	mosquitto_pub -h localhost -p "$BROKER_PORT" --cafile "$1/ca.pem" \
	    --cert "$1/client.pem" --key "$1/client.key" -q 1 -t "$2" -m end
	wait_for 20 grep -q "^$2 end" "$3"
}

# e2e_verify OUT KIND N BOUND FILTERED: the receiver's record OUT (KIND
# wialon: wialon_receiver.py's JSON lines; mqtt: "topic payload" lines)
# holds every seq below N at least once (FILTERED=1: except those the jq
# filter drops, seq % 10 == 9), nothing else, and at most BOUND
# duplicates.  Prints the figures; the status says whether they hold.
e2e_verify() {
	python3 - "$@" <<'PY'
import json, sys
out, kind, n, bound, filtered = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
want = set(i for i in range(n) if not (filtered and i % 10 == 9))
seen, dup = set(), 0
for line in open(out):
    if kind == "wialon":
        s = [p[2] for p in json.loads(line)["params"] if p[0] == "seq"][0]
    else:
        topic, payload = line.rstrip("\n").split(" ", 1)
        if topic.endswith("/zz-end"):
            continue
        s = json.loads(payload)["seq"]
    if s in seen:
        dup += 1
    seen.add(s)
missing = len(want - seen)
extra = len(seen - want)
print("%d distinct of %d, missing %d, unexpected %d, duplicates %d (bound %d)"
      % (len(seen), len(want), missing, extra, dup, bound))
sys.exit(0 if missing == 0 and extra == 0 and dup <= bound else 1)
PY
}

# e2e_pipeline NAME FILTERED ONCE: flespi-recv --checkpoints --state
# NAME.key | jq (FILTERED=1: drops seq % 10 == 9) or cat | the test's own
# e2e_forwarder NAME, joined by FIFOs; ONCE is "" or --once.  Sets rpid,
# jpid and fpid.  e2e_forwarder must exec the forwarder: a function run in
# the background is a subshell, and fpid has to be the forwarder itself
# (a SIGKILL of the subshell would leave it running, holding --state).
# Needs URL (standin.sh) and ANSWER (messages an answer).
e2e_pipeline() {
	local n=$1 filtered=$2 once=$3
	rm -f "$T/p1" "$T/p2"
	mkfifo "$T/p1" "$T/p2"
	flespi-recv --url "$URL" --checkpoints --state "$T/$n.key" \
	    --limit-count "$ANSWER" $once 1 >"$T/p1" 2>>"$T/$n.recv.err" &
	rpid=$!
	if [ "$filtered" = 1 ]; then
		jq -c --unbuffered 'select(has("@checkpoint") or .seq % 10 != 9)' \
		    <"$T/p1" >"$T/p2" 2>>"$T/$n.jq.err" &
	else
		cat <"$T/p1" >"$T/p2" &
	fi
	jpid=$!
	e2e_forwarder "$n" <"$T/p2" 2>>"$T/$n.fwd.err" &
	fpid=$!
}

# e2e_rounds NAME FILTERED: ROUNDS times start the pipeline, SIGKILL one
# stage at a random moment and stop the rest (SIGKILL and SIGTERM in
# turn); then run it once more with --once to the end.  Sets KILLS (who
# was killed) and RC (the last forwarder's exit status).
e2e_rounds() {
	local n=$1 filtered=$2 i victim
	KILLS=""
	for i in $(seq "$ROUNDS"); do
		e2e_pipeline "$n" "$filtered" ""
		e2e_pause 0.05
		case $((RANDOM % (filtered ? 3 : 2))) in
		0) victim=$fpid; KILLS="$KILLS fwd" ;;
		1) victim=$rpid; KILLS="$KILLS recv" ;;
		2) victim=$jpid; KILLS="$KILLS jq" ;;
		esac
		kill -KILL "$victim" 2>/dev/null
		sleep 0.2
		if [ $((i % 2)) = 1 ]; then
			e2e_stop KILL $rpid $jpid $fpid
		else
			e2e_stop TERM $rpid $jpid $fpid
		fi
	done
	e2e_pipeline "$n" "$filtered" --once
	wait $fpid
	RC=$?
	wait $rpid $jpid 2>/dev/null
}

# e2e_judge NAME KIND FILTERED: after e2e_rounds, the last run ended with
# 0, the key reached the end (N + 1), and the receiver's record (KIND as
# for e2e_verify) holds every message, with at most one answer plus the
# window (ANSWER + WINDOW) duplicates per round.
e2e_judge() {
	local n=$1 kind=$2 filtered=$3 res
	check "$n: the last run ends with exit 0 ($RC)" test "$RC" = 0
	check "$n: the key reached the end ($((N + 1)))" \
	    test "$(cat "$T/$n.key" 2>/dev/null)" = $((N + 1))
	if res=$(e2e_verify "$T/$n.out" "$kind" "$N" \
	    $((ROUNDS * (ANSWER + WINDOW))) "$filtered"); then
		ok "$n: $ROUNDS SIGKILLs ($KILLS ): every message at least once; $res"
	else
		notok "$n: $ROUNDS SIGKILLs ($KILLS ): $res" \
		    "$(tail -3 "$T/$n.fwd.err")"
	fi
}

# e2e_mqtt_case NAME FILTERED: e2e_rounds into the broker of $D (broker.sh)
# and e2e_judge at a subscriber to NAME/#; a marker published after the
# last run's exit tells when everything the broker acknowledged has
# arrived (t61, t66).
e2e_mqtt_case() {
	local n=$1 usejq=$2 spid
	broker_sub "$D" sub-$n 10000000 120 "$T/$n.out" "$n/#" ||
	    notok "$n: subscriber ready"
	spid=$SUB_PID
	e2e_rounds $n $usejq
	e2e_marker "$D" "$n/zz-end" "$T/$n.out" || notok "$n: marker arrived"
	kill $spid 2>/dev/null
	e2e_judge $n mqtt $usejq
	kill $rpid 2>/dev/null
}

# e2e_both: the test's one_case NAME FILTERED, plain and then through jq,
# each timed.
e2e_both() {
	local s
	s=$(date +%s)
	one_case plain 0 2>/dev/null
	echo "# plain: $(( $(date +%s) - s )) s"
	s=$(date +%s)
	one_case jq 1 2>/dev/null
	echo "# jq: $(( $(date +%s) - s )) s"
}
