#!/usr/bin/env bash
# flespi-to-http against a real Apache httpd 2.4 (Debian's apache2, its
# own instance: tests/apache.sh): HTTP/2 and HTTP/1.1 over TLS with a
# client certificate required, LimitRequestBody 65536, a CGI that appends
# every accepted body.
# - Batches over the limit: the ceiling is learnt in a few 413s (halved at
#   once, what is queued re-split), over HTTP/2 (where Apache answers 413
#   and resets the stream, which libcurl 7.88 reports as error 92: the
#   request is sent again over HTTP/1.1 to see the 413) and over HTTP/1.1;
#   every message arrives once, in order.
# - A message alone over the limit is rejected with Apache's 413.
# - A client certificate missing or from another CA: refused in the TLS
#   handshake, exit 69 naming the client certificate, every line in
#   --failed.
source "$(dirname "$0")/lib.sh"
source "$TESTS/nginx.sh"
source "$TESTS/apache.sh"
command -v apache2 >/dev/null ||
    { skip "apache2 is not installed (make deps)"; exit 0; }

D=$T/ap
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
apache_start "$D" || { notok "apache2 starts"; finish; exit 1; }
URL=https://localhost:$APACHE_PORT/in
H1=https://localhost:$APACHE_H1_PORT/in
TLS=(--cacert "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key")
# Messages of about 690 bytes: a batch of 1000 is ten times the limit.
N=6000
python3 "$TESTS/genmsgs.py" $N --devices 20 >"$T/in"
reset() { : >"$D/recv/body"; : >"$D/access.log"; rm -f "$T/rej" "$T/failed"; }
# answers PROTOCOL STATUS: how many requests Apache answered so.
answers() { awk -v p="$1" -v s="$2" '$2 == p && $4 == s' "$D/access.log" | wc -l; }

# ---- HTTP/2: the 413 behind a stream reset
reset
timed flespi-to-http -v --format ndjson --retries 3 --rejected "$T/rej" \
    --failed "$T/failed" "${TLS[@]}" "$URL" <"$T/in" 2>"$T/err"
n413=$(( $(answers HTTP/2.0 413) + $(answers HTTP/1.1 413) ))
echo "# HTTP/2: $n413 answers 413 ($(answers HTTP/1.1 413) over HTTP/1.1)," \
    "$(answers HTTP/2.0 200) accepted, $ms ms"
check "HTTP/2, batches over LimitRequestBody: exit 0 ($rc)" [ $rc -eq 0 ]
diff_ok "HTTP/2: every message arrives once, in order" "$T/in" "$D/recv/body"
check "HTTP/2: the stream reset is sent again over HTTP/1.1, which sees the 413" \
    all grep -q 'again over HTTP/1.1' "$T/err" -- [ "$(answers HTTP/1.1 413)" -ge 1 ]
# Each halving costs two answers: the one hidden by the stream reset, and
# the same over HTTP/1.1; 690 KB down to 64 KB is four halvings.
check "HTTP/2: the limit is learnt in at most 12 answers 413 ($n413)" \
    [ "$n413" -le 12 ]
check "HTTP/2: nothing rejected" [ "$(lines "$T/rej")" -eq 0 ]
check "HTTP/2: the accepted batches are HTTP/2" [ "$(answers HTTP/2.0 200)" -ge 50 ]

reset
flespi-to-http --format ndjson --parallel 3 --retries 3 "${TLS[@]}" "$URL" \
    <"$T/in" 2>"$T/err"
rc=$?
n413=$(( $(answers HTTP/2.0 413) + $(answers HTTP/1.1 413) ))
check "HTTP/2, --parallel 3: exit 0 ($rc)" [ $rc -eq 0 ]
diff_ok "HTTP/2, --parallel 3: every message arrives once" \
    <(sort "$T/in") <(sort "$D/recv/body")
# Each lane has a request in flight when the ceiling comes down.
check "HTTP/2, --parallel 3: at most 30 answers 413 ($n413)" [ "$n413" -le 30 ]

# ---- HTTP/1.1: Apache closes the connection after each 413
reset
timed flespi-to-http --format ndjson --retries 3 --rejected "$T/rej" \
    "${TLS[@]}" "$H1" <"$T/in" 2>"$T/err"
n413=$(answers HTTP/1.1 413)
echo "# HTTP/1.1: $n413 answers 413, $(answers HTTP/1.1 200) accepted, $ms ms"
check "HTTP/1.1, batches over LimitRequestBody: exit 0 ($rc)" [ $rc -eq 0 ]
diff_ok "HTTP/1.1: every message arrives once, in order" "$T/in" "$D/recv/body"
check "HTTP/1.1: the limit is learnt in at most 8 answers 413 ($n413)" \
    [ "$n413" -le 8 ]

# ---- one message alone over the limit
reset
big=$(head -1 "$T/in" | python3 -c 'import json, sys
m = json.loads(sys.stdin.read()); m["blob"] = "x" * 70000
print(json.dumps(m, separators=(",", ":")))')
{ head -100 "$T/in"; echo "$big"; sed -n 101,200p "$T/in"; } >"$T/big"
flespi-to-http --format ndjson --batch 50 --retries 3 --rejected "$T/rej" \
    --failed "$T/failed" "${TLS[@]}" "$URL" <"$T/big" 2>"$T/err"
rc=$?
check "a message over LimitRequestBody, HTTP/2: exit 65 ($rc)" [ $rc -eq 65 ]
diff_ok "the others arrive, in order" <(head -200 "$T/in") "$D/recv/body"
diff_ok "exactly that message is rejected" <(echo "$big") "$T/rej"
check "it is rejected with Apache's 413" \
    grep -q '<stdin>:101: refused by the peer: HTTP 413: 413 Request Entity Too Large' "$T/err"

# ---- client certificates refused in the TLS handshake
reset
head -1000 "$T/in" >"$T/in1000"
timed flespi-to-http --retries 3 --rejected "$T/rej" --failed "$T/failed" \
    --cacert "$D/ca.pem" "$URL" <"$T/in1000" 2>"$T/err"
check "no client certificate: exit 69 ($rc), at once ($ms ms)" \
    all [ $rc -eq 69 ] -- [ "$ms" -lt 5000 ]
# The alert, or when a reset lost it (libcurl then says "getpeername()
# failed"), three connections closed right after the handshake.
check "no client certificate: the message names it" \
    grep -Eq 'refused the TLS handshake \(certificate required\): it wants|right after the TLS handshake, 3 times in a row: it likely wants' "$T/err"
check "no client certificate: the message says what to give" \
    grep -q 'a client certificate (--cert and --key)' "$T/err"
check "no client certificate: not libcurl's getpeername()" \
    all grep -q 'client certificate' "$T/err" -- nogrep getpeername "$T/err"
diff_ok "no client certificate: every line in --failed" "$T/in1000" "$T/failed"
check "no client certificate: nothing rejected, nothing received" \
    all [ "$(lines "$T/rej")" -eq 0 ] -- [ ! -s "$D/recv/body" ]

reset
flespi-to-http --retries 3 --failed "$T/failed" --cacert "$D/ca.pem" \
    --cert "$D/other.pem" --key "$D/other.key" "$H1" <"$T/in1000" 2>"$T/err"
rc=$?
check "a client certificate from another CA: exit 69 ($rc)" [ $rc -eq 69 ]
check "another CA: the message names the client certificate" \
    grep -Eq 'refused the TLS handshake \(unknown ca\): the client certificate \(--cert\) is not one it accepts|right after the TLS handshake, 3 times in a row: it likely refuses the client certificate \(--cert\)' "$T/err"
diff_ok "another CA: every line in --failed" "$T/in1000" "$T/failed"
apache_stop
finish
