#!/usr/bin/env bash
# flespi-recv --checkpoints: a checkpoint line after the lines of every
# answer that moved the key on, carrying that key; --state only read then,
# several --state files resume from the oldest; --delete deletes only up
# to the key the end of the pipeline saved (the stand-in's log proves it);
# --mqtt --checkpoints refused.  Plain --state is locked: a second run on
# the same file exits 73 at once.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
export FLESPI_TOKEN=test-token

# want FROM TO BATCH: messages FROM..TO of $T/in (keys = line numbers) in
# batches of BATCH, each followed by its checkpoint line: the key after
# it, the key before it (the one asked with: 0 from the start) and the
# identities of its first and last message, computed here on their own
# (FNV-1a 64 over the ident, a NUL and the bits of the timestamp as an
# IEEE double, little-endian; 0 becomes 1) as checkpoint.h defines them.
want() {
	python3 - "$T/in" "$1" "$2" "$3" <<'PY'
import json, struct, sys
M, P = 2**64 - 1, 1099511628211
def ident(line):
    m = json.loads(line)
    h = 14695981039346656037
    for b in str(m["ident"]).encode():
        h = ((h ^ b) * P) & M
    h = (h * P) & M
    bits = struct.unpack("<Q", struct.pack("<d", float(m["timestamp"])))[0]
    for k in range(0, 64, 8):
        h = ((h ^ ((bits >> k) & 0xff)) * P) & M
    return h or 1
lines = open(sys.argv[1]).read().split("\n")[:-1]
a, b, n = map(int, sys.argv[2:])
k, prev = a, 0 if a == 1 else a
while k <= b:
    e = min(k + n, b + 1)
    for i in range(k, e):
        print(lines[i - 1])
    print('{"@checkpoint":"%d","@prev":"%d","@first":"%016x","@last":"%016x"}'
          % (e, prev, ident(lines[k - 1]), ident(lines[e - 2])))
    k, prev = e, e
PY
}

python3 "$TESTS/genmsgs.py" 25 --seed 5 >"$T/in"
standin a --messages "$T/in"

flespi-recv --url "$URL" --once --limit-count 10 --checkpoints 1 >"$T/out" 2>"$T/err"
rc=$?
check "--checkpoints --once: exit 0, rc $rc" test $rc -eq 0
want 1 25 10 >"$T/want"
diff_ok "a checkpoint after each answer, none after the empty one" \
    "$T/want" "$T/out"

# The jq idiom of the man page keeps checkpoint lines unchanged.
jq -c 'select(has("@checkpoint") or .["position.speed"] > 90)' <"$T/out" |
    grep '@checkpoint' >"$T/jq"
grep '@checkpoint' "$T/want" >"$T/wantck"
diff_ok "jq -c select(has(\"@checkpoint\") or ...) keeps them byte for byte" \
    "$T/wantck" "$T/jq"

# --state is read, never written, never locked.
echo 11 >"$T/k"
cp "$T/k" "$T/k.orig"
touch -d '2001-01-01' "$T/k"
flock "$T/k.lock" flespi-recv --url "$URL" --once --limit-count 10 --checkpoints \
    --state "$T/k" 1 >"$T/out" 2>"$T/err"
rc=$?
check "--checkpoints --state: exit 0 while the file's lock is held, rc $rc" \
    test $rc -eq 0
want 11 25 10 >"$T/want"
diff_ok "--checkpoints --state: resumes from the key in the file" \
    "$T/want" "$T/out"
check "--checkpoints --state: the file is not written" \
    bash -c "cmp -s '$T/k' '$T/k.orig' &&
    [ \$(stat -c %Y '$T/k') = \$(date -d 2001-01-01 +%s) ] &&
    [ ! -e '$T/k.tmp' ]"
rm -f "$T/none"
flespi-recv --url "$URL" --once --limit-count 10 --checkpoints --state "$T/none" 1 \
    >"$T/out" 2>"$T/err"
check "--checkpoints --state: a missing file is not created" \
    test ! -e "$T/none" -a ! -e "$T/none.tmp"
want 1 25 10 >"$T/want"
diff_ok "--checkpoints --state: a missing file means from the start" \
    "$T/want" "$T/out"

# Several --state files: the oldest key wins; a missing one means 0.
echo 21 >"$T/k1"; echo 7 >"$T/k2"; echo 16 >"$T/k3"
flespi-recv --url "$URL" --once --limit-count 10 --checkpoints --state "$T/k1" \
    --state "$T/k2" --state "$T/k3" 1 >"$T/out" 2>"$T/err"
want 7 25 10 >"$T/want"
diff_ok "three --state files: resumes from the oldest (7)" "$T/want" "$T/out"
flespi-recv --url "$URL" --once --limit-count 10 --checkpoints --state "$T/k1" \
    --state "$T/none" 1 >"$T/out" 2>"$T/err"
want 1 25 10 >"$T/want"
diff_ok "a missing one of two --state files: from the start" \
    "$T/want" "$T/out"
check "... and the other is untouched" test "$(cat "$T/k1")" = 21

# Usage errors.
flespi-recv --url "$URL" --once --state "$T/k1" --state "$T/k2" 1 \
    >"$T/out" 2>"$T/err"
rc=$?
check "two --state without --checkpoints: exit 64, rc $rc" test $rc -eq 64
check "... saying why" grep -q -- '--checkpoints' "$T/err"
flespi-recv --mqtt --checkpoints 1 >"$T/out" 2>"$T/err"
rc=$?
check "--mqtt --checkpoints: exit 64, rc $rc" test $rc -eq 64
check "... saying why (acknowledgements)" grep -q 'acknowledged' "$T/err"
flespi-recv --url "$URL" --once --checkpoints --delete --from 5 \
    --state "$T/k1" 1 >"$T/out" 2>"$T/err"
rc=$?
check "--delete --checkpoints --from: exit 64, rc $rc" test $rc -eq 64

# --delete --checkpoints: the end of the pipeline saves keys up to 31 and
# then stops saving; flespi-recv reads on to 101 but deletes nothing past
# 31.  Each request takes 50 ms, so the deletes happen while it reads.
python3 "$TESTS/genmsgs.py" 100 --seed 6 >"$T/in"
cat >"$T/sink.py" <<'PY'
import os, sys
path, upto = sys.argv[1], int(sys.argv[2])
for line in sys.stdin:
    if line.startswith('{"@checkpoint":"'):
        k = int(line[16:line.index('"', 16)])
        if k <= upto:
            with open(path + ".tmp", "w") as f:
                f.write("%d\n" % k)
            os.rename(path + ".tmp", path)
PY
deletes() {	# deletes LOG: the curr_key of every delete, one a line
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["delete"]:
        print(r["curr_key"], r.get("deleted_before"))' "$1"
}
standin del --messages "$T/in" --delay 0.05
rm -f "$T/dk"
flespi-recv --url "$URL" --once --limit-count 10 --checkpoints --delete --state "$T/dk" 1 |
    python3 "$T/sink.py" "$T/dk" 31
check "the sink saved key 31" test "$(cat "$T/dk")" = 31
deletes "$T/del.log" >"$T/dels"
check "flespi-recv read on past the saved key (next_key 101)" \
    grep -q '"next_key": 101' "$T/del.log"
check "some deletes were asked for while reading ($(wc -l <"$T/dels"))" \
    test -s "$T/dels"
check "no delete past the saved key: $(tr '\n' ' ' <"$T/dels")" \
    awk '$1 > 31 || $2 > 31 { exit 1 }' "$T/dels"
curl -fsS "$URL/control/state" >"$T/st"
check "the channel still holds everything from key 31 on" \
    grep -q '"first": \(1\|11\|21\|31\),' "$T/st"
# A second run: the saved key is deleted up to with its first request.
: >"$T/del.log"
flespi-recv --url "$URL" --once --limit-count 100 --checkpoints --delete \
    --state "$T/dk" 1 >"$T/out"
curl -fsS "$URL/control/state" >"$T/st"
check "a restart deletes exactly up to the saved key 31" \
    grep -q '"first": 31,' "$T/st"
check "... in its first request, which reads from 31" \
    bash -c "head -1 '$T/del.log' | grep -q '\"curr_key\": 31.*\"delete\": true'"
want 31 100 100 >"$T/want"
diff_ok "... and writes from 31 on" "$T/want" "$T/out"
# No key file at all: nothing is ever deleted.
standin nodel --messages "$T/in"
rm -f "$T/nk"
flespi-recv --url "$URL" --once --limit-count 10 --checkpoints --delete \
    --state "$T/nk" 1 >/dev/null
check "no key file saved: nothing deleted" \
    bash -c "! grep -q '\"delete\": true' '$T/nodel.log'"

# Plain --state holds a lock: a second run on the same file exits 73 at
# once, and the first one is not disturbed.
standin lock --messages "$T/in"
rm -f "$T/pk"
flespi-recv --url "$URL" --timeout 20 --state "$T/pk" 1 >"$T/out1" 2>"$T/err1" &
pid=$!
wait_for 10 test -s "$T/pk"
wait_for 10 grep -q 101 "$T/pk"
timed flespi-recv --url "$URL" --once --state "$T/pk" 1 >"$T/out2" 2>"$T/err2"
check "a second run on a locked --state exits 73 (rc $rc)" test $rc -eq 73
check "... at once (${ms} ms)" test $ms -lt 2000
check "... saying another run holds it" grep -q 'another run' "$T/err2"
check "... writing nothing" test ! -s "$T/out2"
kill -TERM $pid; wait $pid; rc=$?
check "the first run ends normally (rc $rc)" test $rc -eq 0
check "... its key intact" test "$(cat "$T/pk")" = 101
flespi-recv --url "$URL" --once --state "$T/pk" 1 >"$T/out2" 2>"$T/err2"
rc=$?
check "once it is gone the file can be used again (rc $rc)" test $rc -eq 0
finish
