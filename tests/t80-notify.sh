#!/usr/bin/env bash
# systemd's notification protocol (notify.c, health.c) against a local
# datagram socket standing in for $NOTIFY_SOCKET (tests/notify_listener.py),
# abstract (@NAME) and a path: READY=1 once the first round trip succeeded
# (a forwarder: its peer's connection; flespi-recv: the first answer, or
# --mqtt's SUBACK) and not before, STATUS= with the counts, WATCHDOG=1 at
# half of $WATCHDOG_USEC only when the watchdog is the tool's, STOPPING=1
# when a drain starts, in that order; nothing at all without
# $NOTIFY_SOCKET; a bad $NOTIFY_SOCKET is a warning, not a failure.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token

# listen SOCKET NAME: a stand-in notification socket; its datagrams go to
# $T/NAME.dg, one a line (assignments joined with '|').
listen() {
	rm -f "$T/$2.ready"
	: >"$T/$2.dg"
	python3 "$TESTS/notify_listener.py" --idle 120 "$1" "$T/$2.ready" \
	    "$T/$2.dg" &
	wait_for 10 test -e "$T/$2.ready" || notok "listener $2 did not start"
}
# lineof PATTERN FILE: the number of the first line matching (ERE), or 0.
lineof() { awk -v p="$1" '$0 ~ p { print NR; f = 1; exit } END { if (!f) print 0 }' "$2"; }
count() { grep -c -E -- "$1" "$2"; }
# order NAME: READY once, STOPPING once and after it, no bad datagram.
order() {
	local f=$T/$1.dg r s
	r=$(lineof '^READY=1$' "$f"); s=$(lineof '^STOPPING=1$' "$f")
	check "$1: READY=1 once ($(count '^READY=1$' "$f")), STOPPING=1 once ($(count '^STOPPING=1$' "$f")), READY first (lines $r, $s)" \
	    all test "$(count '^READY=1$' "$f")" = 1 -- \
	    test "$(count '^STOPPING=1$' "$f")" = 1 -- test "$r" -gt 0 -- \
	    test "$s" -gt "$r"
	check "$1: every datagram is VAR=VALUE lines" test "$(count '^BAD' "$f")" = 0
	[ $_failed -eq 0 ] || sed 's/^/#   /' "$f" | head -20
}

# ---- a forwarder, abstract socket: READY after connecting, the counts,
# the watchdog at 200 ms, STOPPING on SIGTERM
AB=@fp-notify-$$-$RANDOM
listen "$AB" fwd
start_recv w
mkfifo "$T/in.fifo"
NOTIFY_SOCKET=$AB WATCHDOG_USEC=400000 flespi-to-wialon "127.0.0.1:$port" \
    <"$T/in.fifo" 2>"$T/fwd.err" &
fpid=$!
exec 3>"$T/in.fifo"
wait_for 10 grep -q '^READY=1$' "$T/fwd.dg"
check "forwarder: READY=1 once connected, before any message" \
    all grep -q '^READY=1$' "$T/fwd.dg" -- test ! -s "$T/w.out"
msgs 100 2 >&3
wait_for 10 has_lines "$T/w.out" 100 || notok "100 messages did not arrive"
wait_for 10 grep -q '^STATUS=flespi-to-wialon: 100 delivered, 0 failed, 0 rejected' "$T/fwd.dg"
check "forwarder: STATUS= says 100 delivered" \
    grep -q '^STATUS=flespi-to-wialon: 100 delivered, 0 failed, 0 rejected' "$T/fwd.dg"
n0=$(count '^WATCHDOG=1$' "$T/fwd.dg")
sleep 1.2
n1=$(count '^WATCHDOG=1$' "$T/fwd.dg")
check "forwarder: WATCHDOG=1 every 200 ms (half of WATCHDOG_USEC): $((n1 - n0)) in 1.2 s" \
    test $((n1 - n0)) -ge 4 -a $((n1 - n0)) -le 8
kill -TERM $fpid
exec 3>&-
wait $fpid
rc=$?
wait_for 5 grep -q '^STOPPING=1$' "$T/fwd.dg"
check "forwarder: SIGTERM, exit 0 ($rc)" test $rc = 0
order fwd
s=$(lineof '^STOPPING=1$' "$T/fwd.dg")
check "forwarder: STOPPING=1 after the STATUS= of the 100" \
    test "$s" -gt "$(lineof '100 delivered' "$T/fwd.dg")"
check "forwarder: silent on stderr" test ! -s "$T/fwd.err"
kill $rpid

# ---- no peer: the loop is alive (WATCHDOG=1), but no READY=1
listen "$T/np.sock" np
free=$(free_ports 1)
(sleep 3; msgs 1 1) | NOTIFY_SOCKET=$T/np.sock WATCHDOG_USEC=200000 \
    flespi-to-wialon --retries 100 "127.0.0.1:$free" >/dev/null 2>"$T/np.err" &
npid=$!
wait_for 10 test "$(count '^WATCHDOG=1$' "$T/np.dg")" -ge 5
sleep 0.5
check "no peer: WATCHDOG=1 ($(count '^WATCHDOG=1$' "$T/np.dg")) but no READY=1" \
    all test "$(count '^WATCHDOG=1$' "$T/np.dg")" -ge 5 -- \
    test "$(count '^READY=1$' "$T/np.dg")" = 0
check "no peer: STATUS= says connecting" grep -q '^STATUS=.*, connecting$' "$T/np.dg"
kill -TERM $npid
wait $npid

# ---- WATCHDOG_PID names another process, or no WATCHDOG_USEC: no pings
listen "@fp-notify-pid-$$" pid
(msgs 5 1; sleep 1.5) | NOTIFY_SOCKET=@fp-notify-pid-$$ WATCHDOG_USEC=100000 \
    WATCHDOG_PID=$$ flespi-to-wialon --dump >/dev/null 2>"$T/pid.err"
rc=$?
check "WATCHDOG_PID of another process: READY=1, no WATCHDOG=1, exit 0 ($rc)" \
    all test $rc = 0 -- grep -q '^READY=1$' "$T/pid.dg" -- \
    test "$(count '^WATCHDOG=1$' "$T/pid.dg")" = 0
listen "@fp-notify-nowd-$$" nowd
(msgs 5 1; sleep 1.5) | NOTIFY_SOCKET=@fp-notify-nowd-$$ WATCHDOG_PID= \
    flespi-to-wialon --dump >/dev/null 2>&1
check "no WATCHDOG_USEC: READY=1, no WATCHDOG=1" \
    all grep -q '^READY=1$' "$T/nowd.dg" -- \
    test "$(count '^WATCHDOG=1$' "$T/nowd.dg")" = 0
listen "@fp-notify-own-$$" own
(msgs 5 1; sleep 1.5) | NOTIFY_SOCKET=@fp-notify-own-$$ WATCHDOG_USEC=200000 \
    sh -c 'WATCHDOG_PID=$$ exec flespi-to-wialon --dump' >/dev/null 2>&1
check "WATCHDOG_PID of the tool itself: WATCHDOG=1 ($(count '^WATCHDOG=1$' "$T/own.dg"))" \
    test "$(count '^WATCHDOG=1$' "$T/own.dg")" -ge 3

# ---- flespi-recv, a socket path: READY=1 with the first answer (the
# stand-in answers after 1 s), STOPPING=1 on SIGTERM
msgs 300 3 >"$T/300"
standin r --messages "$T/300" --delay 1
listen "$T/recv.sock" recv
s0=$(date +%s%N)
NOTIFY_SOCKET=$T/recv.sock flespi-recv --url "$URL" 1 >"$T/recv.out" 2>"$T/recv.err" &
rpid2=$!
sleep 0.6
check "flespi-recv: no READY=1 before the first answer" \
    test "$(count '^READY=1$' "$T/recv.dg")" = 0
wait_for 10 grep -q '^READY=1$' "$T/recv.dg"
check "flespi-recv: READY=1 with the first answer ($(ms_since $s0) ms)" \
    grep -q '^READY=1$' "$T/recv.dg"
wait_for 10 has_lines "$T/recv.out" 300
wait_for 10 grep -q '^STATUS=flespi-recv: 300 delivered' "$T/recv.dg"
check "flespi-recv: STATUS= says 300 delivered" \
    grep -q '^STATUS=flespi-recv: 300 delivered, 0 failed, 0 rejected' "$T/recv.dg"
kill -TERM $rpid2
wait $rpid2
rc=$?
wait_for 5 grep -q '^STOPPING=1$' "$T/recv.dg"
check "flespi-recv: SIGTERM, exit 0 ($rc)" test $rc = 0
order recv

# ---- flespi-recv --mqtt: READY=1 once subscribed (SUBACK)
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=goodtoken
if mq_start "$T/mq"; then
	mq_cmd
	listen "@fp-notify-mq-$$" mq
	NOTIFY_SOCKET=@fp-notify-mq-$$ "${RECV[@]}" -v 7 >"$T/mq.out" 2>"$T/mq.err" &
	mpid=$!
	wait_for 10 grep -q '^READY=1$' "$T/mq.dg"
	check "flespi-recv --mqtt: READY=1 once subscribed" \
	    all grep -q '^READY=1$' "$T/mq.dg" -- \
	    grep -q 'subscribed to' "$T/mq.err"
	kill -TERM $mpid
	wait $mpid
	rc=$?
	wait_for 5 grep -q '^STOPPING=1$' "$T/mq.dg"
	check "flespi-recv --mqtt: SIGTERM, exit 0 ($rc)" test $rc = 0
	order mq
	mq_stop
else
	notok "the MQTT stand-in starts"
fi
export FLESPI_TOKEN=test-token

# ---- a $NOTIFY_SOCKET that cannot be used: a warning, the run goes on
msgs 3 1 | NOTIFY_SOCKET=relative/name flespi-to-wialon --dump >"$T/bad.out" 2>"$T/bad.err"
rc=$?
check "NOTIFY_SOCKET=relative/name: exit 0 ($rc), 3 packets, one warning" \
    all test $rc = 0 -- test "$(wc -l <"$T/bad.out")" = 3 -- \
    test "$(wc -l <"$T/bad.err")" = 1 -- \
    grep -q "^flespi-to-wialon: warning: NOTIFY_SOCKET: 'relative/name' is not" "$T/bad.err"

# ---- without $NOTIFY_SOCKET no datagram socket is even made
if command -v strace >/dev/null; then
	(msgs 3 1; sleep 0.3) | env -u NOTIFY_SOCKET WATCHDOG_USEC=100000 \
	    strace -f -qq -e trace=socket -o "$T/st.none" \
	    flespi-to-wialon --dump >/dev/null 2>&1
	(msgs 3 1; sleep 0.3) | NOTIFY_SOCKET=@fp-nobody-$$ \
	    strace -f -qq -e trace=socket -o "$T/st.some" \
	    flespi-to-wialon --dump >/dev/null 2>&1
	check "no NOTIFY_SOCKET: no datagram socket (strace); with it: one" \
	    all test "$(grep -c 'AF_UNIX, SOCK_DGRAM' "$T/st.none")" = 0 -- \
	    test "$(grep -c 'AF_UNIX, SOCK_DGRAM' "$T/st.some")" = 1
else
	notok "strace is installed (make deps)"
fi
finish
