#!/usr/bin/env bash
# flespi-to-aws: AWS throttles by never sending the PUBACK.  A peer that
# acknowledges nothing on the first connection: the watchdog must
# reconnect, the library resends, the second connection acknowledges.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/b
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
cat >"$T/peer.py" <<'PY'
# A minimal MQTT 3.1.1 server over mutual TLS: CONNACK everything, log
# "CONN topic payload" for each PUBLISH, PUBACK only from connection 2 on.
# Modes: "refuse" answers CONNECT with CONNACK 5 (not authorized),
# "close" closes the connection on CONNECT, "drop" on the first PUBLISH
# (AWS's answer to a publish its policy denies), "never" sends no PUBACK
# at all.
import socket, ssl, sys, threading
d, portfile, log = sys.argv[1], sys.argv[2], open(sys.argv[3], "a")
mode = sys.argv[4] if len(sys.argv) > 4 else "throttle"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + "/server.pem", d + "/server.key")
ctx.load_verify_locations(d + "/ca.pem")
ctx.verify_mode = ssl.CERT_REQUIRED
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
lock = threading.Lock()

def readn(c, n):
    b = b""
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            raise EOFError
        b += x
    return b

def serve(c, num):
    try:
        while True:
            h = readn(c, 1)[0]
            mult, n = 1, 0
            while True:
                x = readn(c, 1)[0]
                n += (x & 127) * mult
                mult *= 128
                if x < 128:
                    break
            body = readn(c, n)
            kind = h >> 4
            if kind == 1 and mode == "refuse":
                c.sendall(b"\x20\x02\x00\x05")
            elif kind == 1 and mode == "close":
                break
            elif kind == 1:
                c.sendall(b"\x20\x02\x00\x00")
            elif kind == 3:
                tl = body[0] << 8 | body[1]
                topic = body[2:2 + tl].decode()
                rest = body[2 + tl:]
                if h & 6:
                    mid, payload = rest[:2], rest[2:]
                else:
                    mid, payload = None, rest
                with lock:
                    log.write("%d %s %s\n" % (num, topic, payload.decode()))
                    log.flush()
                if mode == "drop":
                    break
                if mid is not None and num > 1 and mode != "never":
                    c.sendall(b"\x40\x02" + mid)
            elif kind == 12:
                c.sendall(b"\xd0\x00")
            elif kind == 14:
                break
    except (EOFError, OSError):
        pass
    c.close()

open(portfile, "w").write(str(srv.getsockname()[1]))
num = 0
while True:
    s, _ = srv.accept()
    try:
        c = ctx.wrap_socket(s, server_side=True)
    except (ssl.SSLError, OSError):
        s.close()
        continue
    num += 1
    threading.Thread(target=serve, args=(c, num), daemon=True).start()
PY
python3 "$T/peer.py" "$D" "$T/port" "$T/log" &
port=$(port_of "$T/port") || { notok "peer started"; finish; exit 1; }

python3 "$TESTS/genmsgs.py" 5 >"$T/in"
s=$(date +%s)
timeout 30 flespi-to-aws --endpoint localhost --port "$port" \
    --cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key" \
    --ack-timeout 1 -v <"$T/in" 2>"$T/err"
rc=$?
check "exit 0 once the second connection acknowledges" [ $rc -eq 0 ]
check "... within 10 s" [ $(( $(date +%s) - s )) -le 10 ]
check "the watchdog said so (-v)" grep -q "no PUBACK for .* reconnecting" "$T/err"
grep '^1 ' "$T/log" | cut -d' ' -f3- >"$T/first"
grep '^2 ' "$T/log" | cut -d' ' -f3- >"$T/second"
diff_ok "all 5 sent on the first connection" "$T/in" "$T/first"
diff_ok "all 5 resent on the second, in order" "$T/in" "$T/second"

# CONNACK "not authorized": refused, exit 69 at once.
python3 "$T/peer.py" "$D" "$T/port2" "$T/log2" refuse &
port=$(port_of "$T/port2")
timeout 30 flespi-to-aws --endpoint localhost --port "$port" \
    --cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key" \
    <"$T/in" 2>"$T/err"
rc=$?
check "CONNACK refused: exit 69" [ $rc -eq 69 ]
check "... naming the reason" grep -q "connection refused .*authori" "$T/err"

# Closed before CONNACK, again and again (AWS's answer to a CONNECT its
# policy denies): 69 after three attempts.
python3 "$T/peer.py" "$D" "$T/port3" "$T/log3" close &
port=$(port_of "$T/port3")
s=$(date +%s)
timeout 30 flespi-to-aws --endpoint localhost --port "$port" \
    --cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key" \
    <"$T/in" 2>"$T/err"
rc=$?
check "closed before CONNACK three times: exit 69" [ $rc -eq 69 ]
check "... saying so" grep -q "closed the connection before CONNACK" "$T/err"
check "... after backing off (>= 1 s: 0.5 s, then 1 s)" [ $(( $(date +%s) - s )) -ge 1 ]

# Dropped at every publish (a topic the policy denies): 69, not a loop.
python3 "$T/peer.py" "$D" "$T/port4" "$T/log4" drop &
port=$(port_of "$T/port4")
timeout 30 flespi-to-aws --endpoint localhost --port "$port" \
    --cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key" \
    --failed "$T/failed4" <"$T/in" 2>"$T/err"
rc=$?
check "dropped at every publish: exit 69" [ $rc -eq 69 ]
check "... asking about the policy" grep -q "iot:Publish" "$T/err"
diff_ok "... the undelivered in the failed file" "$T/in" "$T/failed4"

# A broker that never sends a PUBACK: each watchdog in a row counts
# against --retries, so the run gives up instead of resending for ever.
python3 "$T/peer.py" "$D" "$T/port5" "$T/log5" never &
port=$(port_of "$T/port5")
timed timeout 60 flespi-to-aws --endpoint localhost --port "$port" \
    --cafile "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key" \
    --retries 1 --ack-timeout 1 --retry-wait 0.1 --failed "$T/failed5" \
    <"$T/in" 2>"$T/err"
check "no PUBACK ever, --retries 1: exit 75 ($rc) in $ms ms (< 10000)" \
    test $rc = 75 -a $ms -lt 10000
check "... giving up after 1 retry, saying why" \
    grep -q 'giving up after 1 retry: no PUBACK for' "$T/err"
diff_ok "... every line in the failed file" "$T/in" "$T/failed5"
check "... 2 connections, not a loop ($(cut -d' ' -f1 "$T/log5" | sort -u | wc -l))" \
    test "$(cut -d' ' -f1 "$T/log5" | sort -u | wc -l)" = 2
finish
