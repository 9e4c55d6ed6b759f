#!/usr/bin/env bash
# flespi-to-http through Debian's nginx in front of the stand-in: TLS
# verified against a test CA, HTTP/2, gzip bodies passed through, nginx's
# own client_max_body_size producing real 413s, a server that requires a
# client certificate (mutual TLS), and the refusals that must exit 69: no
# client certificate (nginx answers 400 to everything: nothing rejected,
# every line in --failed), a server certificate from an unknown CA.
source "$(dirname "$0")/lib.sh"
source "$TESTS/nginx.sh"
command -v nginx >/dev/null || { skip "nginx is not installed (make deps)"; exit 0; }

N=3000
D=$T/c
python3 "$TESTS/genmsgs.py" $N --devices 20 >"$T/in"
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
http_standin s
nginx_start "$D" "$HTTP_PORT" || { notok "nginx starts"; finish; exit 1; }
URL=https://localhost:$NGINX_PORT/in
MTLS=https://localhost:$NGINX_MTLS_PORT/in
proto() { awk -v p="$1" -v s="$2" '$1 == p && $4 == s { print $2 }' \
    "$D/access.log" | sort -u; }
reset() { : >"$T/s.log"; : >"$T/s.out"; : >"$D/access.log"; rm -f "$T/rej"; }

reset
flespi-to-http -v --batch 60 --cacert "$D/ca.pem" "$URL" <"$T/in" 2>"$T/err"
check "TLS: exit 0" [ $? -eq 0 ]
diff_ok "TLS: every message arrives, in order, bytes unchanged" "$T/in" "$T/s.out"
check "TLS: HTTP/2 with nginx" [ "$(proto "$NGINX_PORT" 200)" = HTTP/2.0 ]
check "TLS: one connection for all 50 requests" \
    [ "$(awk '$4 == 200 { print $6 }' "$D/access.log" | sort -u | wc -l)" -eq 1 -a \
      "$(awk '$4 == 200' "$D/access.log" | wc -l)" -eq 50 ]

reset
flespi-to-http --parallel 4 --batch 50 --cacert "$D/ca.pem" "$URL" \
    <"$T/in" 2>"$T/err"
check "--parallel 4 over HTTP/2: exit 0" [ $? -eq 0 ]
perdev() { python3 -c 'import json, sys
d = {}
for l in open(sys.argv[1]):
    d.setdefault(json.loads(l)["ident"], []).append(l)
for k in sorted(d):
    sys.stdout.write("".join(d[k]))' "$1"; }
diff_ok "--parallel 4 over HTTP/2: each device's messages in order" \
    <(perdev "$T/in") <(perdev "$T/s.out")
check "--parallel 4 over HTTP/2: the lanes share one connection" \
    [ "$(awk '$4 == 200 { print $6 }' "$D/access.log" | sort -u | wc -l)" -eq 1 ]

reset
flespi-to-http --gzip --format ndjson --batch 200 --cacert "$D/ca.pem" \
    "$URL" <"$T/in" 2>"$T/err"
check "gzip through nginx: exit 0" [ $? -eq 0 ]
diff_ok "gzip through nginx: bodies decode to the same bytes" "$T/in" "$T/s.out"

reset
flespi-to-http -v --rejected "$T/rej" --cacert "$D/ca.pem" "$URL" \
    <"$T/in" 2>"$T/err"
check "nginx 413s: exit 0 (no single message is too large)" [ $? -eq 0 ]
diff_ok "nginx 413s: every message arrives, in order" "$T/in" "$T/s.out"
check "nginx answered 413 for the large batches" [ "$(proto "$NGINX_PORT" 413)" = HTTP/2.0 ]
check "nginx 413s: later batches are smaller" grep -q 'smaller batches' "$T/err"

reset
big=$(head -1 "$T/in" | python3 -c 'import json, sys
m = json.loads(sys.stdin.read()); m["blob"] = "x" * 70000
print(json.dumps(m, separators=(",", ":")))')
{ head -100 "$T/in"; echo "$big"; sed -n 101,200p "$T/in"; } >"$T/big"
flespi-to-http --rejected "$T/rej" --cacert "$D/ca.pem" "$URL" \
    <"$T/big" 2>"$T/err"
check "a message over client_max_body_size: exit 65" [ $? -eq 65 ]
head -200 "$T/in" >"$T/want"
diff_ok "the others arrive" "$T/want" "$T/s.out"
check "it is rejected with nginx's 413" \
    grep -q '<stdin>:101: refused by the peer: HTTP 413' "$T/err"

reset
flespi-to-http --cacert "$D/ca.pem" --cert "$D/client.pem" \
    --key "$D/client.key" "$MTLS" <"$T/in" 2>"$T/err"
check "mutual TLS: exit 0" [ $? -eq 0 ]
diff_ok "mutual TLS: every message arrives" "$T/in" "$T/s.out"

reset
flespi-to-http --cacert "$D/ca.pem" --rejected "$T/rej" --failed "$T/failed" \
    "$MTLS" <"$T/in" 2>"$T/err"
check "no client certificate: exit 69" [ $? -eq 69 ]
check "no client certificate: nginx's reason" \
    grep -q 'No required SSL certificate' "$T/err"
check "no client certificate: nothing arrives" [ ! -s "$T/s.out" ]
# nginx says 400 to every request: the endpoint refuses us, and no
# message is rejected for it.
check "no client certificate: nothing rejected" [ ! -s "$T/rej" ]
diff_ok "no client certificate: every line in the failed file" \
    "$T/in" "$T/failed"

reset
flespi-to-http --failed "$T/failed2" "$URL" <"$T/in" 2>"$T/err"
check "a server certificate from an unknown CA: exit 69" [ $? -eq 69 ]
check "unknown CA: the reason" grep -qi 'certificate' "$T/err"
diff_ok "unknown CA: every line in the failed file" "$T/in" "$T/failed2"
check "unknown CA: nothing reached the stand-in" [ ! -s "$T/s.log" ]
nginx_stop
finish
