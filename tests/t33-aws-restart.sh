#!/usr/bin/env bash
# flespi-to-aws: the broker restarted twice mid-stream; every message
# arrives at least once (the library resends what was not acknowledged).
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

N=5000
D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" $N --devices 10 >"$T/in"
broker_sub "$D" t33 1000000 90 "$T/sub" || notok "subscriber ready"

received() { [ "$(wc -l <"$T/sub")" -ge "$1" ]; }
unique() { [ "$(payloads "$T/sub" | sort -u | wc -l)" -ge "$1" ]; }

flespi-to-aws $(broker_aws_args "$D") --rate 1000 -v <"$T/in" 2>"$T/err" &
pid=$!
wait_for 30 received 1500 || notok "1500 messages before the first restart"
broker_restart "$D" || notok "first restart"
wait_for 30 received 3000 || notok "3000 messages before the second restart"
broker_restart "$D" || notok "second restart"
wait "$pid"
rc=$?
check "exit 0 after two restarts" [ $rc -eq 0 ]
check "it reconnected" grep -q "connected to" "$T/err"
wait_for 30 unique $N
sort -u "$T/in" >"$T/want"
payloads "$T/sub" | sort -u >"$T/got"
diff_ok "every message arrived at least once" "$T/want" "$T/got"
echo "# $(wc -l <"$T/sub") received for $N sent"
finish
