#!/usr/bin/env bash
# flespi-to-aws on the forwarder core: checkpoint lines are never
# published and their key is saved with --state once the messages before
# them are acknowledged; the --state lock; SIGHUP drains; give-up with a
# broker that is not there accounts for every line.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }
A=$(broker_aws_args "$D")

received() { [ "$(lines "$1")" -ge "$2" ]; }

# --- checkpoints: not published, the last key saved
ckmsgs 500 100 >"$T/ck.json"
broker_sub "$D" t37a 500 20 "$T/ck.sub" || notok "subscriber ready"
flespi-to-aws $A --rate 0 --state "$T/ck.key" <"$T/ck.json" 2>"$T/ck.err"
rc=$?
check "checkpoints: exit 0 ($rc), silent" test $rc = 0 -a ! -s "$T/ck.err"
check "checkpoints: the last key saved (500)" test "$(cat "$T/ck.key")" = 500
wait $SUB_PID
check "checkpoints: 500 publishes, none of them a checkpoint" \
    test "$(lines "$T/ck.sub")" = 500 -a "$(grep -c checkpoint "$T/ck.sub")" = 0

# --- the lock
flock "$T/ck.key.lock" sleep 5 &
lkpid=$!
wait_for 5 sh -c "! flock -n '$T/ck.key.lock' true"
flespi-to-aws $A --state "$T/ck.key" <"$T/ck.json" 2>"$T/lk.err"
rc=$?
check "--state locked: exit 73 ($rc)" test $rc = 73
check "--state locked: says so" grep -q "is in use by another run" "$T/lk.err"
kill $lkpid; wait $lkpid 2>/dev/null

# --- SIGHUP drains: delivered + failed = every line, the key follows
ckmsgs 3000 100 >"$T/hup.json"
broker_sub "$D" t37h 1000000 60 "$T/hup.sub" || notok "subscriber ready"
flespi-to-aws $A --rate 500 --drain-timeout 0.3 --state "$T/hup.key" \
    --failed "$T/hup.failed" <"$T/hup.json" 2>"$T/hup.err" &
pid=$!
wait_for 30 received "$T/hup.sub" 500 || notok "500 delivered before SIGHUP"
kill -HUP $pid
wait $pid
rc=$?
check "SIGHUP: drained, exit 75 ($rc)" test $rc = 75
mosquitto_pub -h localhost -p "$BROKER_PORT" --cafile "$D/ca.pem" \
    --cert "$D/client.pem" --key "$D/client.key" -q 1 -t zz-end -m end
wait_for 20 grep -q "^zz-end end" "$T/hup.sub" || notok "marker arrived"
grep -v "^zz-end " "$T/hup.sub" | cut -d' ' -f2- | sort -u >"$T/hup.delivered"
grep -v checkpoint "$T/hup.json" | sort -u >"$T/hup.want"
sort -u "$T/hup.delivered" "$T/hup.failed" >"$T/hup.all"
diff_ok "SIGHUP: delivered + failed = every message line" "$T/hup.want" "$T/hup.all"
check "SIGHUP: with everything done, the last key saved (3000)" \
    test "$(cat "$T/hup.key")" = 3000
kill $SUB_PID 2>/dev/null

# --- give-up, nobody listening: every line in --failed, the key follows
flespi-to-aws --endpoint localhost --port 1 --cafile "$D/ca.pem" \
    --cert "$D/client.pem" --key "$D/client.key" --retries 1 \
    --retry-wait 0.05 --state "$T/gone.key" --failed "$T/gone.failed" \
    <"$T/hup.json" 2>"$T/gone.err"
rc=$?
check "give-up: exit 75 ($rc)" test $rc = 75
grep -v checkpoint "$T/hup.json" >"$T/gone.want"
diff_ok "give-up: every message line in --failed, in order" "$T/gone.want" "$T/gone.failed"
check "give-up: the key follows the lines in --failed (3000)" \
    test "$(cat "$T/gone.key")" = 3000
finish
