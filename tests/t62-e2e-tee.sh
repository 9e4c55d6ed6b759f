#!/usr/bin/env bash
# Fan-out, end to end: flespi-recv --checkpoints --state w.key --state
# a.key | tee >(flespi-to-aws --state a.key) | flespi-to-wialon --state
# w.key.  One process SIGKILLed at a random moment, the rest stopped, the
# pipeline started again, several times; then run to the end.  Both peers
# get every message at least once.  flespi-recv resumes from the oldest
# key, so the branch ahead sees the lag between the keys again: its
# duplicates stay within two answers plus the window per restart.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
source "$TESTS/broker.sh"
source "$TESTS/e2e.sh"
export FLESPI_TOKEN=test-token

N=10000
ANSWER=1000
ROUNDS=${E2E_ROUNDS:-5}
D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }
msgs $N 7 >"$T/in"
standin s --messages "$T/in"
start_recv w
broker_sub "$D" sub-tee 10000000 120 "$T/a.out" "tee/#" || notok "subscriber ready"
spid=$SUB_PID

# pipeline ONCE: recv > p0; tee p1 < p0 > p2; aws < p1; wialon < p2.
pipeline() {
	rm -f "$T"/p0 "$T"/p1 "$T"/p2
	mkfifo "$T/p0" "$T/p1" "$T/p2"
	flespi-recv --url "$URL" --checkpoints --state "$T/w.key" \
	    --state "$T/a.key" --limit-count $ANSWER $1 1 >"$T/p0" 2>>"$T/recv.err" &
	rpid=$!
	tee "$T/p1" <"$T/p0" >"$T/p2" &
	tpid=$!
	flespi-to-aws $(broker_aws_args "$D") --rate 0 --retry-wait 0.05 \
	    --topic "tee/{ident}" --state "$T/a.key" <"$T/p1" 2>>"$T/aws.err" &
	apid=$!
	flespi-to-wialon --state "$T/w.key" --retry-wait 0.05 \
	    "127.0.0.1:$port" <"$T/p2" 2>>"$T/wialon.err" &
	wpid=$!
}


run() {
	local i victim kills=""
	for i in $(seq $ROUNDS); do
		pipeline ""
		e2e_pause 0.1
		case $((RANDOM % 4)) in
		0) victim=$rpid; kills="$kills recv" ;;
		1) victim=$tpid; kills="$kills tee" ;;
		2) victim=$apid; kills="$kills aws" ;;
		3) victim=$wpid; kills="$kills wialon" ;;
		esac
		kill -KILL $victim 2>/dev/null
		sleep 0.2
		if [ $((i % 2)) = 1 ]; then e2e_stop KILL $rpid $tpid $apid $wpid; else e2e_stop TERM $rpid $tpid $apid $wpid; fi
	done
	pipeline --once
	wait $wpid
	wrc=$?
	wait $apid
	arc=$?
	wait $rpid $tpid 2>/dev/null
	KILLS=$kills
}
run 2>/dev/null
check "last run: both forwarders exit 0 (wialon $wrc, aws $arc)" test $wrc = 0 -a $arc = 0
check "both keys reached the end" test "$(cat "$T/w.key")" = $((N + 1)) -a "$(cat "$T/a.key")" = $((N + 1))
e2e_marker "$D" tee/zz-end "$T/a.out" || notok "marker arrived"
kill $spid 2>/dev/null
# A restart resumes from the older branch's key: the branch that was
# ahead gets again what lies between the two keys (the other branch's
# pipe, window and unsaved answer) on top of one answer and its window.
bound=$((ROUNDS * (3 * ANSWER + 100)))
if res=$(e2e_verify "$T/w.out" wialon $N $bound 0); then
	ok "Wialon branch, SIGKILLs ($KILLS ): every message; $res"
else
	notok "Wialon branch, SIGKILLs ($KILLS ): $res" "$(tail -3 "$T/wialon.err")"
fi
if res=$(e2e_verify "$T/a.out" mqtt $N $bound 0); then
	ok "AWS branch, SIGKILLs ($KILLS ): every message; $res"
else
	notok "AWS branch, SIGKILLs ($KILLS ): $res" "$(tail -3 "$T/aws.err")"
fi
finish
