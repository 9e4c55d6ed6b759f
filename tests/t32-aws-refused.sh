#!/usr/bin/env bash
# flespi-to-aws: refused by the broker (certificates) exits 69 at once;
# a broker that is down is retried, and --retries gives up with 75.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" 20 >"$T/in"

# The stand-in refuses what AWS refuses.
mosquitto_pub -h localhost -p "$BROKER_PORT" --cafile "$D/ca.pem" -q 1 \
    -t x -m x >/dev/null 2>&1
check "broker refuses a client without a certificate" [ $? -ne 0 ]

s=$(date +%s)
timeout 30 flespi-to-aws --endpoint localhost --port "$BROKER_PORT" \
    --cafile "$D/ca.pem" --cert "$D/other.pem" --key "$D/other.key" \
    <"$T/in" 2>"$T/err"
rc=$?
check "client certificate from another CA: exit 69" [ $rc -eq 69 ]
check "... within 15 s" [ $(( $(date +%s) - s )) -le 15 ]
check "... with a clear error" grep -q "^flespi-to-aws: .*certificate" "$T/err"

timeout 30 flespi-to-aws --endpoint localhost --port "$BROKER_PORT" \
    --cafile "$D/other-ca.pem" --cert "$D/client.pem" --key "$D/client.key" \
    <"$T/in" 2>"$T/err"
rc=$?
check "server certificate not trusted: exit 69" [ $rc -eq 69 ]
check "... saying so" grep -q "certificate verify failed" "$T/err"

# The key of another certificate: a local mistake, found before connecting.
timeout 30 flespi-to-aws --endpoint localhost --port "$BROKER_PORT" \
    --cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/other.key" \
    <"$T/in" 2>"$T/err"
rc=$?
check "key does not match the certificate: exit 64" [ $rc -eq 64 ]
check "... naming the key file" grep -q -- "--key: '$D/other.key' is not the key" "$T/err"

# An unreadable --cert, as a user who cannot read it: root reads
# everything, so as root this part runs as nobody, on copies in a
# directory nobody can enter.
U=$T/user
mkdir -p "$U" && cp "$D/ca.pem" "$D/client.pem" "$D/client.key" "$U"/
chmod 000 "$U/client.pem"
as_user=
if [ "$(id -u)" -eq 0 ]; then
	chmod 711 "$T" && chmod 755 "$U" && chmod 644 "$U/ca.pem" "$U/client.key"
	as_user="setpriv --reuid=65534 --regid=65534 --clear-groups --"
fi
$as_user "$(command -v flespi-to-aws)" $(broker_aws_args "$U") <"$T/in" 2>"$T/err"
rc=$?
check "unreadable --cert: exit 64 (${as_user:+as nobody, }$rc)" [ $rc -eq 64 ]
check "... naming the file" grep -q -- "--cert: cannot read" "$T/err"

# Broker down: retried with backoff, then given up.
broker_stop
s=$(date +%s)
timeout 30 flespi-to-aws $(broker_aws_args "$D") --retries 2 \
    --failed "$T/failed" <"$T/in" 2>"$T/err"
rc=$?
check "broker down, --retries 2: exit 75" [ $rc -eq 75 ]
check "... after a backoff of at least 1 s" [ $(( $(date +%s) - s )) -ge 1 ]
check "... saying it gave up" grep -q "giving up after 2 retries: " "$T/err"
diff_ok "... every line in the failed file" "$T/in" "$T/failed"
finish
