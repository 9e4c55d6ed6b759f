#!/usr/bin/env bash
# flespi-recv: command line, exact ordered output over many batches, -n,
# --from, pretty-printed answers, numbers and strings byte for byte.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"

export FLESPI_TOKEN=test-token

# --help, --version, usage errors.
flespi-recv --help >"$T/help" 2>"$T/err"
check "--help exits 0 with usage on stdout" \
    test $? -eq 0 -a ! -s "$T/err" -a -s "$T/help"
check "--help names the options" grep -q -- '--state FILE' "$T/help"
check "--version prints the version" \
    bash -c "flespi-recv --version | grep -qx 'flespi-recv [0-9.]*'"
flespi-recv --bogus 1 >"$T/out" 2>"$T/err"; rc=$?
check "unknown option exits 64" test $rc -eq 64 -a ! -s "$T/out"
flespi-recv >/dev/null 2>"$T/err"; rc=$?
check "no CHANNEL exits 64" test $rc -eq 64
check "no CHANNEL names the problem" grep -q 'CHANNEL' "$T/err"
flespi-recv -n 0 1 >/dev/null 2>"$T/err"; rc=$?
check "-n 0 exits 64" test $rc -eq 64
check "-n 0 names the bad value" grep -q "'0'" "$T/err"
flespi-recv --from -5 1 >/dev/null 2>"$T/err"; rc=$?
check "--from -5 exits 64" test $rc -eq 64
FLESPI_TOKEN= flespi-recv 1 >/dev/null 2>"$T/err"; rc=$?
check "empty token exits 64" test $rc -eq 64
env -u FLESPI_TOKEN flespi-recv 1 >/dev/null 2>"$T/err"; rc=$?
check "missing token exits 64" test $rc -eq 64
check "missing token message names FLESPI_TOKEN and --token-file" \
    grep -q 'FLESPI_TOKEN.*--token-file' "$T/err"
check "diagnostics are prefixed with the program name" \
    grep -q '^flespi-recv: ' "$T/err"

# 5000 messages in batches of 97: the same bytes, in order.
python3 "$TESTS/genmsgs.py" 5000 >"$T/in"
standin a --messages "$T/in"
flespi-recv --url "$URL" --once --limit-count 97 1 >"$T/out" 2>"$T/err"; rc=$?
check "--once drains and exits 0" test $rc -eq 0
check "--once writes nothing on stderr" test ! -s "$T/err"
if cmp -s "$T/in" "$T/out"; then ok "5000 messages over 52 batches byte for byte"
else notok "5000 messages over 52 batches byte for byte" \
    "$(cmp "$T/in" "$T/out" 2>&1)"; fi
n=$(grep -c '"status": 200' "$T/a.log")
check "52 batches and one empty answer ($n requests)" test "$n" -eq 53
check "keys follow next_key" python3 - "$T/a.log" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
want = 0
for r in recs:
    assert r["curr_key"] == want, (r, want)
    want = r["next_key"]
assert all(r["limit_count"] == 97 and r["timeout"] == 0 for r in recs)
PY
check "x-flespi-app names the tool and version" \
    grep -q '"app": "flespi-recv/[0-9.]*"' "$T/a.log"
check "no --cid, no x-flespi-cid" grep -q '"cid": null' "$T/a.log"

# -n: never more than asked, and batches do not overshoot.
: >"$T/a.log"
flespi-recv --url "$URL" -n 250 --limit-count 100 1 >"$T/out" 2>"$T/err"; rc=$?
check "-n 250 exits 0" test $rc -eq 0
head -n 250 "$T/in" >"$T/want"
diff_ok "-n 250 writes the first 250 messages" "$T/want" "$T/out"
check "-n asks for 100, 100, 50" \
    test "$(grep -o '"limit_count": [0-9]*' "$T/a.log" | tr -d ' ' |
        cut -d: -f2 | paste -sd, -)" = "100,100,50"

# --cid: the subaccount header; without it, none.
: >"$T/a.log"
flespi-recv --url "$URL" --cid 4242 -n 1 1 >/dev/null 2>"$T/err"
check "--cid sends x-flespi-cid" grep -q '"cid": "4242"' "$T/a.log"
flespi-recv --url "$URL" --cid abc 1 >/dev/null 2>"$T/err"
check "--cid abc: usage error" test $? -eq 64

# --from KEY
flespi-recv --url "$URL" --from 4990 --once 1 >"$T/out" 2>"$T/err"
tail -n 11 "$T/in" >"$T/want"
diff_ok "--from 4990 starts at message 4990" "$T/want" "$T/out"

# --token-file with a trailing newline; the token never shows in -v logs.
printf 'test-token\n' >"$T/tok"
env -u FLESPI_TOKEN flespi-recv -v --token-file "$T/tok" --url "$URL" \
    -n 3 1 >"$T/out" 2>"$T/err"; rc=$?
check "--token-file is read and trimmed" test $rc -eq 0 -a "$(wc -l <"$T/out")" -eq 3
check "-v logs each request" grep -q 'curr_key=0 limit_count=3.*200, 3 messages' "$T/err"
check "-v never prints the token" bash -c "! grep -q test-token '$T/err'"
env -u FLESPI_TOKEN flespi-recv --token-file "$T/nonexistent" 1 2>"$T/err"
check "unreadable token file exits 64" test $? -eq 64

# Pretty-printed answers come out one compact object per line; awkward
# values pass unchanged: big integers, exponents, escapes, unicode, nesting.
cat >"$T/odd" <<'J'
{"ident":"a b","timestamp":1.5,"n":123456789012345678901234567890,"x":1E+2,"y":-0.0,"z":12.640000}
{"ident":"q\"uo\\te, : {[","timestamp":2,"s":"tab\there\u0000","u":"Zürich ✓","big":18446744073709551615}
{"ident":"nest","timestamp":3,"arr":[1, 2 ,{"k" : [ ]}],"obj":{},"t":true,"f":false,"nl":null}
J
cat >"$T/oddwant" <<'J'
{"ident":"a b","timestamp":1.5,"n":123456789012345678901234567890,"x":1E+2,"y":-0.0,"z":12.640000}
{"ident":"q\"uo\\te, : {[","timestamp":2,"s":"tab\there\u0000","u":"Zürich ✓","big":18446744073709551615}
{"ident":"nest","timestamp":3,"arr":[1,2,{"k":[]}],"obj":{},"t":true,"f":false,"nl":null}
J
standin p --messages "$T/odd" --pretty
flespi-recv --url "$URL" --once 1 >"$T/out" 2>"$T/err"; rc=$?
check "pretty answers: exit 0" test $rc -eq 0
diff_ok "pretty answers: compact lines, values byte for byte" "$T/oddwant" "$T/out"
finish
