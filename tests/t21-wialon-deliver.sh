#!/usr/bin/env bash
# flespi-to-wialon against the strict test receiver: exact delivery,
# 100,000 messages through a receiver that drops the connection every
# 7,000 packets, a stalled receiver, a wrong ack byte, a receiver that
# comes up late, and giving up after --retries.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

# verify OUT COUNT MAXDUP: every seq at least once, first sightings in
# order per device, duplicates at most MAXDUP.  Prints a summary.
verify() {
	python3 - "$@" <<'EOF'
import json, sys
out, count, maxdup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen, last, dup, disorder = set(), {}, 0, 0
for line in open(out):
    r = json.loads(line)
    seq = [p[2] for p in r["params"] if p[0] == "seq"][0]
    if seq in seen:
        dup += 1
        continue
    seen.add(seq)
    if seq <= last.get(r["uid"], -1):
        disorder += 1
    last[r["uid"]] = seq
missing = count - len(seen)
print("records %d, missing %d, duplicates %d (max %d), out of order %d"
      % (len(seen) + dup, missing, dup, maxdup, disorder))
sys.exit(0 if missing == 0 and disorder == 0 and dup <= maxdup else 1)
EOF
}

# --- exact delivery, stop-and-wait, matches --dump decoded
python3 "$TESTS/genmsgs.py" 300 --devices 3 >"$T/real.json"
start_recv exact
$F2W --window 1 "127.0.0.1:$port" <"$T/real.json" 2>"$T/exact.err"
check "window 1: exit 0" test $? = 0
$F2W --dump <"$T/real.json" | python3 "$RECV" --decode-hex >"$T/exact.want"
diff_ok "window 1: the receiver decoded exactly what --dump encodes" \
    "$T/exact.want" "$T/exact.out"
kill $rpid

# --- 100,000 messages, the connection dropped every 7,000 packets
msgs 100000 7 >"$T/many.json"
start_recv many --drop-every 7000
$F2W --window 64 --retry-wait 0.02 -v "127.0.0.1:$port" <"$T/many.json" \
    2>"$T/many.err"
rc=$?
check "100k with drops: exit 0 ($rc)" test $rc = 0
drops=$(grep -c 'closing after' "$T/many.log")
check "100k with drops: the receiver dropped $drops times" test "$drops" -ge 14
if res=$(verify "$T/many.out" 100000 $((64 * drops))); then
	ok "100k with drops: every message, in order per device; $res"
else
	notok "100k with drops: $res"
fi
check "100k with drops: resends logged" grep -q 'unacknowledged packets again' "$T/many.err"
kill $rpid

# --- a stalled receiver: no ack within --ack-timeout, reconnect, resend
# (duplicates: at most the window then, which starts at 1024)
msgs 200 2 >"$T/stall.json"
start_recv stall --stall-after 50
$F2W --ack-timeout 0.5 --retry-wait 0.05 "127.0.0.1:$port" \
    <"$T/stall.json" 2>"$T/stall.err"
rc=$?
check "stalled receiver: exit 0 ($rc)" test $rc = 0
check "stalled receiver: ack timeout reported" grep -q 'no acknowledgement within 500 ms' "$T/stall.err"
if res=$(verify "$T/stall.out" 200 1024); then ok "stalled receiver: all delivered; $res"
else notok "stalled receiver: $res"; fi
kill $rpid

# --- a wrong acknowledgement byte
start_recv wrong --wrong-ack-after 30
$F2W --retry-wait 0.05 "127.0.0.1:$port" <"$T/stall.json" 2>"$T/wrong.err"
rc=$?
check "wrong ack byte: exit 0 ($rc)" test $rc = 0
check "wrong ack byte: reported" grep -q 'wrong acknowledgement byte 0x00' "$T/wrong.err"
if res=$(verify "$T/wrong.out" 200 1024); then ok "wrong ack byte: all delivered; $res"
else notok "wrong ack byte: $res"; fi
kill $rpid

# --- the receiver is down at start and comes up later on the same port
start_recv late
kill $rpid; wait $rpid 2>/dev/null
$F2W --retry-wait 0.1 "127.0.0.1:$port" <"$T/stall.json" 2>"$T/late.err" &
fpid=$!
wait_for 10 grep -q 'cannot connect' "$T/late.err" ||
    notok "late: no connection failure reported in time"
check "receiver down: connection refused reported" grep -q 'Connection refused' "$T/late.err"
python3 "$RECV" --port "$port" --out "$T/late.out" 2>>"$T/late.log" &
rpid=$!
wait $fpid
rc=$?
check "receiver up late: exit 0 ($rc)" test $rc = 0
if res=$(verify "$T/late.out" 200 0); then ok "receiver up late: all delivered; $res"
else notok "receiver up late: $res"; fi
kill $rpid

# --- the receiver goes away for good: --retries gives up, exit 75, and
# what was read but not acknowledged is in --failed, in order
start_recv gone --stall-after 100
$F2W --retries 2 --retry-wait 0.05 --ack-timeout 30 --failed "$T/gone.failed" \
    "127.0.0.1:$port" <"$T/many.json" 2>"$T/gone.err" &
fpid=$!
wait_for 10 has_lines "$T/gone.out" 100 ||
    notok "gone: the receiver did not get 100 packets in time"
kill $rpid; wait $rpid 2>/dev/null
wait $fpid
rc=$?
check "--retries 2, receiver gone: exit 75 ($rc)" test $rc = 75
check "--retries: giving up reported" grep -q 'giving up after 2 retries: cannot connect: ' "$T/gone.err"
n=$(wc -l <"$T/gone.failed")
check "--retries: window and buffered lines in --failed ($n)" test "$n" -ge 64
head -n 100 "$T/many.json" | cat - "$T/gone.failed" >"$T/gone.got"
head -n $((100 + n)) "$T/many.json" >"$T/gone.want"
diff_ok "--retries: acknowledged + failed = the input's first lines, in order" \
    "$T/gone.want" "$T/gone.got"
$F2W --retries 0 "127.0.0.1:$port" </dev/null 2>/dev/null
check "--retries 0 and nothing to send, nobody listening: exit 75" test $? = 75

# --- a host name and an IPv6 literal
start_recv named
$F2W "localhost:$port" <"$T/real.json" 2>"$T/named.err"
check "host name localhost: exit 0" test $? = 0
check "host name localhost: 300 delivered" test "$(wc -l <"$T/named.out")" = 300
kill $rpid

# IPv6: the strict receiver listens on 127.0.0.1 only, so a relay on
# [::1] passes each connection to it (and counts them).
start_recv six
python3 -c '
import select, socket, sys
ls = socket.socket(socket.AF_INET6)
ls.bind(("::1", 0))
ls.listen(4)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % ls.getsockname()[1])
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
n = 0
while True:
    c, _ = ls.accept()
    n += 1
    open(sys.argv[3], "w").write("%d\n" % n)
    u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    ends = {c: u, u: c}
    while ends:
        for s in select.select(list(ends), [], [])[0]:
            b = s.recv(65536)
            if not b:
                ends = {}
                break
            ends[s].sendall(b)
    c.close(); u.close()
' "$T/six.p6" "$port" "$T/six.conns" 2>"$T/six.relay" &
r6pid=$!
if p6=$(port_of "$T/six.p6"); then
	timeout 30 $F2W --window 1 --retries 2 --retry-wait 0.05 "[::1]:$p6" \
	    <"$T/real.json" 2>"$T/six.err"
	check "IPv6 [::1]: exit 0" test $? = 0
	check "IPv6 [::1]: one connection through the relay" \
	    test "$(cat "$T/six.conns" 2>/dev/null)" = 1
	diff_ok "IPv6 [::1]: the receiver decoded exactly what --dump encodes" \
	    "$T/exact.want" "$T/six.out"
else
	notok "IPv6: no relay on ::1" "$(cat "$T/six.relay")"
fi
kill $r6pid $rpid
finish
