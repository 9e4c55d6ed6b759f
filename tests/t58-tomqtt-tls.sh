#!/usr/bin/env bash
# flespi-to-mqtt over TLS to mosquitto: the broker's certificate verified
# with --cafile, --capath, or the system's store (which does not know the
# test CA: refused, 69; OpenSSL's SSL_CERT_FILE names the store); mutual
# TLS: no client certificate, or one from another CA, refused (69); ours
# delivered.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"
source "$TESTS/mosq.sh"

D=$T/m
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
cat >"$T/conf" <<'CONF'
per_listener_settings false
allow_anonymous true
max_queued_messages 1000000
listener @P1@ 127.0.0.1
cafile @D@/ca.pem
certfile @D@/server.pem
keyfile @D@/server.key
listener @P2@ 127.0.0.1
cafile @D@/ca.pem
certfile @D@/server.pem
keyfile @D@/server.key
require_certificate true
CONF
mosq_start "$D" "$T/conf" || { notok "mosquitto"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" 50 --devices 3 >"$T/in"
SUB=(-h localhost -p "$P1" --cafile "$D/ca.pem")

# deliver DESC CMD...: CMD (flespi-to-mqtt reading $T/in) exits 0 and a
# subscriber gets all 50 lines as they were read.
deliver() {
	local desc=$1 rc
	shift
	mosq_sub "$T/sub" 50 20 "${SUB[@]}" -t 'tls/#' || notok "$desc: subscriber"
	timeout 30 "$@" -t 'tls/{ident}' <"$T/in" 2>"$T/err"
	rc=$?
	wait "$SUB_PID"
	payloads "$T/sub" >"$T/got"
	if [ $rc -eq 0 ] && diff -q "$T/in" "$T/got" >/dev/null; then
		ok "$desc"
	else
		notok "$desc" "rc $rc" "$(head -3 "$T/err")"
	fi
}

deliver "mqtts:// with --cafile: all delivered" \
    flespi-to-mqtt "mqtts://localhost:$P1" --cafile "$D/ca.pem"
mkdir -p "$T/cadir" && cp "$D/ca.pem" "$T/cadir/" && openssl rehash "$T/cadir"
deliver "mqtts:// with --capath: all delivered" \
    flespi-to-mqtt "mqtts://localhost:$P1" --capath "$T/cadir"
deliver "mqtts:// with the system store (SSL_CERT_FILE): all delivered" \
    env SSL_CERT_FILE="$D/ca.pem" flespi-to-mqtt "mqtts://localhost:$P1"

timed timeout 30 flespi-to-mqtt "mqtts://localhost:$P1" --failed "$T/f1" \
    <"$T/in" 2>"$T/err"
check "the system store does not know the test CA: exit 69 (rc $rc, $ms ms)" \
    all [ $rc -eq 69 ] -- [ $ms -lt 15000 ]
check "... saying the certificate did not verify" \
    grep -q "certificate verify failed" "$T/err"
diff_ok "... every line in --failed" "$T/in" "$T/f1"
timeout 30 flespi-to-mqtt "mqtts://localhost:$P1" --cafile "$D/other-ca.pem" \
    <"$T/in" 2>"$T/err"
check "another CA: exit 69" [ $? -eq 69 ]

# Mutual TLS.
deliver "mutual TLS with --cert and --key: all delivered" \
    flespi-to-mqtt "mqtts://localhost:$P2" --cafile "$D/ca.pem" \
    --cert "$D/client.pem" --key "$D/client.key"
timed timeout 30 flespi-to-mqtt "mqtts://localhost:$P2" --cafile "$D/ca.pem" \
    <"$T/in" 2>"$T/err"
check "mutual TLS without a client certificate: exit 69 (rc $rc)" \
    [ $rc -eq 69 ]
check "... naming the handshake or the certificate" \
    grep -qiE "TLS handshake|certificate" "$T/err"
timeout 30 flespi-to-mqtt "mqtts://localhost:$P2" --cafile "$D/ca.pem" \
    --cert "$D/other.pem" --key "$D/other.key" <"$T/in" 2>"$T/err"
check "mutual TLS with a certificate of another CA: exit 69" [ $? -eq 69 ]

# TLS options need mqtts://.
flespi-to-mqtt "mqtt://localhost:$P1" --cafile "$D/ca.pem" </dev/null \
    2>"$T/err"
check "--cafile with mqtt://: exit 64, naming mqtts://" \
    all [ $? -eq 64 ] -- grep -q "mqtts://" "$T/err"
flespi-to-mqtt "mqtts://localhost:$P2" --cert "$D/client.pem" </dev/null \
    2>"$T/err"
check "--cert without --key: exit 64" [ $? -eq 64 ]
mosq_stop
finish
