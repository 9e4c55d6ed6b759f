#!/usr/bin/env bash
# flespi-to-wialon at the edges of its window: a packet half written when
# the connection drops is sent again whole; an acknowledgement of nothing
# sent is refused, not credited; the ack timer runs again after a partial
# ack (no hang at the end of input); after SIGTERM it keeps reading until
# the end of input.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

# --- flespi-to-wialon: big packets into a receiver that stops reading;
# the one half written at the ack timeout is sent again from its start.
python3 -c '
import sys
pad = "x" * 500000
for i in range(40):
    sys.stdout.write("{\"ident\":\"big\",\"timestamp\":1700000000,\"seq\":%d,\"pad\":\"%s\"}\n" % (i, pad))
' >"$T/big.json"
start_recv big --stall-after 2
timeout 30 $F2W --ack-timeout 0.5 --retry-wait 0.05 "127.0.0.1:$port" \
    <"$T/big.json" 2>"$T/big.err"
rc=$?
check "half-written packet at a drop: exit 0 ($rc)" test $rc = 0
check "... the receiver saw no malformed packet" \
    test "$(grep -c 'bad packet' "$T/big.log")" = 0
seqs "$T/big.out" | sort -n -u >"$T/big.seqs"
seq 0 39 >"$T/big.want"
diff_ok "... all 40 delivered" "$T/big.want" "$T/big.seqs"
kill $rpid

# --- an acknowledgement of nothing sent: refused (reconnect), not
# credited to a packet never sent.  The first connection acks its first
# packet twice; later ones are normal.
msgs 50 2 >"$T/dbl.json"
python3 -c '
import socket, struct, sys, threading
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(4)
out = open(sys.argv[2], "w")
lock = threading.Lock()
def serve(c, first):
    buf = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        buf += b
        acks = b""
        while len(buf) >= 4:
            n = struct.unpack_from("<I", buf)[0]
            if len(buf) < 4 + n:
                break
            with lock:
                out.write(buf[:4 + n].hex().upper() + "\n"); out.flush()
            buf = buf[4 + n:]
            acks += b"\x11\x11" if first else b"\x11"
            first = False
        c.sendall(acks)
    c.close()
open(sys.argv[1] + ".tmp", "w").write("%d\n" % ls.getsockname()[1])
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
first = True
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c, first), daemon=True).start()
    first = False
' "$T/dbl.port" "$T/dbl.hex" 2>"$T/dbl.log" &
dpid=$!
dport=$(port_of "$T/dbl.port") || notok "double-ack receiver did not start"
timeout 30 $F2W --window 1 --retry-wait 0.05 "127.0.0.1:${dport:-1}" \
    <"$T/dbl.json" 2>"$T/dbl.err"
rc=$?
check "ack of nothing sent: exit 0 ($rc)" test $rc = 0
check "... reported" grep -q 'acknowledgement of nothing sent' "$T/dbl.err"
python3 "$RECV" --decode-hex <"$T/dbl.hex" >"$T/dbl.out" 2>/dev/null
seqs "$T/dbl.out" | sort -n -u >"$T/dbl.seqs"
seq 0 49 >"$T/dbl.want"
diff_ok "... every message still delivered" "$T/dbl.want" "$T/dbl.seqs"
kill $dpid

# --- the ack timer after a partial ack: all 60 written at once, 30
# acknowledged, then silence: the timer must fire (reconnect, resend).
msgs 60 2 >"$T/part.json"
start_recv part --stall-after 30
s=$(date +%s)
timeout 20 $F2W --ack-timeout 0.3 --retry-wait 0.05 "127.0.0.1:$port" \
    <"$T/part.json" 2>"$T/part.err"
rc=$?
check "silence after a partial ack: exit 0 in $(( $(date +%s) - s )) s ($rc; 124: hung)" \
    test $rc = 0
seqs "$T/part.out" | sort -n -u >"$T/part.seqs"
seq 0 59 >"$T/part.want"
diff_ok "... all 60 delivered" "$T/part.want" "$T/part.seqs"
kill $rpid

# --- SIGTERM, then a producer that still writes (in bursts) before it
# ends: flespi-to-wialon keeps reading to end of input, delivers all.
start_recv burst
mkfifo "$T/bfifo"
python3 -c '
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for i in range(3000):
    sys.stdout.write("{\"ident\":\"d%d\",\"timestamp\":1700000000,\"seq\":%d}\n" % (i % 3, i))
    if i % 100 == 99:
        sys.stdout.flush()
        time.sleep(0.03)
' >"$T/bfifo" &
ppid=$!
timeout 30 $F2W "127.0.0.1:$port" <"$T/bfifo" 2>"$T/burst.err" &
fpid=$!
wait_for 10 has_lines "$T/burst.out" 300 || notok "burst: 300 not delivered in time"
kill -TERM $fpid
wait $fpid
rc=$?
wait $ppid
check "SIGTERM, producer still writing: exit 0 ($rc)" test $rc = 0
seqs "$T/burst.out" | sort -n -u >"$T/burst.seqs"
seq 0 2999 >"$T/burst.want"
diff_ok "... all 3000 lines delivered" "$T/burst.want" "$T/burst.seqs"
kill $rpid
finish
