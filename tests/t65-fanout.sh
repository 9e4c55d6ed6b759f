#!/usr/bin/env bash
# Fan-out to two peers, the documented way (README, "One channel to two
# peers"): one pipeline per peer, each flespi-recv reading the channel
# with its own key, run side by side by a script under pipefail.  One
# peer refusing us (401) or down does not stop the other, which gets
# every message and saves its key to the end; the script fails with the
# failed branch's status; the next run sends the healthy peer nothing
# again.  (The tee recipe it replaces: exit 0 with a branch refused, the
# whole backlog again to the healthy branch at every run, and the healthy
# branch stalled while the other's peer is down.)
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token

N=3000
msgs $N 7 >"$T/in"
standin s --messages "$T/in"

# The README's script, with this test's peers.
cat >"$T/fanout" <<'EOF'
#!/bin/bash
# Each peer reads the channel on its own, with its own key; a failed
# branch fails the script with its status.
set -o pipefail
flespi-recv --once --checkpoints --state w.key --url "$URL" 1 |
    flespi-to-wialon --state w.key --rejected w.rejected \
        --failed w.failed "$WIALON" &
w=$!
flespi-recv --once --checkpoints --state h.key --url "$URL" 1 |
    flespi-to-http --state h.key --rejected h.rejected --failed h.failed \
        --retries 2 --retry-wait 0.2 "$HOOK" &
h=$!
wait $w; rw=$?
wait $h; rh=$?
[ $rw = 0 ] || exit $rw
exit $rh
EOF
chmod +x "$T/fanout"
cd "$T" || exit 1

start_recv w
export URL WIALON=127.0.0.1:$port

# --- the HTTP peer refuses us: the script fails with 69, Wialon gets all
http_standin h --auth 'Bearer right'
hpid=$HTTP_PID
export HOOK=http://127.0.0.1:$HTTP_PORT/in
timed ./fanout 2>"$T/f1.err"
check "a branch refused (401): the script exits 69 ($rc)" test $rc = 69
check "... the other branch got every message" has_lines "$T/w.out" $N
check "... and saved its key to the end" test "$(cat w.key)" = $((N + 1))
check "... the refused branch lost nothing: every line in its --failed" \
    test "$(lines h.failed)" = $N
: >"$T/w.out"
./fanout 2>"$T/f2.err"
check "the next run: Wialon is sent nothing again" test ! -s "$T/w.out"
kill $hpid; wait $hpid 2>/dev/null

# --- the HTTP peer is down: Wialon does not wait for it
rm -f w.key h.key h.failed; : >"$T/w.out"
export HOOK=http://127.0.0.1:1/in
s=$(date +%s%N)
./fanout 2>"$T/f3.err" &
fpid=$!
wait_for 20 has_lines "$T/w.out" $N
ms=$(ms_since "$s")
check "a branch's peer down: the other delivers all $N meanwhile (${ms} ms)" \
    has_lines "$T/w.out" $N
wait $fpid
rc=$?
check "... and the script exits 75, the down branch's ($rc)" test $rc = 75
kill $rpid
finish
