#!/usr/bin/env bash
# flespi-to-aws: the per-connection rate limit holds; --connections 4
# spreads devices over four client ids and keeps each device's order.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }

# 600 messages at 200/s: about 3 s (the burst saves a tenth of a second).
python3 "$TESTS/genmsgs.py" 600 >"$T/in"
timed flespi-to-aws $(broker_aws_args "$D") --rate 200 <"$T/in" 2>"$T/err"
check "--rate 200: exit 0" [ $rc -eq 0 ]
if [ $ms -ge 2500 ] && [ $ms -le 6000 ]; then
	ok "--rate 200: 600 messages took $ms ms (about 3000)"
else
	notok "--rate 200: 600 messages took $ms ms, not about 3000"
fi

N=4000
python3 "$TESTS/genmsgs.py" $N --devices 40 >"$T/in4"
broker_sub "$D" t34 $N 60 "$T/sub" || notok "subscriber ready"
flespi-to-aws $(broker_aws_args "$D") --rate 0 --connections 4 \
    --client-id t34pub <"$T/in4" 2>"$T/err"
rc=$?
check "--connections 4: exit 0" [ $rc -eq 0 ]
wait "$SUB_PID"
for i in 0 1 2 3; do
	check "client id t34pub-$i connected" \
	    grep -q "connected from .* as t34pub-$i " "$D/mosquitto.log"
done
python3 - "$T/in4" "$T/sub" >"$T/order" <<'PY'
import json, sys
def per_ident(lines):
    d = {}
    for l in lines:
        d.setdefault(json.loads(l)["ident"], []).append(l)
    return d
want = per_ident(open(sys.argv[1]))
got = per_ident(l.split(" ", 1)[1] for l in open(sys.argv[2]))
bad = [k for k in want if want[k] != got.get(k)]
print("%d idents, %d out of order or incomplete" % (len(want), len(bad)))
sys.exit(1 if bad else 0)
PY
rc=$?
check "--connections 4: every ident's messages complete and in order ($(cat "$T/order"))" \
    [ $rc -eq 0 ]
finish
