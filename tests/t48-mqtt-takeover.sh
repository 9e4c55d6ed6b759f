#!/usr/bin/env bash
# Two flespi-recv --mqtt with the same --session against the real
# mosquitto broker: each connection takes the session from the other, for
# ever, unless one notices.  One of them exits 69 naming the session; the
# other keeps the session and goes on receiving; MQTT 3.1.1 and 5.  A
# single consumer whose broker restarts is not mistaken for a takeover.
source "$(dirname "$0")/lib.sh"
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=goodtoken
TOPIC=flespi/message/gw/channels/7/352625066004561

mq_start "$T/mq" || { notok "broker starts"; finish; exit 1; }

for v in 3.1.1 5; do
	"${RECV[@]}" -v --mqtt-version $v --session dup-$v 7 >"$T/a.out" \
	    2>"$T/a.err" &
	a=$!
	wait_for 10 mq_subscribed "$T/a.err" || notok "$v: first consumer subscribes"
	"${RECV[@]}" -v --mqtt-version $v --session dup-$v 7 >"$T/b.out" \
	    2>"$T/b.err" &
	b=$!
	start=$(date +%s)
	wait_for 20 eval 'mq_gone $a || mq_gone $b'
	secs=$(( $(date +%s) - start ))
	if mq_gone $a; then gone=$a; alive=$b; e=$T/a.err; o=b
	else gone=$b; alive=$a; e=$T/b.err; o=a; fi
	mq_wait $gone 1; rc=$?
	check "MQTT $v: one of two consumers of one --session exits 69 ($rc, ${secs} s)" \
	    test $rc -eq 69
	check "... naming the session and the reason" \
	    grep -q -- "--session dup-$v: taken over .*another client is using this session" "$e"
	check "... the other keeps running" kill -0 $alive
	# The survivor has the session to itself now: it gets what is published.
	n=$(grep -c 'subscribed to' "$T/$o.err")
	echo "{\"v\":\"$v\"}" | mq_pub "$TOPIC"
	if wait_for 10 grep -q "\"v\":\"$v\"" "$T/$o.out"; then
		ok "... and receives what is published"
	else
		notok "... and receives what is published" "$(tail -3 "$T/$o.err")"
	fi
	kill -TERM $alive; mq_wait $alive; rc=$?
	check "... exit 0 on SIGTERM" test $rc -eq 0
done

# One consumer, its broker restarted three times in a row: reconnects
# every time, never taken for a takeover.
"${RECV[@]}" -v --session solo 7 >"$T/s.out" 2>"$T/s.err" &
pid=$!
wait_for 10 mq_subscribed "$T/s.err" || notok "solo consumer subscribes"
for i in 2 3 4; do
	mq_restart || notok "broker restarts"
	wait_for 15 mq_subscribed "$T/s.err" $i || notok "subscribed again ($i)"
done
check "a broker restarted 3 times: the consumer carries on" kill -0 $pid
kill -TERM $pid; mq_wait $pid; rc=$?
check "... exit 0 on SIGTERM" test $rc -eq 0
if grep -q "taken over" "$T/s.err"; then notok "... no takeover reported"
else ok "... no takeover reported"; fi
finish
