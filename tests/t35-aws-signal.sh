#!/usr/bin/env bash
# flespi-to-aws: SIGTERM mid-stream with --failed: what was not delivered
# within --drain-timeout goes to the failed file, exit 75; delivered plus
# failed account for every input line.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

N=3000
D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" $N >"$T/in"
broker_sub "$D" t35 1000000 60 "$T/sub" || notok "subscriber ready"
received() { [ "$(wc -l <"$T/sub")" -ge "$1" ]; }

flespi-to-aws $(broker_aws_args "$D") --rate 500 --drain-timeout 0.5 \
    --failed "$T/failed" <"$T/in" 2>"$T/err" &
pid=$!
wait_for 30 received 500 || notok "500 messages delivered"
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM with messages left: exit 75" [ $rc -eq 75 ]
check "... saying how many" grep -q "messages undelivered, written to the failed file" "$T/err"
# A marker published after the exit: once it arrives, everything the
# broker acknowledged has arrived too.
mosquitto_pub -h localhost -p "$BROKER_PORT" --cafile "$D/ca.pem" \
    --cert "$D/client.pem" --key "$D/client.key" -q 1 -t zz-end -m end
wait_for 20 grep -q "^zz-end end" "$T/sub" || notok "marker arrived"
grep -v "^zz-end " "$T/sub" | cut -d' ' -f2- >"$T/delivered"
check "some went to the failed file" [ -s "$T/failed" ]
sort -u "$T/delivered" "$T/failed" >"$T/all"
sort -u "$T/in" >"$T/want"
diff_ok "delivered + failed = every input line" "$T/want" "$T/all"
echo "# delivered $(wc -l <"$T/delivered"), failed $(wc -l <"$T/failed")"

# SIGTERM, then the producer ends too (as flespi-recv does in a pipeline
# signalled as a whole): everything delivered, exit 0 at once.
python3 "$TESTS/genmsgs.py" 200 >"$T/in2"
mkfifo "$T/fifo"
n=$(wc -l <"$T/sub")
flespi-to-aws $(broker_aws_args "$D") --rate 0 <"$T/fifo" 2>"$T/err2" &
pid=$!
exec 3>"$T/fifo"
cat "$T/in2" >&3
wait_for 20 received $((n + 200)) || notok "200 delivered before SIGTERM" "had $n, now $(wc -l <"$T/sub")" "$(cat "$T/err2" "$T/sub.err")"
kill -TERM $pid
exec 3>&-
s=$(date +%s)
wait $pid
rc=$?
check "SIGTERM, then EOF, all delivered: exit 0" [ $rc -eq 0 ]
check "... at once" [ $(( $(date +%s) - s )) -le 3 ]
finish
