#!/usr/bin/env bash
# flespi-to-wialon on the forwarder core: checkpoint lines and --state
# (saved only once every line before is acknowledged or in a synced
# file), the --state lock, SIGHUP drains, give-up accounts for every line
# of a slow pipe, a peer that acknowledges twice, a run of bad lines
# under a drain timer, a full disk under --failed, --failed naming stdin.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

key_is() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- a whole run: checkpoints never forwarded, the last key saved
ckmsgs 20 5 >"$T/ck.json"
start_recv ck
$F2W --state "$T/ck.key" "127.0.0.1:$port" <"$T/ck.json" 2>"$T/ck.err"
rc=$?
check "checkpoints: exit 0 ($rc), no diagnostics" test $rc = 0 -a ! -s "$T/ck.err"
check "checkpoints: 20 packets, checkpoint lines not forwarded" test "$(lines "$T/ck.out")" = 20
check "checkpoints: the last key saved (20)" key_is "$T/ck.key" 20
check "checkpoints: --state is 0600" test "$(stat -c %a "$T/ck.key")" = 600
kill $rpid

# --- without --state checkpoint lines are skipped silently
start_recv nostate
$F2W "127.0.0.1:$port" <"$T/ck.json" 2>"$T/nostate.err"
rc=$?
check "no --state: exit 0 ($rc), silent" test $rc = 0 -a ! -s "$T/nostate.err"
check "no --state: 20 packets" test "$(lines "$T/nostate.out")" = 20
kill $rpid

# --- a malformed checkpoint is a bad line, never a message
printf '{"ident":"a","timestamp":1}\n{"@checkpoint":"007"}\n{"@checkpoint":5}\n{"ident":"a","timestamp":2}\n{"@checkpoint":"2"}\n' >"$T/mal.json"
start_recv mal
$F2W --state "$T/mal.key" --rejected "$T/mal.rej" "127.0.0.1:$port" <"$T/mal.json" 2>"$T/mal.err"
rc=$?
check "malformed checkpoint: exit 65 ($rc)" test $rc = 65
check "malformed checkpoint: lines 2 and 3 diagnosed" \
    test "$(grep -c -e '<stdin>:2: malformed checkpoint' -e '<stdin>:3: malformed checkpoint' "$T/mal.err")" = 2
check "malformed checkpoint: both in --rejected" test "$(lines "$T/mal.rej")" = 2
check "malformed checkpoint: the good checkpoint saved (2)" key_is "$T/mal.key" 2
kill $rpid

# --- the key waits for the acks: a receiver that stalls after 7 packets
ckmsgs 15 5 >"$T/wait.json"
start_recv wait --stall-after 7
mkfifo "$T/wait.fifo"
$F2W --state "$T/wait.key" --ack-timeout 60 --drain-timeout 0 \
    "127.0.0.1:$port" <"$T/wait.fifo" 2>"$T/wait.err" &
fpid=$!
exec 3>"$T/wait.fifo"
cat "$T/wait.json" >&3
wait_for 10 key_is "$T/wait.key" 5 || notok "wait: key 5 not saved in time"
sleep 0.5
check "stalled after 7: key 5 saved, not 10 (line 8 unacknowledged): $(cat "$T/wait.key")" \
    key_is "$T/wait.key" 5
kill -TERM $fpid
exec 3>&-
wait $fpid
rc=$?
check "stalled, SIGTERM, no --failed: exit 75 ($rc)" test $rc = 75
check "no --failed: the key stays at 5 (lines 8-15 undelivered)" key_is "$T/wait.key" 5
kill $rpid

# --- the same with --failed: the undelivered lines are in the file, synced
# before a key past them is saved (strace shows the order)
start_recv waitf --stall-after 7
# (LeakSanitizer cannot run under ptrace: no leak check in this one)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
strace -f -qq -y -e trace=fsync,rename,write,writev -o "$T/waitf.trace" \
    $F2W --state "$T/waitf.key" --failed "$T/waitf.failed" --ack-timeout 60 \
    --drain-timeout 0 "127.0.0.1:$port" <"$T/wait.fifo" 2>"$T/waitf.err" &
fpid=$!
exec 3>"$T/wait.fifo"
cat "$T/wait.json" >&3
wait_for 10 key_is "$T/waitf.key" 5 || notok "waitf: key 5 not saved in time"
wait_for 10 has_lines "$T/waitf.out" 7
sleep 0.3
kill -TERM $(pgrep -P $fpid) 2>/dev/null || kill -TERM $fpid
exec 3>&-
wait $fpid
rc=$?
check "--failed, SIGTERM: exit 75 ($rc)" test $rc = 75
seqs "$T/waitf.out" >"$T/waitf.seqs"
grep -v checkpoint "$T/wait.json" | sed -n '8,$p' >"$T/waitf.want"
diff_ok "--failed holds lines 8-15, checkpoints left out" "$T/waitf.want" "$T/waitf.failed"
check "--failed: then the last key is saved (15)" key_is "$T/waitf.key" 15
# the failed file is fsync'd after its last write and before the key
# that passes its lines is renamed into place
check "--failed: fsync of the failed file between its last write and the key's rename" awk '
    /write.*waitf.failed>/ { w = NR } /fsync\(.*waitf.failed>/ { f = NR }
    /rename\(.*waitf.key.tmp/ { r = NR; ok = f > w && w > 0 }
    END { exit !(r > 0 && ok) }' "$T/waitf.trace"
kill $rpid

# --- the lock: a second run on the same --state fails at once, exit 73
touch "$T/lk.key"
flock "$T/lk.key.lock" sleep 5 &
lkpid=$!
wait_for 5 sh -c "! flock -n '$T/lk.key.lock' true"
timed $F2W --state "$T/lk.key" 127.0.0.1:1 <"$T/ck.json" 2>"$T/lk.err"
check "--state locked: exit 73 ($rc)" test $rc = 73
check "--state locked: at once" test $ms -lt 1000
check "--state locked: says so" grep -q "is in use by another run" "$T/lk.err"
kill $lkpid; wait $lkpid 2>/dev/null

# --- SIGHUP drains like SIGTERM: delivered + failed = the input
msgs 3000 3 >"$T/hup.json"
start_recv hup --stall-after 500
$F2W --ack-timeout 60 --drain-timeout 0.3 --failed "$T/hup.failed" \
    "127.0.0.1:$port" <"$T/hup.json" 2>"$T/hup.err" &
fpid=$!
wait_for 10 has_lines "$T/hup.out" 500 || notok "hup: 500 packets not received in time"
kill -HUP $fpid
wait $fpid
rc=$?
check "SIGHUP: drained and exit 75 ($rc), not killed" test $rc = 75
head -n 500 "$T/hup.json" | cat - "$T/hup.failed" >"$T/hup.all"
diff_ok "SIGHUP: acknowledged + --failed = the input" "$T/hup.json" "$T/hup.all"
kill $rpid

# --- a second SIGINT ends the drain at once
start_recv int2 --stall-after 100
$F2W --ack-timeout 60 --drain-timeout 60 --failed "$T/int2.failed" \
    "127.0.0.1:$port" <"$T/hup.json" 2>"$T/int2.err" &
fpid=$!
wait_for 10 has_lines "$T/int2.out" 100 || notok "int2: 100 packets not received in time"
kill -INT $fpid
sleep 0.3
check "one SIGINT: still draining" kill -0 $fpid
s=$(date +%s%N)
kill -INT $fpid
wait $fpid
rc=$?
ms=$(ms_since $s)
check "second SIGINT: exit 75 ($rc) at once ($ms ms < 2000)" test $rc = 75 -a $ms -lt 2000
head -n 100 "$T/hup.json" | cat - "$T/int2.failed" >"$T/int2.all"
diff_ok "second SIGINT: acknowledged + --failed = the input" "$T/hup.json" "$T/int2.all"
kill $rpid

# --- SIGTERM twice (timeout(1) and systemd signal the process and its
# group) is one request to stop: the drain goes on; only SIGINT again cuts
# it short
start_recv term2 --stall-after 100
$F2W --ack-timeout 60 --drain-timeout 60 --failed "$T/term2.failed" \
    "127.0.0.1:$port" <"$T/hup.json" 2>"$T/term2.err" &
fpid=$!
wait_for 10 has_lines "$T/term2.out" 100 || notok "term2: 100 packets not received in time"
kill -TERM $fpid
sleep 0.3
kill -TERM $fpid
sleep 0.5
check "second SIGTERM: still draining" kill -0 $fpid
kill -INT $fpid
wait $fpid
rc=$?
check "then SIGINT: exit 75 ($rc)" test $rc = 75
kill $rpid

# --- standard error closed: exit 74 before anything, nothing in --failed
msgs 10 3 | $F2W --retries 0 --failed "$T/fd2.failed" 127.0.0.1:1 2>&-
rc=$?
check "stderr closed: exit 74 ($rc), no failed file written" \
    test $rc = 74 -a ! -s "$T/fd2.failed"

# --- give-up with a slow writer: every line read is accounted for, the
# lines still coming after the give-up too (the give-up comes after ~2 s,
# while the writer writes), and the key never passes a
# line that is neither delivered nor in --failed
ckmsgs 3000 100 >"$T/slow.json"
# The writer is the shell itself: no interpreter start to wait for.
slow() {
	local n=0 l
	while IFS= read -r l; do
		printf '%s\n' "$l"
		n=$((n + 1))
		[ $((n % 50)) = 0 ] && sleep 0.01
	done <"$1"
}
slow "$T/slow.json" | $F2W --retries 3 --retry-wait 0.3 --state "$T/slow.key" \
    --failed "$T/slow.failed" 127.0.0.1:1 2>"$T/slow.err"
rc=$?
check "give-up, slow pipe: exit 75 ($rc)" test $rc = 75
grep -v checkpoint "$T/slow.json" >"$T/slow.msgs"
diff_ok "give-up, slow pipe: all 3000 lines in --failed, in order" "$T/slow.msgs" "$T/slow.failed"
check "give-up: the count is reported" grep -q '3000 messages undelivered, written to the failed file' "$T/slow.err"
check "give-up: the key follows the lines in --failed (3000)" key_is "$T/slow.key" 3000
rm -f "$T/slow.key"
slow "$T/slow.json" | $F2W --retries 3 --retry-wait 0.3 --state "$T/slow.key" \
    127.0.0.1:1 2>"$T/slow2.err"
rc=$?
check "give-up without --failed: exit 75 ($rc), no key saved" test $rc = 75 -a ! -e "$T/slow.key"

# --- a peer that acknowledges every packet twice: nothing is lost
msgs 5000 3 >"$T/dbl.json"
start_recv dbl --double-ack
timeout 60 $F2W --retry-wait 0.01 "127.0.0.1:$port" <"$T/dbl.json" 2>"$T/dbl.err"
rc=$?
check "double acks: exit 0 ($rc)" test $rc = 0
seqs "$T/dbl.out" | sort -n -u >"$T/dbl.seqs"
seq 0 4999 >"$T/dbl.want"
diff_ok "double acks: every message reached the peer" "$T/dbl.want" "$T/dbl.seqs"
check "double acks: the protocol error reported" grep -q 'acknowledgement of nothing sent' "$T/dbl.err"
kill $rpid

# --- a run of bad lines does not starve the drain timer: a good line,
# then bad lines without end; SIGTERM ends it within the drain time and
# the bounded reading of what is left
start_recv bad --stall-after 1
{ msgs 2 1; yes 'x'; } | $F2W --ack-timeout 60 --drain-timeout 1 \
    "127.0.0.1:$port" 2>/dev/null &
fpid=$!
wait_for 10 has_lines "$T/bad.out" 1
sleep 0.2
s=$(date +%s%N)
kill -TERM $fpid
wait $fpid
rc=$?
ms=$(ms_since $s)
check "endless bad lines, --drain-timeout 1: exit 75 ($rc) in $ms ms (< 5000)" \
    test $rc = 75 -a $ms -lt 5000
kill $rpid

# --- --failed on a full disk: exit 74, the true count, no torn line
mkdir "$T/small"
if mount -t tmpfs -o size=16k tmpfs "$T/small" 2>/dev/null; then
	msgs 3000 3 >"$T/full.json"
	$F2W --retries 0 --failed "$T/small/failed" 127.0.0.1:1 <"$T/full.json" 2>"$T/full.err"
	rc=$?
	check "full disk: exit 74 ($rc)" test $rc = 74
	n=$(lines "$T/small/failed")
	check "full disk: reports the $n lines really written" \
	    grep -q "3000 messages undelivered, $n of them written to the failed file, $((3000 - n)) not" "$T/full.err"
	check "full disk: no torn line at the end" test "$(tail -c1 "$T/small/failed" | od -An -c | tr -d ' ')" = '\n'
	umount "$T/small"
else
	skip "full disk: cannot mount a small tmpfs"
fi
msgs 10 3 >"$T/dfull.json"
$F2W --retries 0 --failed /dev/full 127.0.0.1:1 <"$T/dfull.json" 2>"$T/dfull.err"
rc=$?
check "--failed /dev/full: exit 74 ($rc)" test $rc = 74
check "--failed /dev/full: none written, said so" \
    grep -q "10 messages undelivered, 0 of them written to the failed file, 10 not" "$T/dfull.err"

# --- --failed naming the input file is refused, not looped over
msgs 10 3 >"$T/self.json"
timeout 10 $F2W --retries 0 --failed "$T/self.json" 127.0.0.1:1 <"$T/self.json" 2>"$T/self.err"
rc=$?
check "--failed = stdin: refused, exit 64 ($rc)" test $rc = 64
check "--failed = stdin: said so" grep -q 'is the input itself' "$T/self.err"
check "--failed = stdin: the file untouched" test "$(lines "$T/self.json")" = 10
finish
