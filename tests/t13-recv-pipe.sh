#!/usr/bin/env bash
# flespi-recv's output side: a reader that goes away (| head -1), a full
# disk (/dev/full), a write cut off mid-batch (file size limit): the key
# saved is the one after the last whole line written.  --delete deletes
# only what was written.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"

state() { curl -fsS "$URL/control/state"; }
export FLESPI_TOKEN=test-token

python3 "$TESTS/genmsgs.py" 3000 >"$T/in"
standin a --messages "$T/in"

# | head -1: quiet exit 0, key saved after what the pipe accepted, which
# is in the middle of a batch: found with one extra request.
flespi-recv --url "$URL" --once --state "$T/st" 1 2>"$T/err" | head -1 >"$T/out"
rc=${PIPESTATUS[0]}
check "| head -1: exit 0" test $rc -eq 0
check "| head -1: nothing on stderr" test ! -s "$T/err"
head -1 "$T/in" >"$T/want"
diff_ok "| head -1: the first message" "$T/want" "$T/out"
k=$(cat "$T/st")
check "| head -1: the key ($k) is after a whole line inside the first batch" \
    test "$k" -gt 1 -a "$k" -le 1000
check "| head -1: the key came from a request for $((k - 1)) messages" \
    grep -q "\"curr_key\": 0, \"limit_count\": $((k - 1)), .*\"timeout\": 0" "$T/a.log"
flespi-recv --url "$URL" --once --state "$T/st" 1 >"$T/out" 2>"$T/err"
tail -n +"$k" "$T/in" >"$T/want"
diff_ok "| head -1: the next run resumes right there" "$T/want" "$T/out"

# >/dev/full: exit 74 with the reason; the key does not move.
echo 5 >"$T/st"
flespi-recv --url "$URL" --once --state "$T/st" 1 >/dev/full 2>"$T/err"; rc=$?
check ">/dev/full: exit 74" test $rc -eq 74
check ">/dev/full: says why" grep -q 'stdout: No space left on device' "$T/err"
check ">/dev/full: the key stays" test "$(cat "$T/st")" = 5

# A key file that cannot be written: exit 74 before reading anything.
flespi-recv --url "$URL" --once --state "$T/no/such/dir/st" 1 >"$T/out" 2>"$T/err"; rc=$?
check "unwritable --state: exit 74 at once" test $rc -eq 74 -a ! -s "$T/out"
check "unwritable --state: names the file" grep -q 'no/such/dir/st' "$T/err"
echo junk >"$T/badst"
flespi-recv --url "$URL" --once --state "$T/badst" 1 >"$T/out" 2>"$T/err"; rc=$?
check "a state file holding junk: exit 74, nothing read" test $rc -eq 74 -a ! -s "$T/out"
check "a state file holding junk: says so" grep -q 'badst: not a key file' "$T/err"

# A write cut off mid-line (file size limit 100 KiB): the saved key is
# after the last whole line, so a rerun completes it exactly once.
rm -f "$T/st"
(trap '' XFSZ; ulimit -f 100
 exec flespi-recv --url "$URL" --once --state "$T/st" 1 >"$T/out1" 2>"$T/err")
rc=$?
check "cut-off write: exit 74" test $rc -eq 74
check "cut-off write: the file is at the limit" test "$(stat -c %s "$T/out1")" -eq 102400
n=$(wc -l <"$T/out1")
check "cut-off write: key after the $n whole lines" test "$(cat "$T/st")" -eq $((n + 1))
head -n "$n" "$T/out1" >"$T/whole"
flespi-recv --url "$URL" --once --state "$T/st" 1 >"$T/out2" 2>"$T/err"
cat "$T/whole" "$T/out2" >"$T/out"
if cmp -s "$T/in" "$T/out"; then ok "cut-off write: whole lines plus rerun = input, exactly once"
else notok "cut-off write: whole lines plus rerun = input, exactly once" \
    "$(cmp "$T/in" "$T/out" 2>&1)"; fi

# --delete: deletes before the key of what was written, never more.
standin d --messages "$T/in"
flespi-recv --url "$URL" --delete -n 250 --limit-count 100 1 >"$T/out" 2>"$T/err"; rc=$?
check "--delete -n 250: exit 0" test $rc -eq 0
check "--delete: first request deletes nothing" \
    grep -q '"curr_key": 0, .*"delete": false' "$T/d.log"
check "--delete: later requests delete what was written" \
    test "$(grep -c '"delete": true' "$T/d.log")" -eq 3
check "--delete: the channel keeps message 251 on" \
    bash -c "curl -fsS '$URL/control/state' | grep -q '\"first\": 251'"
flespi-recv --url "$URL" -n 1 1 >"$T/out" 2>"$T/err"
sed -n 251p "$T/in" >"$T/want"
diff_ok "--delete: key 0 now starts at message 251" "$T/want" "$T/out"
flespi-recv --url "$URL" --once --delete --from 300 1 >"$T/out" 2>"$T/err"; rc=$?
check "--delete with --from 300: usage error, nothing deleted" \
    test $rc -eq 64 -a "$(curl -fsS "$URL/control/state" | grep -c '"first": 251')" -eq 1
(trap '' XFSZ; ulimit -f 100
 exec flespi-recv --url "$URL" --once --delete 1 >"$T/out1" 2>"$T/err")
n=$(wc -l <"$T/out1")
check "--delete and a cut-off write: deletes only the $n whole lines" \
    bash -c "curl -fsS '$URL/control/state' | grep -q '\"first\": $((251 + n))'"

# The reader goes away while flespi-recv waits in a long poll on a quiet
# channel: it notices at once (the pipe says POLLERR on its end), not
# at its next write 25 s later, so that a service restarts at once.
: >"$T/empty"
standin q --messages "$T/empty"
t0=$(date +%s%N)
{ flespi-recv -v --url "$URL" --timeout 25 1 2>"$T/q.err"; echo $? >"$T/q.rc"; } |
    { sleep 0.5; exit 0; }
wait_for 10 test -s "$T/q.rc"
ms=$(ms_since "$t0")
check "the reader gone during a long poll: flespi-recv ends in ${ms} ms (< 3000)" \
    test $ms -lt 3000
check "... exit 0, as for a reader gone at a write ($(cat "$T/q.rc"))" \
    test "$(cat "$T/q.rc")" = 0
check "... and says so" grep -q 'stdout closed by the reader' "$T/q.err"
finish
