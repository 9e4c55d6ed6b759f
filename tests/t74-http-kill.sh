#!/usr/bin/env bash
# flespi-to-http --state with checkpoint lines, killed with SIGKILL at
# random moments and started again from the saved key each time (as
# flespi-recv --checkpoints --state would resume): nothing is lost, the
# key never passes a message that was not acknowledged, and duplicates
# stay within one checkpoint interval and the batches in flight per kill.
# SIGTERM drains, then writes what is left to the failed file.
# A second run on the same state file exits 73 at once.
source "$(dirname "$0")/lib.sh"
source "$TESTS/nginx.sh"

N=12000 EVERY=500 KILLS=5
python3 "$TESTS/genmsgs.py" $N --devices 30 >"$T/msgs"
# The channel: messages with a checkpoint line after every EVERY of them,
# its key the number of messages before it.
awk -v e=$EVERY '{ print } NR % e == 0 { printf "{\"@checkpoint\":\"%d\"}\n", NR }' \
    "$T/msgs" >"$T/channel"
# feed KEY: what the channel holds after KEY.
feed() { awk -v k="$1" 'k == 0 || seen { print } $0 == "{\"@checkpoint\":\"" k "\"}" { seen = 1 }' "$T/channel"; }
key() { if [ -s "$T/key" ]; then cat "$T/key"; else echo 0; fi; }

http_standin s --delay 0.03
URL=http://127.0.0.1:$HTTP_PORT/in
run() { feed "$(key)" | flespi-to-http --state "$T/key" --batch 100 \
    --parallel "$1" "$URL" 2>>"$T/err"; }

keys=
for i in $(seq $KILLS); do
	run $((i % 2 + 1)) &
	pid=$!
	sleep 0.$((RANDOM % 7 + 3))
	# The pipeline's last process is flespi-to-http.
	pkill -KILL -P $pid -x flespi-to-http 2>/dev/null || kill -KILL $pid
	wait $pid 2>/dev/null
	k=$(key)
	keys="$keys $k"
	# Every message before the saved key has been accepted.
	if [ "$k" -gt 0 ] && ! head -"$k" "$T/msgs" | sort | comm -23 - <(sort -u "$T/s.out") | grep -q .; then :
	elif [ "$k" -gt 0 ]; then notok "kill $i: key $k passed a message the server never accepted"; fi
done
echo "# keys after each kill:$keys"
check "the key moved between kills" [ "$(key)" -gt 0 ]
run 2
check "the last run: exit 0" [ $? -eq 0 ]
check "the last run saved the last key" [ "$(key)" -eq $N ]
sort -u "$T/msgs" >"$T/want"
sort -u "$T/s.out" >"$T/got"
diff_ok "every message arrived at least once" "$T/want" "$T/got"
dups=$(( $(wc -l <"$T/s.out") - N ))
echo "# $dups duplicates for $KILLS kills"
check "duplicates within $KILLS x (checkpoint interval + batches in flight)" \
    [ $dups -le $((KILLS * (EVERY + 400))) ]
check "no checkpoint line was sent" nogrep -q '@checkpoint' "$T/s.out"

# SIGTERM with a short drain: every line read from the file ends delivered
# or in the failed file, nothing in between.
: >"$T/s.out"
flespi-to-http --batch 100 --drain-timeout 0.2 --failed "$T/failed" \
    "$URL" <"$T/msgs" 2>"$T/err" &
pid=$!
wait_for 10 test -s "$T/s.out"
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM with messages left: exit 75 ($rc)" [ $rc -eq 75 ]
sort -u "$T/s.out" "$T/failed" >"$T/got"
diff_ok "SIGTERM: delivered + failed = every line" "$T/want" "$T/got"
# Only the request in flight when the drain time ran out can have reached
# the server as well (its answer was not awaited): one batch at most.
both=$(sort "$T/failed" | comm -12 - <(sort -u "$T/s.out") | wc -l)
check "SIGTERM: at most the last batch in flight is in both ($both)" [ "$both" -le 100 ]

# Two runs on one state file: the second exits 73 at once.
{ sleep 3; feed 0 | head -10; } | flespi-to-http --state "$T/key" "$URL" 2>"$T/err1" &
pid=$!
wait_for 5 test -e "$T/key.lock"
sleep 0.3
feed 0 | head -10 | flespi-to-http --state "$T/key" "$URL" 2>"$T/err2"
check "a second run on the same --state: exit 73" [ $? -eq 73 ]
wait $pid
finish
