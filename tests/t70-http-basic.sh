#!/usr/bin/env bash
# flespi-to-http against the HTTP stand-in: usage, every message delivered
# with its bytes unchanged in each body format, gzip, methods and headers,
# order (whole with --parallel 1, per device with more), bad lines, and a
# header file's secret never in -v output or in ps.
source "$(dirname "$0")/lib.sh"
source "$TESTS/nginx.sh"

N=3000
python3 "$TESTS/genmsgs.py" $N --devices 20 >"$T/in"
http_standin s
URL=http://127.0.0.1:$HTTP_PORT/in

flespi-to-http </dev/null 2>"$T/err"
check "no URL: exit 64" [ $? -eq 64 ]
flespi-to-http ftp://x/ </dev/null 2>"$T/err"
check "not an http URL: exit 64" [ $? -eq 64 ]
flespi-to-http --format xml "$URL" </dev/null 2>"$T/err"
check "a bad --format: exit 64" [ $? -eq 64 ]
flespi-to-http -H 'no colon' "$URL" </dev/null 2>"$T/err"
check "a bad -H: exit 64" [ $? -eq 64 ]

# reqs FILTER: the stand-in's log records matching a jq filter.
reqs() { jq -c "select($1)" "$T/s.log" | wc -l; }
reset() { : >"$T/s.log"; : >"$T/s.out"; }

flespi-to-http -v -H 'X-Test: yes' "$URL" <"$T/in" 2>"$T/err"
check "array: exit 0" [ $? -eq 0 ]
diff_ok "array: the messages arrive in order, bytes unchanged" "$T/in" "$T/s.out"
check "array: 3 requests of 1000, POST, application/json, X-Test" \
    [ "$(reqs '.count == 1000 and .method == "POST" and .format == "array"
	and .headers["content-type"] == "application/json"
	and .headers["x-test"] == "yes"')" -eq 3 ]
check "the stats line counts them" grep -q "$N delivered" "$T/err"

reset
flespi-to-http --format ndjson --gzip --batch 700 "$URL" <"$T/in" 2>"$T/err"
check "ndjson + gzip: exit 0" [ $? -eq 0 ]
diff_ok "ndjson + gzip: bodies decode to the same bytes" "$T/in" "$T/s.out"
check "ndjson + gzip: Content-Encoding gzip, x-ndjson, at most 700 each" \
    [ "$(reqs '.gzip and .format == "ndjson" and .count <= 700
	and .headers["content-type"] == "application/x-ndjson"')" -eq 5 ]
check "gzip makes bodies smaller" \
    [ "$(jq -s 'map(.wire) | add' "$T/s.log")" -lt $(($(wc -c <"$T/in") / 3)) ]

reset
head -50 "$T/in" >"$T/in50"
flespi-to-http --format single -X PUT "$URL" <"$T/in50" 2>"$T/err"
check "single PUT: exit 0" [ $? -eq 0 ]
diff_ok "single: one message per request" "$T/in50" "$T/s.out"
check "single: 50 PUT requests" [ "$(reqs '.method == "PUT" and .count == 1')" -eq 50 ]

reset
flespi-to-http --batch-bytes 20000 "$URL" <"$T/in" 2>"$T/err"
diff_ok "--batch-bytes: everything arrives" "$T/in" "$T/s.out"
check "--batch-bytes: no body over 20000 bytes" \
    [ "$(reqs '.wire > 20000')" -eq 0 -a "$(reqs '.wire > 0')" -gt 100 ]

# Per device order with --parallel: the stand-in slows every answer so
# that the lanes overlap.
reset
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
http_standin s --delay 0.02
URL=http://127.0.0.1:$HTTP_PORT/in
flespi-to-http --parallel 4 --batch 100 "$URL" <"$T/in" 2>"$T/err"
check "--parallel 4: exit 0" [ $? -eq 0 ]
perdev() { jq -r '.ident' "$1" | awk '{ print $0, NR }' >/dev/null
	python3 -c 'import json, sys
d = {}
for l in open(sys.argv[1]):
    d.setdefault(json.loads(l)["ident"], []).append(l)
for k in sorted(d):
    sys.stdout.write("".join(d[k]))' "$1"; }
perdev "$T/in" >"$T/want.dev"
perdev "$T/s.out" >"$T/got.dev"
diff_ok "--parallel 4: every device's messages in input order" \
    "$T/want.dev" "$T/got.dev"

# Bad input lines are rejected, the rest goes.
reset
{ head -10 "$T/in"; echo '{"no":"ident"}'; echo 'not json'; sed -n 11,20p "$T/in"; } >"$T/bad"
flespi-to-http --rejected "$T/rej" "$URL" <"$T/bad" 2>"$T/err"
check "bad lines: exit 65" [ $? -eq 65 ]
head -20 "$T/in" >"$T/want20"
diff_ok "bad lines: the good ones arrive" "$T/want20" "$T/s.out"
check "bad lines: both in the rejected file" [ "$(wc -l <"$T/rej")" -eq 2 ]

# The header file: its secret arrives, and is never shown.
reset
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
SECRET=tok-$RANDOM$RANDOM-s3cr3t
echo "Bearer $SECRET" >"$T/auth"
http_standin s --delay 0.3 --auth-file "$T/auth"
URL=http://127.0.0.1:$HTTP_PORT/in
printf '# a comment\nAuthorization: Bearer %s\n\nX-Extra: 1\n' "$SECRET" >"$T/hdr"
chmod 644 "$T/hdr"
flespi-to-http -vv --header-file "$T/hdr" --batch 500 "$URL" <"$T/in" \
    >"$T/out" 2>"$T/verr" &
pid=$!
wait_for 10 test -s "$T/s.log"
ps -ww -eo args >"$T/ps"
cat /proc/$pid/cmdline 2>/dev/null | tr '\0' ' ' >>"$T/ps"
wait $pid
check "header file: exit 0" [ $? -eq 0 ]
diff_ok "header file: everything arrives" "$T/in" "$T/s.out"
check "header file: the token arrived" \
    [ "$(reqs '.headers["x-extra"] == "1" and .status == 200')" -eq 6 ]
check "header file: a warning when others can read it" \
    grep -q "readable by other users" "$T/verr"
check "-v: one line per request" [ "$(grep -c ': 200 OK, 500 messages, .* (HTTP/1.1)$' "$T/verr")" -eq 6 ]
check "the secret is not in -v output" nogrep -q "$SECRET" "$T/verr" "$T/out"
check "the secret is not in ps" nogrep -q "$SECRET" "$T/ps"
check "ps saw the process" grep -q "header-file $T/hdr" "$T/ps"
chmod 600 "$T/hdr"
head -5 "$T/in" | flespi-to-http --header-file "$T/hdr" "$URL" 2>"$T/err"
check "no warning for a private header file" nogrep -q readable "$T/err"
finish
