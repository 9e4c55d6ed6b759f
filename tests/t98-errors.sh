#!/usr/bin/env bash
# Errors that say what to do, with the right exit status (issue 11), from
# the user's side: the command, its stderr, its exit status.
#   - every tool's connection error names the host and the port;
#   - flespi-to-aws reports each failed attempt while it cannot connect,
#     and refuses a malformed --endpoint with 64;
#   - local TLS mistakes (a key not the certificate's, --cert and --key
#     swapped, a garbage or directory CA file) exit 64 naming the file
#     before connecting, in flespi-to-aws, flespi-to-http, flespi-recv;
#   - flespi-recv --once gives up after a bounded time of failures (75,
#     saying so), and an answer too big says to raise --limit-size;
#   - a token or header file others can read is warned about.
# (Two flespi-recv --mqtt with one --session: t48-mqtt-takeover.sh.)
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/broker.sh"
export FLESPI_TOKEN=test-token

D=$T/c
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
echo '{"ident":"a","timestamp":1}' >"$T/in"

# A port nothing listens on, and one that accepts and never answers.
P=$(free_ports 1)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1]); time.sleep(60)' \
    "$T/silent.port" &
SILENT=$(port_of "$T/silent.port")

# expect DESC RC PATTERN CMD...: CMD exits RC with PATTERN on stderr
# (grep -E), within 20 s.
expect() {
	local desc=$1 want=$2 pat=$3 rc; shift 3
	timeout 20 "$@" <"$T/in" >"$T/out" 2>"$T/err"; rc=$?
	if [ $rc -eq "$want" ] && grep -Eq -- "$pat" "$T/err"; then ok "$desc"
	else notok "$desc" "exit $rc, want $want; stderr:" \
	    "$(head -c 600 "$T/err")"; fi
}

# --- 1. host and port in every connection error --------------------------
expect "recv: a refused connection names host and port" 75 \
    "127\.0\.0\.1 port $P" \
    flespi-recv --url "http://127.0.0.1:$P" --retries 0 1
expect "recv: a timed out request names host and port" 75 \
    "127\.0\.0\.1 port $SILENT: .*timed out" \
    flespi-recv --url "http://127.0.0.1:$SILENT" --once --request-timeout 0.3 \
    --retries 0 1
expect "to-http: a refused connection names host and port" 75 \
    "127\.0\.0\.1 port $P" \
    flespi-to-http --retries 0 "http://127.0.0.1:$P/in"
expect "to-wialon: a refused connection names host and port" 75 \
    "127\.0\.0\.1:$P: cannot connect: Connection refused" \
    flespi-to-wialon --retries 0 "127.0.0.1:$P"
expect "recv --mqtt: a refused connection names host and port" 75 \
    "127\.0\.0\.1:$P: .*Connection refused" \
    flespi-recv --mqtt --url "mqtts://127.0.0.1:$P" --cafile "$D/ca.pem" \
    --retries 0 1
AWS=(flespi-to-aws --cafile "$D/ca.pem" --cert "$D/client.pem"
    --key "$D/client.key" --retry-wait 0.05)

# --- 2. flespi-to-aws: not silent, and no malformed endpoint ---------------
expect "to-aws: each failed attempt reported without -v, with its retry" 75 \
    "cannot connect to 127\.0\.0\.1 port $P: Connection refused; retry 2 in [0-9]+ ms" \
    "${AWS[@]}" -e 127.0.0.1 -p "$P" --retries 2
check "... and the giving up" grep -q ": giving up after 2 retries: " "$T/err"
expect "to-aws: a name that does not resolve is reported at once" 75 \
    "cannot connect to nohost\.invalid port 8883: .*; retry 1 in" \
    "${AWS[@]}" -e nohost.invalid --retries 1
expect "to-aws: -e localhost:8883 refused, pointing at --port" 64 \
    "--endpoint 'localhost:8883': give the port with --port 8883" \
    "${AWS[@]}" -e localhost:8883
expect "to-aws: -e https://... refused (no scheme)" 64 \
    "--endpoint 'https://x-ats\.iot\.eu-west-1\.amazonaws\.com': .*without https://" \
    "${AWS[@]}" -e https://x-ats.iot.eu-west-1.amazonaws.com
expect "to-aws: an endpoint with a path refused" 64 "--endpoint 'h/mqtt': .*--port" \
    "${AWS[@]}" -e h/mqtt
expect "to-aws: an endpoint with a space refused" 64 "--endpoint 'a b': " \
    "${AWS[@]}" -e "a b"
expect "to-aws: an empty endpoint refused" 64 "--endpoint" "${AWS[@]}" -e ""

# --- 3. local TLS mistakes: 64 before connecting, the file named -----------
mkdir "$T/cadir"
echo "not a certificate" >"$T/garbage.pem"
# Nothing listens on $P: a check after connecting would never be reached.
A=(flespi-to-aws -e 127.0.0.1 -p "$P")
expect "to-aws: a key of another certificate: 64, naming it" 64 \
    "--key: '$D/other\.key' is not the key of the certificate" \
    "${A[@]}" --cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/other.key"
expect "to-aws: --cert and --key swapped: 64, saying so" 64 \
    "--cert: '$D/client\.key' holds a private key.*swapped" \
    "${A[@]}" --cafile "$D/ca.pem" --cert "$D/client.key" --key "$D/client.pem"
expect "to-aws: a garbage --cafile: 64, naming it" 64 \
    "--cafile: '$T/garbage\.pem' holds no PEM certificate" \
    "${A[@]}" --cafile "$T/garbage.pem" --cert "$D/client.pem" --key "$D/client.key"
expect "to-aws: a directory as --cafile: 64" 64 \
    "--cafile: '$T/cadir' is a directory" \
    "${A[@]}" --cafile "$T/cadir" --cert "$D/client.pem" --key "$D/client.key"
H=(flespi-to-http --retries 0 "https://127.0.0.1:$P/in")
expect "to-http: a key of another certificate: 64, naming it" 64 \
    "--key: '$D/other\.key' is not the key" \
    "${H[@]}" --cert "$D/client.pem" --key "$D/other.key"
expect "to-http: a garbage --cacert: 64, naming it" 64 \
    "'$T/garbage\.pem' holds no PEM certificate" \
    "${H[@]}" --cacert "$T/garbage.pem"
expect "to-http: a directory as --cacert: 64" 64 "'$T/cadir' is a directory" \
    "${H[@]}" --cacert "$T/cadir"
expect "recv --mqtt: a garbage --cafile: 64, naming it" 64 \
    "--cafile: '$T/garbage\.pem' holds no PEM certificate" \
    flespi-recv --mqtt --url "mqtts://127.0.0.1:$P" --cafile "$T/garbage.pem" 1
expect "recv --mqtt: a key as --cafile: 64" 64 \
    "--cafile: '$D/client\.key' holds no PEM certificate" \
    flespi-recv --mqtt --url "mqtts://127.0.0.1:$P" --cafile "$D/client.key" 1
# An unreadable --key, as a user who cannot read it (root reads anything).
U=$T/user
mkdir -p "$U" && cp "$D/client.pem" "$D/client.key" "$U"/ && chmod 000 "$U/client.key"
as_user=
if [ "$(id -u)" -eq 0 ]; then
	chmod 711 "$T" && chmod 755 "$U" && chmod 644 "$U/client.pem"
	as_user="setpriv --reuid=65534 --regid=65534 --clear-groups --"
fi
expect "to-http: an unreadable --key: 64, naming it" 64 \
    "--key: cannot read '$U/client\.key': Permission denied" \
    $as_user "$(command -v flespi-to-http)" --retries 0 --cert "$U/client.pem" \
    --key "$U/client.key" "https://127.0.0.1:$P/in"

# --- 5. --once is bounded; a too big answer names --limit-size -------------
start=$(date +%s)
expect "recv --once, server down: gives up by itself with 75, saying why" 75 \
    "giving up after 5 retries: .*127\.0\.0\.1 port $P.*\(--once gives up after 5 retries or 60 s" \
    flespi-recv --url "http://127.0.0.1:$P" --once --retry-wait 0.02 1
check "... quickly" [ $(( $(date +%s) - start )) -le 10 ]

faults() { curl -fsS --data-binary "$1" "$URL/control/faults" >/dev/null; }
python3 "$TESTS/genmsgs.py" 10 >"$T/msgs"
standin a --messages "$T/msgs"
faults "429:300"
start=$(date +%s)
expect "recv --once: a Retry-After past the bound is not waited for: 75" 75 \
    "giving up after 0 retries: .*429.*\(0 s of failures\) \(--once" \
    flespi-recv --url "$URL" --once 1
check "... at once" [ $(( $(date +%s) - start )) -le 5 ]

# One message of 1.2 MB, over --limit-size 100000 and its 1 MiB to spare.
python3 - "$T/big" <<'PY'
import json, sys
m = {"ident": "big", "timestamp": 1, "blob": "x" * 1200000}
open(sys.argv[1], "w").write(json.dumps(m, separators=(",", ":")) + "\n")
PY
standin b --messages "$T/big"
expect "recv --once: a message bigger than --limit-size names the option" 75 \
    "giving up after [0-9]+ retries: answer longer than 1148576 bytes .*raise --limit-size" \
    flespi-recv --url "$URL" --once --retry-wait 0.02 --limit-size 100000 1
timeout 20 flespi-recv --url "$URL" --once --limit-size 2000000 1 \
    >"$T/out" 2>"$T/err"
check "... and raising it gets the message" \
    all [ $? -eq 0 ] -- cmp -s "$T/big" "$T/out"

# --- 6. secrets others can read ---------------------------------------------
echo test-token >"$T/tok"; chmod 644 "$T/tok"
FLESPI_TOKEN= timeout 10 flespi-recv --url "$URL" --once --token-file \
    "$T/tok" --limit-size 2000000 1 >/dev/null 2>"$T/err"
check "a token file others can read: warned, naming it" \
    grep -q "$T/tok is readable by others" "$T/err"
echo "Authorization: Bearer x" >"$T/hdr"; chmod 640 "$T/hdr"
timeout 10 flespi-to-http --retries 0 --header-file "$T/hdr" \
    "http://127.0.0.1:$P/in" <"$T/in" >/dev/null 2>"$T/err"
check "a header file its group can read: warned, naming it" \
    grep -q "$T/hdr: .*readable by other" "$T/err"
chmod 600 "$T/hdr"
timeout 10 flespi-to-http --retries 0 --header-file "$T/hdr" \
    "http://127.0.0.1:$P/in" <"$T/in" >/dev/null 2>"$T/err"
if grep -q "readable" "$T/err"; then notok "a private header file: no warning"
else ok "a private header file: no warning"; fi
finish
