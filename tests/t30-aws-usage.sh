#!/usr/bin/env bash
# flespi-to-aws: command line, bad lines mixed with good, topic templates.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/b
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
A="--endpoint localhost --port 1 --cafile $D/ca.pem --cert $D/client.pem --key $D/client.key"

flespi-to-aws --help >"$T/help" 2>&1
check "--help exits 0" [ $? -eq 0 ]
check "--help lists --topic" grep -q -- "--topic TEMPLATE" "$T/help"
flespi-to-aws --version >"$T/ver" 2>&1
check "--version exits 0 and names the program" grep -q "^flespi-to-aws " "$T/ver"

# usage errors: exit 64 with the program's name and the reason
usage() {
	local desc=$1 want=$2; shift 2
	flespi-to-aws "$@" </dev/null >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -eq 64 ] && grep -q "^flespi-to-aws: .*$want" "$T/err"; then
		ok "$desc"
	else
		notok "$desc" "exit $rc" "$(cat "$T/err")"
	fi
}
usage "--qos 2 refused" "QoS 2" $A --qos 2
usage "--qos 3 out of range" "--qos" $A --qos 3
usage "no --endpoint" "--endpoint HOST is required" --cafile "$D/ca.pem" \
    --cert "$D/client.pem" --key "$D/client.key"
usage "no --cert" "--cert FILE is required" --endpoint localhost \
    --cafile "$D/ca.pem" --key "$D/client.key"
usage "missing --key file named" "--key: cannot read '$T/nope.key'" \
    --endpoint localhost --cafile "$D/ca.pem" --cert "$D/client.pem" \
    --key "$T/nope.key"
usage "--keepalive below AWS's 30 s" "--keepalive" $A --keepalive 10
usage "--mqtt 4" "--mqtt" $A --mqtt 4
usage "--window over 100" "--window" $A --window 101
usage "topic template with a wildcard" "wildcard" $A --topic 'a/+/{ident}'
usage "topic template with a leading \$" "reserved" $A --topic '$x/{ident}'
usage "topic template with 8 slashes" "more than 7" $A \
    --topic 'a/b/c/d/e/f/g/h/{ident}'
usage "unbalanced brace" "without" $A --topic 'a/{ident'
usage "a stray argument" "unexpected argument" $A extra

# With a broker: good lines delivered under their templated topic, bad ones
# diagnosed with their line number, copied to --rejected, exit 65.
broker_start "$D" || { notok "broker"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" 6 --devices 3 >"$T/good"
{
	sed -n 1,2p "$T/good"
	echo 'not json'
	sed -n 3p "$T/good"
	echo '[1,2]'
	echo '{"ident":"x","timestamp":1,"channel.id":{"a":1}}'
	echo '{"ident":"a/b/c/d/e/f/g","timestamp":1,"channel.id":1}'
	echo '{"ident":"dev+1","timestamp":1,"channel.id":1}'
	sed -n 4,6p "$T/good"
} >"$T/in"
broker_sub "$D" t30 6 20 "$T/sub" || notok "subscriber ready"
flespi-to-aws $(broker_aws_args "$D") --topic 'fleet/{channel.id}/{ident}' \
    --failed "$T/undelivered" --rejected "$T/failed" <"$T/in" 2>"$T/err"
rc=$?
check "bad lines: exit 65" [ $rc -eq 65 ]
check "bad lines: nothing in --failed (all good ones delivered)" [ ! -s "$T/undelivered" ]
wait "$SUB_PID"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    print("fleet/%s/%s %s" % (m["channel.id"], m["ident"], l), end="")
' "$T/good" >"$T/want"
diff_ok "good lines arrive with fleet/{channel.id}/{ident} topics" \
    "$T/want" "$T/sub"
grep -v '^{"ident":"3526' "$T/in" >"$T/wantfailed"
diff_ok "bad lines copied to --rejected" "$T/wantfailed" "$T/failed"
for l in 3 5 6 7 8; do
	check "line $l diagnosed" grep -q "^flespi-to-aws: <stdin>:$l: " "$T/err"
done
check "line 6: non-scalar topic field named" \
    grep -q '<stdin>:6: topic field "channel.id" is not a scalar' "$T/err"
check "line 7: too many levels" grep -q '<stdin>:7: .*more than 7' "$T/err"
check "line 8: wildcard in a value" grep -q '<stdin>:8: .*wildcard' "$T/err"

# --strict stops at the first bad line.
flespi-to-aws $(broker_aws_args "$D") --strict <"$T/in" 2>"$T/err"
rc=$?
check "--strict: exit 65" [ $rc -eq 65 ]
check "--strict: stops at line 3" \
    [ "$(grep -c '<stdin>:' "$T/err")" -eq 1 ]

# Basic Ingest topics are allowed, and --mqtt 5 works.
broker_sub "$D" t30b 2 20 "$T/sub2" '$aws/rules/#' || notok "subscriber ready"
sed -n 1,2p "$T/good" | flespi-to-aws $(broker_aws_args "$D") --mqtt 5 \
    --topic '$aws/rules/Ingest_1/{ident}' 2>"$T/err"
check "Basic Ingest over MQTT 5: exit 0" [ $? -eq 0 ]
wait "$SUB_PID"
check "Basic Ingest topic used" [ "$(grep -c '^\$aws/rules/Ingest_1/3526' "$T/sub2")" -eq 2 ]

# Payloads over AWS's 128 KB: bad lines, by --max-line or by the limit.
python3 -c '
import json
print(json.dumps({"ident": "big", "timestamp": 1, "pad": "x" * 140000}))
print(json.dumps({"ident": "ok", "timestamp": 1, "pad": "x" * 131000}))
' >"$T/big"
flespi-to-aws $(broker_aws_args "$D") --rate 0 --max-line 135000 \
    --rejected "$T/big.rej" <"$T/big" 2>"$T/err"
check "a 140 KB line over --max-line 135000: exit 65" [ $? -eq 65 ]
check "... longer than --max-line" \
    grep -q "<stdin>:1: line longer than 135000 bytes" "$T/err"
head -n 1 "$T/big" >"$T/big.want"
check "... kept whole in --rejected" cmp -s "$T/big.want" "$T/big.rej"
rm -f "$T/big.rej"
flespi-to-aws $(broker_aws_args "$D") --rate 0 --rejected "$T/big.rej" \
    <"$T/big" 2>"$T/err"
check "with the default --max-line (8 MiB): still exit 65" [ $? -eq 65 ]
check "... over AWS's 128 KB" grep -q "<stdin>:1: .*over AWS's 128 KB" "$T/err"
check "... and the 131000-byte one went through" \
    [ "$(grep -c '<stdin>' "$T/err")" -eq 1 ]
check "... the refused line kept whole in --rejected" cmp -s "$T/big.want" "$T/big.rej"

# QoS 0: sent at once, everything written before the disconnect.
python3 "$TESTS/genmsgs.py" 2000 >"$T/q0"
broker_sub "$D" t30c 2000 20 "$T/sub3" || notok "subscriber ready"
flespi-to-aws $(broker_aws_args "$D") --qos 0 --rate 0 <"$T/q0" 2>"$T/err"
check "--qos 0: exit 0" [ $? -eq 0 ]
wait "$SUB_PID"
payloads "$T/sub3" >"$T/got3"
diff_ok "--qos 0: all 2000 arrive (loopback loses nothing)" "$T/q0" "$T/got3"
finish
