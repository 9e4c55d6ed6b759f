#!/usr/bin/env bash
# flespi-to-wialon pointed at something that is not a Retranslator server
# (an HTTP port answering "HTTP/1.1 400 Bad Request"): after 3 connections
# in a row whose first byte back is not an ack it exits 69 naming host and
# port and what came back, instead of retrying for ever; an ack between
# such answers starts the count anew.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

# peer NAME MODE,MODE...: a fake peer answering connection i as MODE i
# (the last one repeats): http - "HTTP/1.1 400" at the first bytes, then
# close; ack - 0x11 for every packet; ack1http - 0x11 for the first
# packet, then the HTTP answer.  Logs one line per connection to
# $T/NAME.conns.  Sets port, ppid_.
peer() {
	rm -f "$T/$1.port"
	python3 -c '
import socket, sys
portfile, modes, log = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
HTTP = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(8)
open(portfile, "w").write("%d\n" % s.getsockname()[1])
n = 0
while True:
    c, _ = s.accept()
    mode = modes[min(n, len(modes) - 1)]
    n += 1
    with open(log, "a") as f:
        f.write("%d %s\n" % (n, mode))
    buf, acked = b"", 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        if mode == "http":
            c.sendall(HTTP)
            break
        buf += d
        while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "little"):
            buf = buf[4 + int.from_bytes(buf[:4], "little"):]
            acked += 1
            if mode == "ack1http" and acked > 1:
                c.sendall(HTTP)
                break
            c.sendall(b"\x11")
        else:
            continue
        break
    c.close()
' "$T/$1.port" "$2" "$T/$1.conns" 2>>"$T/$1.log" &
	ppid_=$!
	port=$(port_of "$T/$1.port") || { notok "peer $1 did not start"; finish; exit 1; }
}

msgs 2 1 >"$T/m.json"

# --- an HTTP port: refused after 3 connections, not retried for ever
peer http http
timeout 20 $F2W --retry-wait 0.01 --failed "$T/http.failed" \
    "127.0.0.1:$port" <"$T/m.json" 2>"$T/http.err"
rc=$?
check "HTTP peer: exit 69 ($rc)" test $rc = 69
check "HTTP peer: says host:port does not speak Retranslator" \
    grep -q "127.0.0.1:$port does not speak Wialon Retranslator" "$T/http.err"
check "HTTP peer: shows what came back" \
    grep -q 'starting 0x48: "HTTP/1.1 400 Bad Request"$' "$T/http.err"
n=$(wc -l <"$T/http.conns")
check "HTTP peer: 3 connections, no more ($n)" test "$n" = 3
check "HTTP peer: both lines in the failed file" diff -q "$T/m.json" "$T/http.failed"
kill $ppid_; wait $ppid_ 2>/dev/null

# --- a real ack between wrong answers starts the count anew
peer reset http,http,ack1http,http,http,ack
timeout 20 $F2W --retry-wait 0.01 "127.0.0.1:$port" <"$T/m.json" \
    2>"$T/reset.err"
rc=$?
check "ack between: exit 0 ($rc)" test $rc = 0
n=$(wc -l <"$T/reset.conns")
check "ack between: delivered on connection 6 ($n)" test "$n" = 6
check "ack between: not refused" sh -c "! grep -q 'does not speak' '$T/reset.err'"
kill $ppid_; wait $ppid_ 2>/dev/null
finish
