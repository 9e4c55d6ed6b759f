#!/usr/bin/env bash
# Quiet pipes, useful terminals (issue 11), from the user's side: the
# progress line only where it helps (stderr a terminal, stdout neither a
# pipe nor our data on the terminal, no -q), the totals line at the end on
# a terminal or with -v (a cron job's stderr stays empty), Ctrl-C with
# stdin a terminal ends at once when nothing is outstanding, a second
# Ctrl-C ends the drain, and singular and plural in the messages.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"
source "$TESTS/standin.sh"
source "$TESTS/nginx.sh"

export FLESPI_TOKEN=test-token
PTY="python3 $TESTS/ptyrun.py"
one='{"ident":"d1","timestamp":1700000000}'
has() { grep -q -- "$1" "$2"; }
hasnt() { ! grep -q -- "$1" "$2"; }
# secs OUT: the seconds ptyrun measured; status OUT: the exit status.
secs() { sed -n 's/^status [0-9]* seconds \([0-9.]*\)$/\1/p' "$1"; }
status() { sed -n 's/^status \([0-9]*\) .*/\1/p' "$1"; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 < b + 0) }'; }
# A port nobody listens on.
DEAD=$(free_ports 1)

start_recv w

# --- Ctrl-C with stdin a terminal and nothing outstanding: out at once
$PTY --intr 1 --term-out "$T/c1.term" -- \
    $F2W "127.0.0.1:$port" >"$T/c1.res"
check "Ctrl-C, terminal, peer up: exit 0 ($(cat "$T/c1.res"))" \
    test "$(status "$T/c1.res")" = 0
check "... in less than 1 s" below "$(secs "$T/c1.res")" 1
check "... the totals on the terminal" \
    has 'flespi-to-wialon: 0 delivered, 0 failed, 0 rejected, 0 checkpoints' "$T/c1.term"

# A line typed, delivered, then Ctrl-C: out at once, 1 delivered.
$PTY --type "$one\n" --wait-file "$T/w.out" --wait-for '"uid"' --intr 1 \
    --term-out "$T/c2.term" -- $F2W "127.0.0.1:$port" >"$T/c2.res"
check "Ctrl-C after a delivered line: exit 0 ($(cat "$T/c2.res"))" \
    test "$(status "$T/c2.res")" = 0
check "... in less than 1 s" below "$(secs "$T/c2.res")" 1
check "... the totals say 1 delivered" has ': 1 delivered, 0 failed' "$T/c2.term"

# The peer down and nothing typed: nothing is outstanding either.
$PTY --intr 1 --term-out "$T/c3.term" -- $F2W "127.0.0.1:$DEAD" >"$T/c3.res"
check "Ctrl-C, peer down, nothing typed: exit 0 in < 1 s ($(cat "$T/c3.res"))" \
    all test "$(status "$T/c3.res")" = 0 -- below "$(secs "$T/c3.res")" 1

# A line outstanding (peer down): the drain goes on; a second Ctrl-C ends
# it at once, the line goes to --failed, exit 75.
$PTY --type "$one\n" --delay 1 --intr 2 --term-out "$T/c4.term" -- \
    $F2W --failed "$T/c4.failed" "127.0.0.1:$DEAD" >"$T/c4.res"
check "outstanding + Ctrl-C twice: exit 75 ($(cat "$T/c4.res"))" \
    test "$(status "$T/c4.res")" = 75
check "... within 1.5 s of the first" below "$(secs "$T/c4.res")" 1.5
check "... says at once what the drain waits for, and that Ctrl-C again stops it" \
    has "stopping on SIGINT: 1 message not yet acknowledged; delivering for at most 10.0 s, then to $T/c4.failed (Ctrl-C again: stop now)" "$T/c4.term"
check "... says why it stopped" has 'interrupted again: stopping at once' "$T/c4.term"
check "... the line is in --failed" test "$(cat "$T/c4.failed")" = "$one"
check "... singular: 1 message undelivered" \
    has ': 1 message undelivered, written to the failed file' "$T/c4.term"

# stdin a pipe that stays open: the leftover rule still protects what the
# writer flushes after Ctrl-C (it is read for a while, not cut at once);
# the input still open when the drain ends is left unread: exit 75.
mkfifo "$T/fifo"
{ sleep 1.5; echo "$one"; sleep 4; } >"$T/fifo" &
$PTY --stdin "$T/fifo" --delay 0.5 --intr 1 --term-out "$T/c5.term" -- \
    $F2W --drain-timeout 3 --failed "$T/c5.failed" "127.0.0.1:$port" >"$T/c5.res"
check "Ctrl-C, stdin a pipe: the line written after it is delivered ($(cat "$T/c5.res"))" \
    has ': 1 delivered' "$T/c5.term"
check "... the pipe still open at the end of the drain: said, exit 75" \
    all test "$(status "$T/c5.res")" = 75 -- has 'it is still open' "$T/c5.term"

# --- the progress line (drawn after 1 s): not when stdout is a pipe
$PTY --stdout pipe --delay 1.5 --intr 1 --term-out "$T/p1.term" -- \
    $F2W "127.0.0.1:$port" >"$T/p1.res"
check "stdout a pipe: no progress line" hasnt 'in flight' "$T/p1.term"
check "... but the totals" has ': 0 delivered' "$T/p1.term"
# ... and when stdout is a file with stderr a terminal, it is there.
$PTY --stdout "$T/p2.out" --delay 1.5 --intr 1 --term-out "$T/p2.term" -- \
    $F2W "127.0.0.1:$port" >"$T/p2.res"
check "stdout a file, stderr a terminal: the progress line" \
    has $'\r\033\\[Kflespi-to-wialon: delivered 0, in flight 0' "$T/p2.term"
check "... replaced by the totals at the end" \
    has $'\r\033\\[Kflespi-to-wialon: 0 delivered, 0 failed' "$T/p2.term"
# ... and a warning while it is drawn erases it first: never glued onto it.
# (The peer closes the connection at every packet: a line on each retry.)
python3 "$TESTS/wialon_receiver.py" --port-file "$T/g.port" --out "$T/g.rec" \
    --drop-every 1 2>/dev/null &
gpid=$!
gport=$(port_of "$T/g.port")
$PTY --stdout "$T/g.out" --type "$one\n" --delay 3.5 --intr 2 \
    --term-out "$T/g.term" -- $F2W --retry-wait 0.3 "127.0.0.1:$gport" >"$T/g.res"
kill $gpid
check "a warning with the progress line drawn: the line erased first" \
    has $'in flight 1[^\r]*\r\033\\[Kflespi-to-wialon: 127.0.0.1:'"$gport"': connected after' "$T/g.term"
check "... no warning glued onto it" \
    hasnt 'window [0-9]*flespi-to-wialon: 127' "$T/g.term"

# -q: no progress line, and no totals either (curl's -s: errors only).
if $F2W --help 2>&1 | grep -q -- '--quiet'; then
	$PTY --stdout "$T/p3.out" --delay 1.5 --intr 1 \
	    --term-out "$T/p3.term" -- $F2W -q "127.0.0.1:$port" >"$T/p3.res"
	check "-q: no progress line" hasnt 'in flight' "$T/p3.term"
	check "-q: no totals either" hasnt ': 0 delivered, 0 failed' "$T/p3.term"
else
	echo "# flespi-to-wialon has no -q yet: its checks wait for it"
fi

# --- flespi-recv: its data on the terminal, no progress line in it
printf '{"ident":"r%d","timestamp":1700000000}\n' 1 >"$T/one.json"
standin s --messages "$T/one.json"
# Each run lasts long enough for a progress line to be due (1 s, drawn
# when a request returns: the second long poll ends after 1 s).
$PTY --stdin null --delay 2.5 --intr 1 --term-out "$T/r1.term" -- \
    flespi-recv --url "$URL" --timeout 1 1 >"$T/r1.res"
$PTY --stdin null --stdout "$T/r2.out" --delay 2.5 --intr 1 \
    --term-out "$T/r2.term" -- flespi-recv --url "$URL" --timeout 1 1 \
    >"$T/r2.res"
check "flespi-recv, data on the terminal: exit 0 ($(cat "$T/r1.res"))" \
    test "$(status "$T/r1.res")" = 0
check "... the message on the terminal" has '"r1"' "$T/r1.term"
check "... no progress line among the data" hasnt 'msg/s' "$T/r1.term"
check "... the totals at the end, singular" \
    has 'flespi-recv: 1 message written, key ' "$T/r1.term"
check "flespi-recv, data to a file: the progress line on the terminal" \
    has $'\r\033\\[Kflespi-recv: 1 message, [0-9]* msg/s' "$T/r2.term"
check "... the message in the file" has '"r1"' "$T/r2.out"
check "... the totals replace the line" \
    has $'\r\033\\[Kflespi-recv: 1 message written' "$T/r2.term"
$PTY --stdin null --stdout pipe --delay 2.5 --intr 1 \
    --term-out "$T/r3.term" -- flespi-recv --url "$URL" --timeout 1 1 \
    >"$T/r3.res"
check "flespi-recv | ...: no progress line" hasnt 'msg/s' "$T/r3.term"

# --- cron stays quiet: stderr a file, no -v, no totals
flespi-recv --url "$URL" --once 1 >"$T/q.out" 2>"$T/q.err"
check "flespi-recv --once, stderr a file: exit 0, stderr empty" \
    all test $? = 0 -- test ! -s "$T/q.err"
flespi-recv -v --url "$URL" --once 1 >"$T/q.out" 2>"$T/q.err"
check "flespi-recv -v: the totals, singular" \
    has '^flespi-recv: 1 message written, key ' "$T/q.err"
check "flespi-recv -v: the request as a sentence" \
    has 'timeout=0: HTTP 200, 1 message, [0-9]* bytes, [0-9]* ms' "$T/q.err"
echo "$one" | $F2W "127.0.0.1:$port" 2>"$T/q.err"
check "flespi-to-wialon, stderr a file: exit 0, stderr empty" \
    all test $? = 0 -- test ! -s "$T/q.err"
echo "$one" | $F2W -v "127.0.0.1:$port" 2>"$T/q.err"
check "flespi-to-wialon -v: the totals" \
    has '^flespi-to-wialon: 1 delivered, 0 failed, 0 rejected, 0 checkpoints; ' "$T/q.err"

# --- plurals and the one wording for giving up
echo "$one" | $F2W --retries 1 --retry-wait 0.05 --failed "$T/g.failed" \
    "127.0.0.1:$DEAD" 2>"$T/g.err"
check "flespi-to-wialon --retries 1: exit 75" test $? = 75
check "... giving up after 1 retry: the last failure" \
    has "^flespi-to-wialon: 127.0.0.1:$DEAD: giving up after 1 retry: cannot connect: " "$T/g.err"
check "... 1 message undelivered" has ': 1 message undelivered,' "$T/g.err"
check "... no '1 messages' or '1 retries' anywhere" \
    hasnt '\b1 messages\|\b1 retries' "$T/g.err"

# flespi-recv --mqtt, nobody listening: the same wording, and with -v
# the totals even after giving up.
flespi-recv --mqtt -v --url "mqtts://127.0.0.1:$DEAD" --cafile /etc/ssl/certs/ca-certificates.crt \
    --retries 1 7 >/dev/null 2>"$T/m.err"
check "flespi-recv --mqtt --retries 1: exit 75" test $? = 75
check "... the same wording" \
    has "^flespi-recv: 127.0.0.1:$DEAD: giving up after 1 retry: " "$T/m.err"
check "... the totals after it" has '^flespi-recv: 0 messages written$' "$T/m.err"
check "... its retry in the suite's words" \
    has "^flespi-recv: 127.0.0.1:$DEAD: .*; retry 1 in [0-9]* ms$" "$T/m.err"

http_standin h --faults 500,500,500,500
echo "$one" | flespi-to-http --retries 2 --retry-wait 0.05 \
    "http://127.0.0.1:$HTTP_PORT/in" 2>"$T/h.err"
check "flespi-to-http --retries 2: exit 75" test $? = 75
check "... the same wording" \
    has "^flespi-to-http: POST http://127.0.0.1:$HTTP_PORT/in: giving up after 2 retries: HTTP 500" "$T/h.err"
check "... its retries in the suite's words" \
    has "^flespi-to-http: POST http://127.0.0.1:$HTTP_PORT/in: HTTP 500.*; retry 2 in [0-9]* ms$" "$T/h.err"
kill $HTTP_PID; wait $HTTP_PID 2>/dev/null
http_standin h2
printf '%s\n%s\n' "$one" "$one" | flespi-to-http -v "http://127.0.0.1:$HTTP_PORT/in" 2>"$T/h2.err"
check "flespi-to-http -v: each request as a sentence" \
    has "POST http://127.0.0.1:$HTTP_PORT/in: 200 OK, 2 messages, [0-9]* bytes, [0-9]* ms (HTTP/1.1)" "$T/h2.err"
check "... the totals, 1 request" has ': 2 delivered, 0 failed, 0 rejected, 0 checkpoints; 1 request, ' "$T/h2.err"

finish
