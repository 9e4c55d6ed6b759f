#!/usr/bin/env bash
# flespi-to-http: a refused endpoint is not a refused message.  Against the
# HTTP stand-in:
# - statuses that judge the endpoint (404, 405, 410, 409...) from the first
#   request: exit 69 at once, nothing rejected, every line in --failed;
# - a 404 served for 2 s after a 2xx (a deploy): retried with backoff, a
#   handful of requests, nothing rejected, the key saved to the end; with
#   --retries 1 it gives up (75), and the key stays before every message
#   in --failed;
# - a server answering 400 to everything after a 2xx: bisection bounded
#   (at most 16 messages rejected, a bounded number of requests), then
#   retried; with --retries it gives up with the rest in --failed;
# - before any 2xx: one message refused alone is rejected (65) and the
#   lines around it delivered; a server that refuses every message with
#   400 from the start exits 69 with every line in --failed;
# - a 2xx whose answer is cut short accepts its batch (said once);
# - --reject-status adds content statuses; the refusal reason is escaped
#   once.
source "$(dirname "$0")/lib.sh"
source "$TESTS/nginx.sh"

reqs() { jq -c "select($1)" "$T/s.log" | wc -l; }
restart() {
	if [ -n "${HTTP_PID:-}" ]; then kill "$HTTP_PID"; wait "$HTTP_PID"; fi 2>/dev/null
	: >"$T/s.log"; : >"$T/s.out"
	rm -f "$T/rej" "$T/failed" "$T/key"
	http_standin s "$@"
	URL=http://127.0.0.1:$HTTP_PORT/in
}

msgs 6000 20 >"$T/in"
ckmsgs 6000 500 >"$T/ck"
grep -v '@checkpoint' "$T/ck" >"$T/ckwant"
head -1000 "$T/in" >"$T/in1000"

# ---- endpoint statuses from the first request: 69, nothing rejected
for st in 404 405 410 409 301; do
	restart --faults "$st@60"
	flespi-to-http --rejected "$T/rej" --failed "$T/failed" "$URL" \
	    <"$T/in1000" 2>"$T/err"
	rc=$?
	check "$st from the start: exit 69 ($rc), nothing rejected, every line in --failed" \
	    all [ $rc -eq 69 ] -- [ "$(lines "$T/rej")" -eq 0 ] -- \
	    cmp -s "$T/in1000" "$T/failed"
	check "$st from the start: one request, then nothing more" \
	    [ "$(reqs 'true')" -eq 1 ]
done
restart --faults 404@60
flespi-to-http "$URL" <"$T/in1000" 2>"$T/err"
check "404 from the start: says to check the URL" \
    grep -q 'HTTP 404: fault 404: nothing has been accepted yet: check the URL' \
    "$T/err"

# ---- a 404 for 2 s after a 2xx: retried, nothing lost, few requests
restart --faults ok,ok,ok,404@2
timed flespi-to-http --batch 100 --state "$T/key" --rejected "$T/rej" \
    --failed "$T/failed" "$URL" <"$T/ck" 2>"$T/err"
n404=$(reqs '.status == 404')
echo "# a 404 window of 2 s: $n404 requests answered 404, $ms ms"
check "404 for 2 s after a 2xx: exit 0 ($rc)" [ $rc -eq 0 ]
diff_ok "404 for 2 s: every message arrives once, in order" "$T/ckwant" "$T/s.out"
check "404 for 2 s: nothing rejected" [ "$(lines "$T/rej")" -eq 0 ]
check "404 for 2 s: at most 6 requests meet the 404 ($n404)" \
    all [ "$n404" -ge 1 ] -- [ "$n404" -le 6 ]
check "404 for 2 s: the key is saved to the end" [ "$(cat "$T/key")" = 6000 ]
check "404 for 2 s: each retry is said" grep -q 'HTTP 404: fault 404; retry 1 in' "$T/err"

restart --faults ok,ok,ok,404@2 --delay 0.01
flespi-to-http --batch 100 --parallel 4 --rejected "$T/rej" "$URL" \
    <"$T/in" 2>"$T/err"
rc=$?
check "404 for 2 s, --parallel 4: exit 0 ($rc), nothing rejected" \
    all [ $rc -eq 0 ] -- [ "$(lines "$T/rej")" -eq 0 ]
diff_ok "404 for 2 s, --parallel 4: every message arrives once" \
    <(sort "$T/in") <(sort "$T/s.out")

# --retries 1 during the 404: gives up; every message is delivered or in
# --failed before the key passes it.
restart --faults ok,ok,ok,404@3
flespi-to-http --batch 100 --retries 1 --state "$T/key" --rejected "$T/rej" \
    --failed "$T/failed" "$URL" <"$T/ck" 2>"$T/err"
rc=$?
check "404 for 3 s, --retries 1: exit 75 ($rc), nothing rejected" \
    all [ $rc -eq 75 ] -- [ "$(lines "$T/rej")" -eq 0 ]
diff_ok "--retries 1: delivered + failed = every message" \
    <(sort "$T/ckwant") <(sort "$T/s.out" "$T/failed")
check "--retries 1: says it gave up on the 404" \
    grep -q 'giving up after 1 retry: HTTP 404' "$T/err"

# ---- 400 to everything after a 2xx: bounded
restart --faults ok,400@3
timed flespi-to-http --batch 100 --rejected "$T/rej" --failed "$T/failed" \
    "$URL" <"$T/in" 2>"$T/err"
n400=$(reqs '.status == 400')
echo "# 400 to everything for 3 s: $n400 requests answered 400," \
    "$(lines "$T/rej") rejected, $ms ms"
check "400 for 3 s: exit 65 ($rc)" [ $rc -eq 65 ]
check "400 for 3 s: at most 16 messages rejected ($(lines "$T/rej"))" \
    [ "$(lines "$T/rej")" -le 16 ]
check "400 for 3 s: at most 80 requests answered 400 ($n400)" [ "$n400" -le 80 ]
diff_ok "400 for 3 s: delivered + rejected = every message" \
    <(sort "$T/in") <(sort "$T/s.out" "$T/rej")
check "400 for 3 s: says the server seems to refuse everything" \
    grep -q 'more than 16 messages refused alone in a row' "$T/err"

restart --faults ok,400@60
flespi-to-http --batch 100 --retries 2 --retry-wait 0.05 --rejected "$T/rej" \
    --failed "$T/failed" "$URL" <"$T/in" 2>"$T/err"
rc=$?
check "400 for ever after a 2xx, --retries 2: exit 75 ($rc), at most 16 rejected" \
    all [ $rc -eq 75 ] -- [ "$(lines "$T/rej")" -le 16 ]
diff_ok "400 for ever: delivered + rejected + failed = every message" \
    <(sort "$T/in") <(sort "$T/s.out" "$T/rej" "$T/failed")

# ---- before any 2xx
awk 'NR == 1 { sub(/"ident":/, "\"note\":\"REJECTME\",\"ident\":") } { print }' \
    "$T/in1000" >"$T/first"
restart --reject REJECTME
flespi-to-http --batch 100 --rejected "$T/rej" --failed "$T/failed" "$URL" \
    <"$T/first" 2>"$T/err"
rc=$?
check "the first message refused alone before any 2xx: exit 65 ($rc)" [ $rc -eq 65 ]
diff_ok "before any 2xx: only that message is rejected" <(head -1 "$T/first") "$T/rej"
diff_ok "before any 2xx: the lines around it are delivered, in order" \
    <(tail -n +2 "$T/first") "$T/s.out"
restart --reject REJECTME
head -1 "$T/first" | timeout 20 flespi-to-http --rejected "$T/rej" "$URL" 2>"$T/err"
rc=$?
check "the only message, refused: exit 65 ($rc), rejected" \
    all [ $rc -eq 65 ] -- [ "$(lines "$T/rej")" -eq 1 ]

restart --faults 400@60
flespi-to-http --batch 100 --rejected "$T/rej" --failed "$T/failed" "$URL" \
    <"$T/in1000" 2>"$T/err"
rc=$?
check "400 to everything from the start: exit 69 ($rc), nothing rejected" \
    all [ $rc -eq 69 ] -- [ "$(lines "$T/rej")" -eq 0 ]
diff_ok "400 to everything from the start: every line in --failed" \
    "$T/in1000" "$T/failed"
check "400 to everything from the start: says the endpoint refuses us" \
    grep -q 'nothing accepted yet: the endpoint refuses us' "$T/err"

# ---- a 2xx cut short accepts its batch
restart --faults short@60
timeout 30 flespi-to-http --batch 100 --rejected "$T/rej" --failed "$T/failed" \
    "$URL" <"$T/in1000" 2>"$T/err"
rc=$?
check "2xx cut short: exit 0 ($rc)" [ $rc -eq 0 ]
check "2xx cut short: 10 requests for 10 batches ($(reqs 'true'))" \
    [ "$(reqs 'true')" -eq 10 ]
diff_ok "2xx cut short: every message delivered once" "$T/in1000" "$T/s.out"
check "2xx cut short: said once" \
    [ "$(grep -c 'then the answer was cut short.*accepts the batch (said once)' "$T/err")" -eq 1 ]

# ---- --reject-status
awk 'NR == 17 || NR == 500 { sub(/"ident":/, "\"note\":\"REJECTME\",\"ident\":") } { print }' \
    "$T/in1000" >"$T/marked"
restart --reject REJECTME --reject-code 409
flespi-to-http --batch 100 --rejected "$T/rej" --failed "$T/failed" "$URL" \
    <"$T/marked" 2>"$T/err"
rc=$?
check "409 is the endpoint's by default: exit 69 ($rc), nothing rejected" \
    all [ $rc -eq 69 ] -- [ "$(lines "$T/rej")" -eq 0 ]
restart --reject REJECTME --reject-code 409
flespi-to-http --batch 100 --reject-status 451,409 --rejected "$T/rej" \
    --failed "$T/failed" "$URL" <"$T/marked" 2>"$T/err"
rc=$?
check "--reject-status 451,409: exit 65 ($rc)" [ $rc -eq 65 ]
diff_ok "--reject-status 409: exactly the marked messages are rejected" \
    <(grep REJECTME "$T/marked") "$T/rej"
diff_ok "--reject-status 409: the others arrive, in order" \
    <(grep -v REJECTME "$T/marked") "$T/s.out"
for bad in 408 429 500 399 4x9 '' 409,; do
	flespi-to-http --reject-status "$bad" "$URL" </dev/null 2>"$T/err"
	rc=$?
	check "--reject-status '$bad': exit 64 ($rc), named" \
	    all [ $rc -eq 64 ] -- grep -q "reject-status: '" "$T/err"
done

# ---- the reason is escaped once
restart --reject REJECTME --reject-answer 'bad \x1b[31m\\ value'
flespi-to-http --batch 100 --rejected "$T/rej" "$URL" <"$T/marked" 2>"$T/err"
check "the reason is escaped once" \
    [ "$(grep -cF ': refused by the peer: HTTP 400: bad \x1B[31m\\ value' "$T/err")" -eq 2 ]
check "no escape is escaped again" nogrep -F '\\x1B' "$T/err"
finish
