#!/usr/bin/env bash
# flespi-to-aws on hostile input (tests/hostile/gen.py) against the
# mutual-TLS broker, read back by a subscriber: every bad line (including
# idents that make an invalid topic) reported with its line number, every
# good line delivered once with its exact bytes, lines in = delivered +
# rejected; an oversize line and a NUL-filled line; no hang.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"
H=$T/h
python3 "$TESTS/hostile/gen.py" "$H" || { notok "generator"; finish; exit 1; }
D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }

ngood=$(wc -l <"$H/aws.good")
broker_sub "$D" t51 "$ngood" 30 "$T/sub" 'h/#' || notok "subscriber ready"
timeout 60 flespi-to-aws $(broker_aws_args "$D") --topic 'h/{ident}' \
    --max-line 8192 --rejected "$T/failed" <"$H/input.ndjson" 2>"$T/err"
rc=$?
check "hostile input: exit 65 (bad lines skipped), rc $rc" [ $rc -eq 65 ]
wait "$SUB_PID"
if python3 - "$T/sub" "$H/input.ndjson" "$T/delivered" <<'PY'
import json, sys
sub, inp, out = sys.argv[1:4]
lines = {}
for l in open(inp, "rb").read().split(b"\n"):
    l = l.rstrip(b"\r")
    try:
        lines[json.loads(l)["seq"]] = l
    except Exception:
        pass
bad = 0
with open(out, "w") as o:
    for l in open(sub, "rb"):
        payload = l.rstrip(b"\n").split(b" ", 1)[1]
        seq = json.loads(payload)["seq"]
        o.write("%d\n" % seq)
        if lines.get(seq) != payload:
            bad += 1
sys.exit(1 if bad else 0)
PY
then ok "delivered payloads are the input lines' exact bytes"
else notok "delivered payloads are the input lines' exact bytes"
fi
python3 "$TESTS/hostile/check.py" flespi-to-aws "$H" aws "$T/err" \
    "$T/delivered" "hostile input" || _failed=1
nbad=$(wc -l <"$H/aws.bad")
check "--rejected holds the $nbad bad lines" [ "$(wc -l <"$T/failed")" -eq "$nbad" ]

# Lines of nothing but NUL bytes and garbage, then one good line.
{ head -c 5000 /dev/zero; echo; head -c 3000 /dev/urandom | tr -d '\n'; echo
  echo '{"ident":"g","timestamp":1,"seq":1}'; } >"$T/junk"
broker_sub "$D" t51b 1 20 "$T/sub2" 'h/#' || notok "subscriber ready"
timeout 30 flespi-to-aws $(broker_aws_args "$D") --topic 'h/{ident}' \
    <"$T/junk" 2>"$T/err"
rc=$?
wait "$SUB_PID"
check "NUL and garbage lines: exit 65, rc $rc" [ $rc -eq 65 ]
check "... both reported" [ "$(grep -c '^flespi-to-aws: <stdin>:[12]: ' "$T/err")" -eq 2 ]
check "... the good line delivered" grep -q '^h/g {"ident":"g","timestamp":1,"seq":1}$' "$T/sub2"

timeout 10 flespi-to-aws $(broker_aws_args "$D") </dev/null 2>"$T/err"
check "empty input: exit 0" [ $? -eq 0 ]
finish
