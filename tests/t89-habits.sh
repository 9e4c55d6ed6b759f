#!/usr/bin/env bash
# Habits from curl and mosquitto_pub (issue 21), as a new user types them:
# each either works, documented, or fails loudly with 64 and a hint --
# never a silent exit 0.  Long options match whole (no abbreviations),
# -h and -V stand alone, -q is --quiet everywhere, a HOST:PORT that cannot
# be one is refused at parse time, --dump and --decode show what would
# be sent.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token

# refused DESC HINT CMD...: exits 64 at once, nothing on stdout, and says
# HINT (an extended regex) on stderr.
refused() {
	local desc=$1 hint=$2
	shift 2
	timed timeout 10 "$@" </dev/null >"$T/o" 2>"$T/e"
	if [ $rc = 64 ] && [ ! -s "$T/o" ] && grep -qE -- "$hint" "$T/e" &&
	    [ $ms -lt 5000 ]; then
		ok "$desc: 64 ($ms ms)"
	else
		notok "$desc: 64" "rc $rc, $ms ms" "$(head -3 "$T/e")"
	fi
}

# --- abbreviations are not taken; the near miss is named
refused "flespi-to-http --retry-w 2 (an abbreviation)" \
    'unknown option --retry-w; did you mean --retry-wait SECS' \
    flespi-to-http --retry-w 2 http://127.0.0.1:1/
refused "flespi-to-wialon --stat k (an abbreviation of --state)" \
    'unknown option --stat; did you mean --state FILE' \
    flespi-to-wialon --stat k 127.0.0.1:1
refused "flespi-recv --limit 100 (an abbreviation)" \
    'did you mean --limit-count N or --limit-size BYTES' \
    flespi-recv --limit 100 1
refused "flespi-to-http --fail (curl's)" \
    'unknown option --fail: an HTTP error is a failure here already' \
    flespi-to-http --fail http://127.0.0.1:1/
refused "flespi-to-http -s (curl's silent)" "curl's -s is -q" \
    flespi-to-http -s http://127.0.0.1:1/
refused "flespi-to-http -k (curl's insecure)" 'cannot be turned off' \
    flespi-to-http -k https://127.0.0.1:1/

# ... curl's --retry N means our --retries N: an alias, documented
msgs 3 1 >"$T/in"
timed flespi-to-http --retry 0 --retry-wait 0.01 http://127.0.0.1:1/ \
    <"$T/in" >/dev/null 2>"$T/e"
check "flespi-to-http --retry 0 (curl's): gives up at once, exit 75 ($rc)" \
    all test $rc = 75 -- grep -q 'giving up after 0 retries' "$T/e"

# --- -h and -V stand alone
refused "flespi-to-aws -h localhost -p 8883 (mosquitto_pub's host)" \
    '-h is --help and takes nothing else \(mosquitto_pub.s -h HOST is --endpoint HOST here\)' \
    flespi-to-aws -h localhost -p 8883 --cafile x --cert y --key z
refused "flespi-recv --mqtt -h mqtt.flespi.io (mosquitto_sub's host)" \
    'is --url mqtts://HOST' flespi-recv --mqtt -h mqtt.flespi.io 1
refused "flespi-to-wialon -h host:20163" \
    '-h is --help and takes nothing else' flespi-to-wialon -h 127.0.0.1:1
refused "flespi-to-aws -V 5 (mosquitto_pub's protocol version)" \
    '--mqtt-version VERSION' flespi-to-aws -V 5 --endpoint x
for c in flespi-recv flespi-to-wialon flespi-to-aws flespi-to-http; do
	$c -h >"$T/o" 2>"$T/e"
	check "$c -h alone: the help, exit 0 ($?)" \
	    all test -s "$T/o" -- test ! -s "$T/e"
done
flespi-recv --mqtt --help >"$T/o" 2>"$T/e"
check "flespi-recv --mqtt --help: push mode's help" grep -q -- '--session' "$T/o"

# --- the pipeline of the issue: nothing published, and both stages say so
standin s --messages "$T/in"
flespi-recv --once --url "$URL" 1 2>"$T/r.err" |
    flespi-to-aws -h localhost -p 8883 --cafile x --cert y --key z \
    2>"$T/a.err"
rcs=("${PIPESTATUS[@]}")
check "recv | flespi-to-aws -h localhost: the forwarder exits 64 (${rcs[1]})" \
    test "${rcs[1]}" = 64
check "... naming --endpoint" grep -q -- '--endpoint HOST' "$T/a.err"

# --- -q is --quiet in every tool; mosquitto_pub's -q QOS gets the hint
refused "flespi-to-aws -q 1 (mosquitto_pub's QoS)" \
    '-q 1: -q is --quiet here; mosquitto_pub.s -q QOS is --qos QOS' \
    flespi-to-aws -q 1 --endpoint x
refused "flespi-recv --mqtt -q 1" '-q is --quiet here' \
    flespi-recv --mqtt -q 1 7
start_recv q
flespi-to-wialon -q "127.0.0.1:$port" <"$T/in" 2>"$T/e"
check "flespi-to-wialon -q: exit 0, nothing on stderr" \
    all test $? = 0 -- test ! -s "$T/e"
kill $rpid

# --- peer typos: refused at parse time, in every tool
refused "flespi-to-wialon 127.0.0.1:35957:99" "'35957:99' is not a port" \
    flespi-to-wialon 127.0.0.1:35957:99
refused "flespi-to-wialon host:port" "'port' is not a port" \
    flespi-to-wialon example.com:port
refused "flespi-to-aws --endpoint 127.0.0.1:35957:99" \
    'not a host name|--port' flespi-to-aws --endpoint 127.0.0.1:35957:99 \
    --cafile x --cert y --key z
refused "flespi-to-http http://127.0.0.1:35957:99/" 'not a URL' \
    flespi-to-http http://127.0.0.1:35957:99/
refused "flespi-recv --url http://127.0.0.1:35957:99" 'is not a URL' \
    flespi-recv --url http://127.0.0.1:35957:99 1
refused "flespi-recv --mqtt --url mqtts://127.0.0.1:35957:99" \
    'is not mqtts://HOST' flespi-recv --mqtt --url mqtts://127.0.0.1:35957:99 1

# --- dry runs: what would be sent, without connecting
python3 "$TESTS/genmsgs.py" 3 >"$T/g"
flespi-to-wialon --dump text <"$T/g" >"$T/d1" 2>&1
flespi-to-wialon --dump=text <"$T/g" >"$T/d2" 2>&1
check "flespi-to-wialon --dump text (a space) is --dump=text" \
    all cmp -s "$T/d1" "$T/d2" -- grep -q '^uid 352625066004561 time' "$T/d1"
flespi-to-wialon --dump <"$T/g" >"$T/hex"
flespi-to-wialon --decode <"$T/hex" >"$T/dec"
diff_ok "flespi-to-wialon --decode reads --dump's hex back to its text" \
    "$T/d2" "$T/dec"
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().replace("\n", "")))' \
    <"$T/hex" >"$T/raw"
flespi-to-wialon --decode <"$T/raw" >"$T/dec2"
diff_ok "... and the raw bytes of a capture" "$T/d2" "$T/dec2"
head -c 50 "$T/raw" | flespi-to-wialon --decode >/dev/null 2>"$T/e"
check "... a cut-off packet: exit 65, said" \
    all test ${PIPESTATUS[1]} = 65 -- grep -q 'says 6[0-9][0-9] bytes, 50 are left' "$T/e"
flespi-to-aws --dump --topic 'fleet/{ident}' <"$T/g" >"$T/aws"
check "flespi-to-aws --dump: topic and payload, as mosquitto_sub -v" \
    all test "$(wc -l <"$T/aws")" = 3 -- \
    grep -q '^fleet/352625066004561 {"ident":"352625066004561",' "$T/aws"
printf 'Authorization: Bearer sekret\n' >"$T/hdr"; chmod 600 "$T/hdr"
flespi-to-http --dump --batch 2 --header-file "$T/hdr" -H 'X-Trace: 7' \
    https://u:pw@example.com/in <"$T/g" >"$T/http"
check "flespi-to-http --dump: a request line per batch" \
    test "$(grep -c '^POST https://\*\*\*@example.com/in HTTP/1.1$' "$T/http")" = 2
check "... secrets as ***, the rest as given" \
    all grep -q '^Authorization: \*\*\*$' "$T/http" -- \
    grep -q '^X-Trace: 7$' "$T/http" -- bash -c "! grep -q 'sekret\|pw' '$T/http'"
check "... and the body" grep -q '^\[{"ident":"352625066004561"' "$T/http"
flespi-to-http --dump https://example.com/in <"$T/g" | head -1 >/dev/null
check "flespi-to-http --dump | head -1: exit 0 (${PIPESTATUS[0]})" \
    test "${PIPESTATUS[0]}" = 0
finish
