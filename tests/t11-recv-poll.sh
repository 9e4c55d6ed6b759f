#!/usr/bin/env bash
# flespi-recv: long polling wakes on new messages; SIGTERM ends a long poll
# promptly; --state resumes exactly once after SIGTERM and at least once,
# without gaps, after SIGKILL.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"

append() {	# append FILE: give the running stand-in more messages
	curl -fsS --data-binary @"$1" "$URL/control/append" >/dev/null
}
polling() {	# a long poll is waiting in the stand-in
	curl -fsS "$URL/control/state" | grep -q '"waiting": 1'
}
atleast() { [ "$(lines "$1")" -ge "$2" ]; }	# atleast FILE N
export FLESPI_TOKEN=test-token

# Long polling: an empty channel, then messages arrive.
python3 "$TESTS/genmsgs.py" 3 --seed 7 >"$T/three"
standin a
flespi-recv --url "$URL" --timeout 20 -n 3 1 >"$T/out" 2>"$T/err" &
pid=$!
wait_for 5 polling || notok "long poll: no request waiting in the stand-in"
t0=$(date +%s%N)
append "$T/three"
wait_for 5 bash -c "! kill -0 $pid"
wait $pid; rc=$?
ms=$(ms_since $t0)
check "long poll returns the new messages at once (${ms} ms)" test $ms -lt 3000
check "long poll: exit 0 after -n 3" test $rc -eq 0
diff_ok "long poll: the appended messages" "$T/three" "$T/out"
# -t reaches the request: every one asked the stand-in to wait 20 s, and
# so there were only a few (a timeout of 0 would be busy polling).
python3 -c '
import json, sys
t = [json.loads(l)["timeout"] for l in open(sys.argv[1])]
print("%d requests, timeouts %s" % (len(t), sorted(set(t))))
sys.exit(0 if 1 <= len(t) <= 3 and set(t) == {20} else 1)' "$T/a.log" >"$T/a.timeouts"
rc=$?
check "-t 20: each request waits 20 s ($(cat "$T/a.timeouts"))" test $rc -eq 0

# SIGTERM during a long poll: prompt, exit 0, key saved.
flespi-recv --url "$URL" --timeout 20 --state "$T/st" 1 >"$T/out" 2>"$T/err" &
pid=$!
wait_for 5 test -s "$T/st" || notok "SIGTERM: no key file before the long poll"
wait_for 5 polling || notok "SIGTERM: no request waiting in the stand-in"
t0=$(date +%s%N)
kill -TERM $pid
wait_for 5 bash -c "! kill -0 $pid"
wait $pid; rc=$?
ms=$(ms_since $t0)
check "SIGTERM ends a long poll promptly (${ms} ms)" test $ms -lt 2000
check "SIGTERM: exit 0" test $rc -eq 0
check "SIGTERM: the key after the 3 messages is saved" \
    test "$(cat "$T/st")" = 4
check "SIGTERM: no diagnostics" test ! -s "$T/err"
check "the state file is 0600" test "$(stat -c %a "$T/st")" = 600

# Exactly once across a SIGTERM in mid-stream: 20000 messages, small
# batches, stopped once a few thousand are out, then resumed.
python3 "$TESTS/genmsgs.py" 20000 --seed 3 >"$T/in"
standin b --messages "$T/in" --delay 0.003
rm -f "$T/st"
flespi-recv --url "$URL" --limit-count 25 --state "$T/st" 1 >"$T/out1" 2>"$T/err1" &
pid=$!
wait_for 20 atleast "$T/out1" 3000
kill -TERM $pid
wait $pid; rc=$?
check "mid-stream SIGTERM: exit 0" test $rc -eq 0
n1=$(lines "$T/out1")
check "mid-stream SIGTERM: key file names the next message ($n1 written)" \
    test "$(cat "$T/st")" -eq $((n1 + 1))
flespi-recv --url "$URL" --limit-count 500 --state "$T/st" --once 1 >"$T/out2" 2>"$T/err"
cat "$T/out1" "$T/out2" >"$T/out"
if cmp -s "$T/in" "$T/out"; then
	ok "SIGTERM and resume: every message exactly once ($n1 + $(lines "$T/out2"))"
else
	notok "SIGTERM and resume: every message exactly once" \
	    "$(cmp "$T/in" "$T/out" 2>&1)"
fi

# At least once, no gaps, across a SIGKILL.  out1 is emptied here, not by
# the background job's redirection, which may run after wait_for looks.
rm -f "$T/st"
: >"$T/out1"
flespi-recv --url "$URL" --limit-count 25 --state "$T/st" 1 >"$T/out1" 2>"$T/err1" &
pid=$!
wait_for 20 atleast "$T/out1" 3000
kill -KILL $pid
wait $pid 2>/dev/null
rc1=$?
# A SIGKILL may land in the middle of a write and leave a torn last line:
# the whole lines are what was written (the torn one comes again).
n1=$(lines "$T/out1")
k=$(cat "$T/st")
flespi-recv --url "$URL" --limit-count 500 --state "$T/st" --once 1 >"$T/out2" 2>"$T/err"
n2=$(lines "$T/out2")
head -n "$n1" "$T/in" >"$T/want1"
head -n "$n1" "$T/out1" >"$T/got1"
tail -n +"$k" "$T/in" >"$T/want2"
check "SIGKILL: the first run wrote a prefix ($n1 whole lines$(test "$(tail -c 1 "$T/out1" | od -An -c | tr -d ' ')" = '\n' || echo ', then a torn one'))" \
    cmp -s "$T/want1" "$T/got1"
if [ -n "$k" ] && [ "$k" -ge 1 ] && [ "$k" -le $((n1 + 1)) ]; then
	ok "SIGKILL: the saved key ($k) is within what was written"
else
	notok "SIGKILL: the saved key ($k) is within what was written" \
	    "stderr: $(tail -3 "$T/err1")" "state dir: $(ls -la "$T" | grep st)" "exit status $rc1 (137: killed)"
fi
check "SIGKILL: the second run resumes at the saved key, no gap ($n2 lines)" \
    cmp -s "$T/want2" "$T/out2"
check "SIGKILL: repeated at most one batch ($((n1 + 1 - k)))" \
    test $((n1 + 1 - k)) -le 25
finish
