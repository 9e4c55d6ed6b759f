#!/usr/bin/env bash
# flespi-recv --mqtt --share: two consumers in one shared-subscription
# group together receive every message exactly once (MQTT 5 and 3.1.1).
source "$(dirname "$0")/lib.sh"
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=goodtoken

mq_start "$T/mq" || { notok "broker starts"; finish; exit 1; }

sharetest() {	# sharetest VERSION
	local v=$1 a b n
	: >"$T/a"; : >"$T/b"; : >"$T/ea"; : >"$T/eb"
	"${RECV[@]}" -v --mqtt-version "$v" --share g$v 7 >"$T/a" 2>"$T/ea" &
	a=$!
	"${RECV[@]}" -v --mqtt-version "$v" --share g$v 7 >"$T/b" 2>"$T/eb" &
	b=$!
	wait_for 10 mq_subscribed "$T/ea" && wait_for 10 mq_subscribed "$T/eb" ||
	    notok "MQTT $v: both consumers subscribe"
	grep -q "subscribed to \$share/g$v/flespi/message/gw/channels/7/+" \
	    "$T/ea"
	check "MQTT $v: topic is \$share/GROUP/flespi/message/gw/channels/7/+" \
	    test $? -eq 0
	# Several devices (topics), numbered messages.
	for dev in 1 2 3 4; do
		seq 1 500 | sed "s/.*/{\"dev\":$dev,\"n\":&}/" |
		    mq_pub "flespi/message/gw/channels/7/dev$dev" &
	done
	wait_for 30 mq_lines_ge 2000 "$T/a" "$T/b"
	kill -TERM $a $b
	mq_wait $a; ra=$?
	mq_wait $b; rb=$?
	check "MQTT $v: both exit 0 on SIGTERM" test $ra -eq 0 -a $rb -eq 0
	n=$(cat "$T/a" "$T/b" | wc -l)
	check "MQTT $v: 2000 lines in all ($n)" test "$n" -eq 2000
	check "MQTT $v: no message twice" \
	    test "$(cat "$T/a" "$T/b" | sort -u | wc -l)" -eq 2000
	check "MQTT $v: both consumers got a share ($(wc -l <"$T/a")/$(wc -l <"$T/b"))" \
	    test -s "$T/a" -a -s "$T/b"
	for dev in 1 2 3 4; do
		seq 1 500 | sed "s/.*/{\"dev\":$dev,\"n\":&}/"
	done | sort >"$T/want"
	cat "$T/a" "$T/b" | sort >"$T/got"
	diff_ok "MQTT $v: together exactly the published messages" \
	    "$T/want" "$T/got"
}
sharetest 5
sharetest 3.1.1

mq_stop
finish
