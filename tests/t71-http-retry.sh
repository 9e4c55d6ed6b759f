#!/usr/bin/env bash
# flespi-to-http retries what is not the content's fault: 500s, 429 with
# Retry-After (honoured), a connection reset mid-body, a stalled server;
# gives up after --retries with every line in the failed file (exit 75);
# 401 on the first request exits 69 without sending more; after a 2xx it
# is retried.
source "$(dirname "$0")/lib.sh"
source "$TESTS/nginx.sh"

N=3000
python3 "$TESTS/genmsgs.py" $N --devices 20 >"$T/in"
reqs() { jq -c "select($1)" "$T/s.log" | wc -l; }

http_standin s --faults 500,500,503,429:1,stall:2,reset
URL=http://127.0.0.1:$HTTP_PORT/in
flespi-to-http -v --retry-wait 0.05 --ack-timeout 1 "$URL" <"$T/in" 2>"$T/err"
check "faults: exit 0" [ $? -eq 0 ]
diff_ok "faults: every message arrives once, in order, bytes unchanged" \
    "$T/in" "$T/s.out"
check "faults: 3 x 5xx, one 429, a reset, a stall, 3 accepted" \
    [ "$(reqs '.status == 500 or .status == 503')" -eq 3 -a \
      "$(reqs '.status == 429')" -eq 1 -a "$(reqs '.status == "reset"')" -eq 1 -a \
      "$(reqs '.status == "stall"')" -eq 1 -a "$(reqs '.status == 200')" -eq 3 ]
check "faults: every retry is the same batch of 1000" \
    [ "$(reqs '.count == 1000 or .status == "reset"')" -eq 9 ]
gap=$(jq -s 'map(select(.n == 4 or .n == 5) | .t) | .[1] - .[0]' "$T/s.log")
check "Retry-After: 1 is honoured (next request after $gap s)" \
    awk -v g="$gap" 'BEGIN { exit !(g >= 0.95) }'
check "faults: each retry is said" [ "$(grep -c '; retry [0-9]' "$T/err")" -eq 6 ]
check "faults: the stall is a timeout" grep -qi 'timeout\|timed out' "$T/err"

kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
: >"$T/s.log"; : >"$T/s.out"
http_standin s --faults 500,500,500,500,500,500,500,500,500,500
URL=http://127.0.0.1:$HTTP_PORT/in
flespi-to-http --retries 2 --retry-wait 0.05 --failed "$T/failed" "$URL" \
    <"$T/in" 2>"$T/err"
check "--retries 2 against 500s: exit 75" [ $? -eq 75 ]
check "--retries 2: three attempts" [ "$(reqs '.status == 500')" -eq 3 ]
diff_ok "--retries 2: every line is in the failed file" "$T/in" "$T/failed"
check "--retries 2: says it gave up" grep -q 'giving up after 2 retries: ' "$T/err"

kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
: >"$T/s.log"; : >"$T/s.out"; rm -f "$T/failed"
echo "Bearer right" >"$T/auth"
http_standin s --auth-file "$T/auth"
URL=http://127.0.0.1:$HTTP_PORT/in
printf 'Authorization: Bearer wrong\n' >"$T/hdr"; chmod 600 "$T/hdr"
flespi-to-http --header-file "$T/hdr" --parallel 4 --batch 10 \
    --failed "$T/failed" "$URL" <"$T/in" 2>"$T/err"
check "401 first: exit 69" [ $? -eq 69 ]
check "401 first: nothing more is sent after it" [ "$(reqs 'true')" -le 4 ]
check "401 first: says the credentials are refused" grep -q 'HTTP 401.*credentials' "$T/err"
diff_ok "401 first: every line is in the failed file" \
    <(sort "$T/in") <(sort "$T/failed")

# 401 after a 2xx is retried (a token being rotated), not fatal.
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
: >"$T/s.log"; : >"$T/s.out"
http_standin s --faults ok,401,403
URL=http://127.0.0.1:$HTTP_PORT/in
flespi-to-http --retry-wait 0.05 "$URL" <"$T/in" 2>"$T/err"
check "401 and 403 after a 2xx: retried, exit 0" [ $? -eq 0 ]
diff_ok "401 and 403 after a 2xx: every message arrives once" "$T/in" "$T/s.out"

# A redirection is not followed: the URL must name the endpoint.
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
http_standin s --faults 301
flespi-to-http "http://127.0.0.1:$HTTP_PORT/in" <"$T/in" 2>"$T/err"
check "301: exit 69" [ $? -eq 69 ]
check "301: says to give the final URL" grep -q 'HTTP 301 redirects.*final URL' "$T/err"
finish
