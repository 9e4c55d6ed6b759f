#!/usr/bin/env bash
# flespi-to-aws connects without blocking its loop (libmosquitto's async
# connect): --connect-timeout bounds the TCP connect too, a reset in the
# middle of the TLS handshake ends the attempt at once, and a name whose
# first address refuses is tried at its others.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/b
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
TLS=(--cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key")
python3 "$TESTS/genmsgs.py" 5 >"$T/in"

# A listener whose accept queue is full: the kernel drops further SYNs,
# so connect(2) would wait for its own timeout (about two minutes).
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
held = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    c.connect_ex(s.getsockname()); held.append(c)
time.sleep(0.2)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
time.sleep(600)
' "$T/full.port" &
port=$(port_of "$T/full.port")
timed timeout 60 flespi-to-aws --endpoint 127.0.0.1 --port "$port" "${TLS[@]}" \
    --connect-timeout 0.5 --retries 1 --retry-wait 0.1 <"$T/in" 2>"$T/err1"
check "SYNs dropped, --connect-timeout 0.5 --retries 1: 75 in ${ms} ms (rc $rc)" \
    test $rc -eq 75 -a $ms -lt 5000
check "... each attempt timed out, saying so" \
    test "$(grep -c 'no CONNACK within 500 ms' "$T/err1")" -eq 2

# A peer that resets the connection on the ClientHello: closed before
# CONNACK three times in a row, refused (69), without waiting for the
# connect timeout of each attempt.
python3 -c '
import socket, struct, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
while True:
    c, _ = s.accept()
    c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
' "$T/rst.port" &
port=$(port_of "$T/rst.port")
timed timeout 60 flespi-to-aws --endpoint 127.0.0.1 --port "$port" "${TLS[@]}" \
    --connect-timeout 20 --retry-wait 0.1 <"$T/in" 2>"$T/err2"
check "reset in the TLS handshake: 69 in ${ms} ms (rc $rc)" \
    test $rc -eq 69 -a $ms -lt 10000
check "... closed before CONNACK 3 times, it says" \
    grep -q "closed the connection before CONNACK 3 times" "$T/err2"
check "... each reset reported with its retry" \
    test "$(grep -c 'cannot connect to 127.0.0.1 port .*: Connection reset by peer; retry' "$T/err2")" -eq 2

# localhost as ::1 first, then 127.0.0.1 (a private /etc/hosts), with the
# broker on 127.0.0.1 only: the async connect to ::1 is refused, the other
# address is tried.  Needs a mount namespace (root).
if unshare -m true 2>/dev/null; then
	printf '::1 localhost\n127.0.0.1 localhost\n' >"$T/hosts"
	broker_start "$D"
	broker_sub "$D" t38 5 20 "$T/sub"
	timeout 60 unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift &&
	    exec "$@"' sh "$T/hosts" flespi-to-aws -v --endpoint localhost \
	    --port "$BROKER_PORT" "${TLS[@]}" --retries 0 <"$T/in" 2>"$T/err3"
	rc=$?
	check "localhost as ::1 and 127.0.0.1, broker on 127.0.0.1: exit 0 (rc $rc)" \
	    [ $rc -eq 0 ]
	check "... ::1 refused, every address tried (-v)" \
	    grep -q "first address: Connection refused; trying every address" \
	    "$T/err3"
	wait "$SUB_PID"
	check "... the subscriber has all 5" [ "$(lines "$T/sub")" = 5 ]
else
	skip "localhost as ::1 and 127.0.0.1 (needs unshare -m: root)"
fi
finish
