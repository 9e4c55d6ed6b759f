#!/usr/bin/env bash
# flespi-recv --mqtt persistent sessions: messages published while the
# consumer is stopped arrive when it returns; a consumer killed (SIGKILL)
# after receiving a message but before writing its line gets it again
# (the PUBACK had not left), MQTT 5 and 3.1.1.
source "$(dirname "$0")/lib.sh"
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=goodtoken
TOPIC=flespi/message/gw/channels/7/352625066004561

mq_start "$T/mq" || { notok "broker starts"; finish; exit 1; }

# Stopped consumer: 10,000 published meanwhile all arrive, in order.
"${RECV[@]}" -v --session s1 7 >"$T/got1" 2>"$T/err1" &
pid=$!
wait_for 10 mq_subscribed "$T/err1" || notok "consumer subscribes"
kill -TERM $pid; mq_wait $pid
check "first run stopped by SIGTERM: exit 0" test $? -eq 0
python3 "$TESTS/genmsgs.py" 10000 >"$T/msgs"
mq_pub "$TOPIC" <"$T/msgs"
check "publisher done while the consumer is away" test $? -eq 0
timeout 60 "${RECV[@]}" -v --session s1 -n 10000 7 >"$T/got2" 2>"$T/err2"
check "restart with the same --session: exit 0" test $? -eq 0
diff_ok "all 10,000 queued messages arrive, in order" "$T/msgs" "$T/got2"
check "the broker kept the session" grep -q 'session present' "$T/err2"

# A new consumer without --session gets nothing of what came before.
"${RECV[@]}" -v 7 >"$T/got3" 2>"$T/err3" &
pid=$!
wait_for 10 mq_subscribed "$T/err3"
echo '{"late":1}' | mq_pub "$TOPIC"
wait_for 10 test -s "$T/got3"
kill -TERM $pid; mq_wait $pid
check "clean session: only what is published after subscribing" \
    test "$(cat "$T/got3")" = '{"late":1}'

# The broker goes away and comes back: reconnect (with backoff), subscribe
# again, carry on.
: >"$T/r1"; : >"$T/rerr1"
"${RECV[@]}" -v --session r1 7 >"$T/r1" 2>"$T/rerr1" &
pid=$!
wait_for 10 mq_subscribed "$T/rerr1"
echo '{"before":1}' | mq_pub "$TOPIC"
wait_for 10 mq_lines_ge 1 "$T/r1"
mq_restart || notok "broker restarts"
wait_for 10 mq_subscribed "$T/rerr1" 2 || notok "consumer subscribes again"
echo '{"after":1}' | mq_pub "$TOPIC"
wait_for 10 mq_lines_ge 2 "$T/r1"
kill -TERM $pid; mq_wait $pid; rc=$?
printf '%s\n' '{"before":1}' '{"after":1}' >"$T/want"
diff_ok "broker restart: reconnected and carried on" "$T/want" "$T/r1"
check "... exit 0 on SIGTERM afterwards" test $rc -eq 0
check "... the lost connection was reported with its retry delay" \
    grep -q '; retry [0-9]* in [0-9]* ms' "$T/rerr1"

# -n stops after COUNT lines; what arrived beyond it is not acknowledged
# and comes again in the same session.
"${RECV[@]}" -v --session n1 -n 3 7 >"$T/n1" 2>"$T/nerr1" &
pid=$!
wait_for 10 mq_subscribed "$T/nerr1"
seq 1 200 | sed 's/.*/{"n":&}/' >"$T/nums"
mq_pub "$TOPIC" <"$T/nums"
mq_wait $pid; rc=$?
check "-n 3: exit 0 after 3 lines" test $rc -eq 0 -a "$(wc -l <"$T/n1")" -eq 3
"${RECV[@]}" -v --session n1 7 >"$T/n2" 2>"$T/nerr2" &
pid=$!
wait_for 10 grep -q '"n":200}' "$T/n2"
kill -TERM $pid; mq_wait $pid
sort -u "$T/n1" "$T/n2" | sort -t: -k2 -n >"$T/union"
diff_ok "-n 3 then the same session: nothing lost" "$T/nums" "$T/union"

# kill -9 between receive and write: redelivered on reconnect.
killtest() {	# killtest VERSION SESSION
	local v=$1 s=$2 pid rc
	: >"$T/k1"; : >"$T/kerr1"; : >"$T/k2"; : >"$T/kerr2"; rm -f "$T/krc"
	# In a subshell that reports the status, so bash prints no "Killed".
	(FLESPI_RECV_TEST_KILL_BEFORE_LINE=50 "${RECV[@]}" -v \
	    --mqtt-version "$v" --session "$s" 7 >"$T/k1" 2>"$T/kerr1"
	    echo $? >"$T/krc") 2>/dev/null &
	pid=$!
	wait_for 10 mq_subscribed "$T/kerr1" || notok "$v: consumer subscribes"
	seq 1 100 | sed 's/.*/{"n":&}/' >"$T/nums"
	mq_pub "$TOPIC" <"$T/nums"
	mq_wait $pid; rc=$(cat "$T/krc")
	check "MQTT $v: test hook kills the consumer (SIGKILL)" test $rc -eq 137
	check "MQTT $v: 49 lines written before the kill" \
	    test "$(wc -l <"$T/k1")" -eq 49
	"${RECV[@]}" -v --mqtt-version "$v" --session "$s" 7 >"$T/k2" \
	    2>"$T/kerr2" &
	pid=$!
	wait_for 10 grep -q '"n":100}' "$T/k2"
	kill -TERM $pid; mq_wait $pid
	check "MQTT $v: message 50 redelivered after the restart" \
	    grep -qx '{"n":50}' "$T/k2"
	# Together: every message, the second run an increasing run of
	# them (repeats of lines before 50 allowed: at-least-once).
	sort -u "$T/k1" "$T/k2" | sort -t: -k2 -n >"$T/union"
	sort -t: -k2 -n "$T/nums" >"$T/numsorted"
	diff_ok "MQTT $v: nothing lost across the kill" "$T/numsorted" "$T/union"
	check "MQTT $v: the second run is in order" \
	    bash -c "sort -t: -k2 -n -c '$T/k2'"
}
killtest 5 k5
killtest 3.1.1 k3

mq_stop
finish
