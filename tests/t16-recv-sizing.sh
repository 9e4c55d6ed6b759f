#!/usr/bin/env bash
# flespi-recv request sizing: without -c the batch grows while answers
# come back full (within --limit-size), shrinks when they are small, and
# falls back when a grown request is refused (400) or its answer is too
# long; -c fixes it.  The output stays the input, byte for byte.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"

export FLESPI_TOKEN=test-token

# counts LOG: the limit_count of every request, comma-separated.
counts() { grep -o '"limit_count": [0-9]*' "$1" | cut -d' ' -f2 | paste -sd, -; }

python3 "$TESTS/genmsgs.py" 20000 >"$T/in"

# Defaults: 1000, doubling while full, then what 4 MiB holds.
standin a --messages "$T/in"
sp=$!
flespi-recv --url "$URL" --once 1 >"$T/out" 2>"$T/err"; rc=$?
check "defaults: --once drains and exits 0" test $rc -eq 0 -a ! -s "$T/err"
diff_ok "defaults: 20000 messages byte for byte" "$T/in" "$T/out"
c=$(counts "$T/a.log")
check "defaults: 1000, then doubling while full ($c)" \
    test "${c%%,[5-9]*}" = "1000,2000,4000"
check "defaults: grown to what --limit-size holds, no further ($c)" \
    python3 - "$T/a.log" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
want = 0
for r in recs:
    assert r["curr_key"] == want, (r, want)
    want = r["next_key"]
    assert r["count"] <= r["limit_count"], r
top = max(r["limit_count"] for r in recs)
assert 5000 < top <= 4194304 // 600, top
# The last answer was small: the request after it asks for half.
assert recs[-1]["limit_count"] * 2 in (recs[-2]["limit_count"],
                                        recs[-2]["limit_count"] + 1), recs[-2:]
PY
kill $sp; wait $sp 2>/dev/null

# -c: fixed, no adaptation.
standin b --messages "$T/in"
sp=$!
flespi-recv --url "$URL" --once --limit-count 1000 1 >"$T/out" 2>"$T/err"; rc=$?
check "-c 1000: exits 0" test $rc -eq 0
diff_ok "-c 1000: byte for byte" "$T/in" "$T/out"
check "-c 1000: every request asks for 1000" \
    test "$(counts "$T/b.log" | tr , '\n' | sort -u)" = 1000
kill $sp; wait $sp 2>/dev/null

# A server with a maximum: a grown request refused with 400 is halved and
# the batch stays there; the key never skips.
standin c --messages "$T/in" --max-count 3000
sp=$!
flespi-recv --url "$URL" --once 1 >"$T/out" 2>"$T/err"; rc=$?
check "400 to a grown request: exits 0" test $rc -eq 0
diff_ok "400 to a grown request: byte for byte" "$T/in" "$T/out"
c=$(counts "$T/c.log")
check "400 to a grown request: 4000 refused, 2000 from then on ($c)" \
    test "$(echo "$c" | cut -d, -f1-4)" = "1000,2000,4000,2000" -a \
    "$(echo "$c" | cut -d, -f4- | tr , '\n' | sort -nu | tail -1)" = 2000
check "400 to a grown request: said on stderr" \
    grep -q 'asking for 2000 messages instead of 4000' "$T/err"
# -c above the maximum: the user's number, refused as before.
flespi-recv --url "$URL" --once --limit-count 5000 1 >"$T/out" 2>"$T/err"; rc=$?
check "400 to -c 5000: exit 69, nothing written" test $rc -eq 69 -a ! -s "$T/out"
kill $sp; wait $sp 2>/dev/null

# An answer longer than --limit-size + 1 MiB to a grown request: halved.
standin d --messages "$T/in" --faults "ok,ok,huge"
sp=$!
flespi-recv --url "$URL" --once --limit-size 2097152 1 >"$T/out" 2>"$T/err"; rc=$?
check "oversized answer to a grown request: exits 0" test $rc -eq 0
diff_ok "oversized answer to a grown request: byte for byte" "$T/in" "$T/out"
c=$(counts "$T/d.log")
check "oversized answer: the grown count halved and kept ($c)" \
    python3 - "$T/d.log" <<'PY'
import json, sys
c = [json.loads(l)["limit_count"] for l in open(sys.argv[1])]
assert c[:2] == [1000, 2000] and c[2] > 2000 and c[3] == c[2] // 2, c
assert max(c[3:]) == c[3], c
PY
check "oversized answer: said on stderr" grep -q 'answer longer than.*asking for' "$T/err"
kill $sp; wait $sp 2>/dev/null

# Live: once answers are small, the batch shrinks back to the start.
standin e --messages "$T/in"
flespi-recv --url "$URL" --timeout 0 1 >"$T/out" 2>"$T/err" &
rp=$!
check "live: shrinks back to 1000 after the backlog" wait_for 20 \
    sh -c "tail -n 1 '$T/e.log' | grep -q '\"count\": 0' &&
        tail -n 1 '$T/e.log' | grep -q '\"limit_count\": 1000,'"
kill $rp; wait $rp 2>/dev/null
c=$(counts "$T/e.log")
check "live: halving on the way down ($c)" python3 - "$T/e.log" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
top = max(range(len(recs)), key=lambda i: recs[i]["limit_count"])
down = [r["limit_count"] for r in recs[top:]]
for a, b in zip(down, down[1:]):
    assert b == a or b == max(1000, a // 2), down
PY
diff_ok "live: byte for byte" "$T/in" "$T/out"

finish
