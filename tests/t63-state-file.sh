#!/usr/bin/env bash
# The key file (--state) on an ordinary bad day, the same in every tool:
# a disk full for a second costs saves, not the checkpointing (tried again
# at the next checkpoint, said once, and when it recovers); a --state that
# is a directory ends 74 at once; a --state that is a symbolic link
# stands for its target (the key goes there, the link stays, and the
# target is what is locked: a second run on either name exits 73).
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

# slow N EVERY: N messages with a checkpoint after every EVERY, written
# EVERY at a time 50 ms apart (so that a run lasts N / EVERY / 20 s).
slow() {
	python3 -c '
import sys, time
n, k = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    sys.stdout.write("{\"ident\":\"dev%d\",\"timestamp\":%d,\"seq\":%d}\n" % (i % 3, 1700000000 + i, i))
    if (i + 1) % k == 0:
        sys.stdout.write("{\"@checkpoint\":\"%d\"}\n" % (i + 1))
        sys.stdout.flush()
        time.sleep(0.05)
' "$@"
}

# --- a disk full for a second: saving resumes at the next checkpoint
mkdir "$T/small"
if mount -t tmpfs -o size=64k tmpfs "$T/small" 2>/dev/null; then
	start_recv blip
	slow 3000 50 | $F2W --state "$T/small/k.key" "127.0.0.1:$port" \
	    2>"$T/blip.err" &
	fpid=$!
	wait_for 10 test -s "$T/small/k.key"
	# Fill the disk for a second.
	dd if=/dev/zero of="$T/small/fill" bs=4k 2>/dev/null
	sleep 1
	rm -f "$T/small/fill"
	wait $fpid
	rc=$?
	check "disk full for 1 s: exit 0 ($rc): the last key is saved" test $rc = 0
	check "... the key file holds the last key" test "$(cat "$T/small/k.key")" = 3000
	check "... the failure said once" \
	    test "$(grep -c 'cannot save key .*No space left on device.*trying again at the next checkpoint' "$T/blip.err")" = 1
	check "... and the recovery" grep -q 'saved: saving works again' "$T/blip.err"
	check "... every message delivered" has_lines "$T/blip.out" 3000
	kill $rpid; wait $rpid 2>/dev/null

	# Still full at the end: the last key is not saved, exit 74.
	start_recv full
	dd if=/dev/zero of="$T/small/fill" bs=4k 2>/dev/null
	ckmsgs 300 100 | $F2W --state "$T/small/k.key" "127.0.0.1:$port" \
	    2>"$T/full.err"
	rc=$?
	check "disk still full at the end: exit 74 ($rc)" test $rc = 74
	check "... says the last key is not saved and what the file holds" \
	    grep -q 'the last key, 300, is not saved (.*): it holds key 3000' "$T/full.err"
	rm -f "$T/small/fill"
	kill $rpid; wait $rpid 2>/dev/null
	umount "$T/small"
else
	skip "disk full for a second: cannot mount a small tmpfs"
	skip "disk still full at the end: cannot mount a small tmpfs"
fi

# --- --state names a directory: 74 at once, whatever else happens
mkdir "$T/dir.key"
for t in "$F2W 127.0.0.1:1" "flespi-to-http http://127.0.0.1:1/" \
    "flespi-to-aws --dump"; do
	name=${t%% *}
	[ "$name" = flespi-to-aws ] && continue	# --dump takes no --state
	ckmsgs 10 5 2>/dev/null | $t --retries 0 --state "$T/dir.key" >/dev/null 2>"$T/dir.err"
	rc=$?
	check "$name --state DIRECTORY: exit 74 ($rc)" test $rc = 74
	check "... says why" grep -q "dir.key: Is a directory" "$T/dir.err"
done

# --- --state through a symbolic link: the key goes to the target, the
# link stays, the target is locked
start_recv link
echo 7 >"$T/real.key"
ln -s real.key "$T/link.key"
slow 4000 50 | $F2W --state "$T/link.key" "127.0.0.1:$port" 2>"$T/link.err" &
fpid=$!
moved() { [ "$(cat "$T/real.key")" != 7 ]; }
wait_for 10 moved
ckmsgs 10 5 2>/dev/null | $F2W --state "$T/real.key" "127.0.0.1:$port" 2>"$T/second.err"
rc=$?
check "a second forwarder on the link's target: exit 73 ($rc)" test $rc = 73
check "... says the file is in use" grep -q 'is in use by another run' "$T/second.err"
FLESPI_TOKEN=x flespi-recv --state "$T/real.key" --url http://127.0.0.1:1 \
    --once 1 >/dev/null 2>"$T/recv.err"
rc=$?
check "flespi-recv on the target while the forwarder runs: exit 73 ($rc)" test $rc = 73
wait $fpid
rc=$?
check "through the link: exit 0 ($rc)" test $rc = 0
check "... the link is still a link" test -L "$T/link.key"
check "... its target holds the last key" test "$(cat "$T/real.key")" = 4000
kill $rpid; wait $rpid 2>/dev/null
finish
