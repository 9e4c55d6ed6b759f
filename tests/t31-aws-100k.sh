#!/usr/bin/env bash
# flespi-to-aws: 100,000 messages over mutual TLS at QoS 1, all delivered
# with the right topics and byte-identical payloads (mosquitto_pub -l
# stops near 65,535).
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

N=100000
D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" $N --devices 20 >"$T/in"
broker_sub "$D" t31 $N 120 "$T/sub" || notok "subscriber ready"
flespi-to-aws $(broker_aws_args "$D") --rate 0 <"$T/in" 2>"$T/err"
rc=$?
check "exit 0" [ $rc -eq 0 ]
check "nothing on stderr" [ ! -s "$T/err" ]
wait "$SUB_PID"
check "$N messages received" [ "$(wc -l <"$T/sub")" -eq $N ]
payloads "$T/sub" >"$T/payloads"
if cmp -s "$T/in" "$T/payloads"; then
	ok "payloads byte-identical, in order"
else
	notok "payloads byte-identical, in order" "$(cmp "$T/in" "$T/payloads")"
fi
cut -d'"' -f4 "$T/in" >"$T/idents"
cut -d' ' -f1 "$T/sub" >"$T/topics"
diff_ok "every topic is the message's ident" "$T/idents" "$T/topics"
finish
