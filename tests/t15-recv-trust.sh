#!/usr/bin/env bash
# flespi-recv at the trust boundary (issue 12): closed descriptors, a torn
# last line in the output file, a hostile flespi (keys that go backwards
# or stand still, too many messages, non-object elements, answers of an
# unexpected shape, errors/warnings members, forged text in reasons), an
# untrusted TLS certificate, -t 0, a stop while a write is blocked, planted
# files next to --state, plain-http URLs that only look local, and the
# token's exposure.  Every case is quick; the peers are on 127.0.0.1.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
export FLESPI_TOKEN=test-token
F="--retry-wait 0.02 --request-timeout 2"
# raw FILE: no control byte (ESC, BEL, CR) in FILE
raw() { ! LC_ALL=C grep -q "$(printf '[\033\007\r]')" "$1"; }

python3 "$TESTS/genmsgs.py" 5 --seed 9 >"$T/in"
standin a --messages "$T/in"
A=$URL
# faults LIST: what the next requests to stand-in a get (replaces the rest)
faults() { curl -fsS -m 10 --data-binary "$1" "$A/control/faults" >/dev/null; }

# --- closed descriptors: 74 at once, nothing read, nothing saved ---------
for fd in 0 1 2; do
	rm -f "$T/st"
	case $fd in
	0) flespi-recv --url "$URL" --once --state "$T/st" 1 \
	    >"$T/out" 2>"$T/err" <&- ;;
	1) flespi-recv --url "$URL" --once --state "$T/st" 1 \
	    2>"$T/err" >&- ;;
	2) flespi-recv --url "$URL" --once --state "$T/st" 1 \
	    >"$T/out" 2>&- ;;
	esac
	rc=$?
	check "fd $fd closed: exit 74 (rc $rc)" test $rc -eq 74
	check "... nothing read, no key saved" test ! -e "$T/st" -a ! -s "$T/out"
done
flespi-recv --url "$URL" --once 1 2>"$T/err" >&-
check "stdout closed: the diagnostic names it" grep -q 'descriptor 1' "$T/err"
flespi-recv --url "$URL" --once 1 >"$T/out" 2>&-
rc=$?
check "stderr closed: 74, and no diagnostic lands in stdout (rc $rc)" \
    test $rc -eq 74 -a ! -s "$T/out"
timeout 10 flespi-recv --mqtt --url mqtts://127.0.0.1:1 --retries 0 7 \
    >&- 2>"$T/err"
rc=$?
check "--mqtt with stdout closed: 74 (rc $rc)" test $rc -eq 74

# --- a torn last line in the output file is cut off before appending ----
printf '%s\n' '{"ident":"x","timestamp":1}' >"$T/file"
printf '%s' '{"ident":"torn","time' >>"$T/file"
flespi-recv --url "$URL" --once 1 >>"$T/file" 2>"$T/err"
rc=$?
{ printf '%s\n' '{"ident":"x","timestamp":1}'; cat "$T/in"; } >"$T/want"
diff_ok "torn tail: cut to the last newline, then appended (rc $rc)" \
    "$T/want" "$T/file"
check "... and said so on stderr" grep -q 'torn' "$T/err"
printf '%s' '{"ident":"torn"' >"$T/file"
flespi-recv --url "$URL" --once 1 >>"$T/file" 2>"$T/err"
diff_ok "torn tail without any newline: the file starts afresh" \
    "$T/in" "$T/file"
cp "$T/in" "$T/file"
flespi-recv --url "$URL" --once 1 >>"$T/file" 2>"$T/err"
check "a whole last line: kept, nothing said" \
    test "$(lines "$T/file")" -eq 10 -a ! -s "$T/err"

# --- keys: never backwards, never standing still, never more than asked --
echo 6 >"$T/st"
faults rewind
flespi-recv --url "$URL" $F --once --state "$T/st" 1 >"$T/out" 2>"$T/err"
rc=$?
check "next_key 0 on an empty answer: the key stays 6 (got $(cat "$T/st"), rc $rc)" \
    test "$(cat "$T/st")" = 6 -a $rc -eq 0
check "... nothing replayed" test ! -s "$T/out"
check "... the violation is named" grep -q 'backwards' "$T/err"
for f in stuck extra; do
	faults "$f*1000"
	timed timeout 20 flespi-recv --url "$URL" $F --retries 3 \
	    --limit-count 2 1 >"$T/out" 2>"$T/err"
	check "$f for ever, --retries 3: gives up with 75 (rc $rc, ${ms} ms)" \
	    test $rc -eq 75
	n=$(grep -c '"fault": "'$f'"' "$T/a.log")
	check "... after 4 requests ($n)" test "$n" -eq 4
	check "... nothing written" test ! -s "$T/out"
	timeout 20 flespi-recv --url "$URL" $F --once --limit-count 2 1 >"$T/out" 2>"$T/err"
	rc=$?
	check "$f for ever, --once without --retries: ends with 75 (rc $rc)" \
	    test $rc -eq 75
done
faults "stuck*6"
timeout 20 flespi-recv --url "$URL" --retry-wait 0.02 --retries 5 --once \
    --limit-count 2 1 >"$T/out" 2>"$T/err"
python3 - "$T/err" <<'PY' >"$T/delays"
import re, sys
print(" ".join(re.findall(r"retry \d+ in (\d+) ms", open(sys.argv[1]).read())))
PY
check "stuck: the backoff grows ($(cat "$T/delays"))" python3 -c '
import sys
d = list(map(int, open(sys.argv[1]).read().split()))
sys.exit(not (len(d) == 5 and d[-1] > 2 * d[0]))' "$T/delays"

# --- -t 0 without --once: not a hot loop --------------------------------
faults ""
n0=$(wc -l <"$T/a.log")
timeout -k 5 2 flespi-recv --url "$URL" --timeout 0 --from 6 1 >"$T/out" 2>"$T/err"
rc=$?
n=$(( $(wc -l <"$T/a.log") - n0 ))
check "-t 0: SIGTERM from timeout(1) ends it (rc $rc, 137: it had to be killed)" test $rc = 124
check "-t 0 on an empty channel: at most 4 requests in 2 s ($n)" test "$n" -le 4

# --- elements that are not objects ---------------------------------------
faults "nonobj*100"
timeout 20 flespi-recv --url "$URL" $F --retries 1 --once 1 >"$T/out" 2>"$T/err"
rc=$?
check "result [1,\"x\",null,[1],true]: nothing written, 69 (rc $rc)" \
    test ! -s "$T/out" -a $rc -eq 69
check "... named as not a message" grep -q 'not an object' "$T/err"

# --- an answer of an unexpected shape: 69 at once -------------------------
for f in nokey fractional; do
	faults "$f*100"
	n0=$(wc -l <"$T/a.log")
	timed timeout 10 flespi-recv --url "$URL" $F 1 >"$T/out" 2>"$T/err"
	n=$(( $(wc -l <"$T/a.log") - n0 ))
	check "$f: exit 69 at once, not retried (rc $rc, ${ms} ms, $n requests)" \
	    test $rc -eq 69 -a $n -eq 1
	check "... saying the shape is unexpected" grep -q 'unexpected shape' "$T/err"
done

# --- errors and warnings inside a 200: shown once each, escaped -----------
faults "notes*3"
flespi-recv --url "$URL" $F --once --limit-count 2 1 >"$T/out" 2>"$T/err"
rc=$?
diff_ok "errors/warnings members: the messages still come out (rc $rc)" \
    "$T/in" "$T/out"
check "... each shown once ($(grep -c 'id 9 not found' "$T/err"), $(grep -c 'deprecated' "$T/err"), $(grep -c 'old API' "$T/err"))" \
    test "$(grep -c 'id 9 not found' "$T/err")" -eq 1 -a \
    "$(grep -c 'deprecated' "$T/err")" -eq 1 -a \
    "$(grep -c 'old API' "$T/err")" -eq 1
check "... escaped: no control byte reaches stderr" raw "$T/err"
check "... no forged line" bash -c "! grep -q '^flespi-recv: forged' '$T/err'"

# --- a server's reason is escaped -----------------------------------------
faults evil
flespi-recv --url "$URL" $F --once 1 >"$T/out" 2>"$T/err"
rc=$?
check "evil 400 reason: refused, 69 (rc $rc)" test $rc -eq 69
check "... no control byte on stderr" raw "$T/err"
check "... no forged line" bash -c "! grep -q '^flespi-recv: forged' '$T/err'"
check "... the reason is there, escaped" grep -q 'bad\\x1B\[2J' "$T/err"

# --- TLS: an untrusted certificate is refused (69), saying why -----------
standin_tls tls --messages "$T/in"
timeout 20 flespi-recv --url "https://127.0.0.1:$tport" $F --retries 3 \
    --once 1 >"$T/out" 2>"$T/err"
rc=$?
check "untrusted certificate: 69, not retried (rc $rc)" \
    test $rc -eq 69 -a "$(grep -c 'retry' "$T/err")" -eq 0
check "... saying why the certificate failed" grep -q 'self.signed' "$T/err"

# --- a stop while a write is blocked on a full pipe ----------------------
python3 "$TESTS/genmsgs.py" 3000 --seed 4 >"$T/big"
standin full --messages "$T/big"
mkfifo "$T/fifo"
exec 3<>"$T/fifo"	# a reader that is alive but does not read
rm -f "$T/st"
flespi-recv --url "$URL" --once --limit-count 3000 --state "$T/st" 1 >"$T/fifo" \
    2>"$T/err" &
pid=$!
wait_for 10 grep -q pipe_write "/proc/$pid/wchan"
t0=$(date +%s%N)
kill -TERM $pid
wait_for 5 bash -c "! kill -0 $pid"
ms=$(ms_since $t0)
wait $pid; rc=$?
check "SIGTERM with a write blocked on a full pipe: ends promptly (${ms} ms, rc $rc)" \
    test $ms -lt 3000 -a $rc -eq 0
# What is in the pipe, read without waiting (fd 3 is a writer too).
python3 -c '
import fcntl, os, sys
fcntl.fcntl(3, fcntl.F_SETFL, os.O_NONBLOCK)
out = b""
while True:
    try:
        b = os.read(3, 65536)
    except BlockingIOError:
        break
    if not b:
        break
    out += b
sys.stdout.buffer.write(out)' >"$T/got"
exec 3<&-
whole=$(lines "$T/got")
k=$(cat "$T/st" 2>/dev/null)
check "... key saved for the $whole whole lines in the pipe (key $k)" \
    test "$k" = $((whole + 1))

# --- planted files next to --state ---------------------------------------
URL=$A
echo precious >"$T/victim"
rm -f "$T/ps"
ln -s "$T/victim" "$T/ps.tmp"
flespi-recv --url "$URL" --once --state "$T/ps" 1 >"$T/out" 2>"$T/err"
rc=$?
check "a planted FILE.tmp symlink: its target untouched (rc $rc)" \
    test "$(cat "$T/victim")" = precious
check "... and the key saved (got $(cat "$T/ps" 2>/dev/null))" \
    test "$(cat "$T/ps" 2>/dev/null)" = 6 -a ! -L "$T/ps"
echo junk >"$T/ps.tmp"
echo 1 >"$T/ps"
flespi-recv --url "$URL" --once --state "$T/ps" 1 >"$T/out" 2>"$T/err"
check "a stale FILE.tmp is replaced: key saved (rc $?)" \
    test "$(cat "$T/ps")" = 6 -a ! -e "$T/ps.tmp"
mkdir -p "$T/real"
echo 3 >"$T/real/key"
ln -s "$T/real/key" "$T/lk"
flespi-recv --url "$URL" --once --state "$T/lk" 1 >"$T/out" 2>"$T/err"
rc=$?
check "--state a symlink: still a symlink afterwards (rc $rc)" test -L "$T/lk"
check "... its target holds the new key (got $(cat "$T/real/key"))" \
    test "$(cat "$T/real/key")" = 6
check "... the run resumed from the target's key" test "$(lines "$T/out")" -eq 3

# --- plain http: the warning is decided on the parsed host ---------------
if unshare -n true 2>/dev/null; then
	for u in http://localhost@10.9.9.9 http://127.0.0.1.example.com \
	    HTTP://10.9.9.9 'http://[::ffff:10.9.9.9]'; do
		unshare -n timeout 10 flespi-recv --url "$u" --once --retries 0 \
		    --request-timeout 1 1 >"$T/out" 2>"$T/err"
		check "$u: warned (no packet leaves: unshare -n)" \
		    grep -q 'not https' "$T/err"
	done
	for u in http://127.0.0.1:1 'http://[::1]:1' http://localhost:1 \
	    http://127.9.9.9:1; do
		unshare -n timeout 10 flespi-recv --url "$u" --once --retries 0 \
		    --request-timeout 1 1 >"$T/out" 2>"$T/err"
		check "$u: loopback, no warning" \
		    bash -c "! grep -q 'not https' '$T/err'"
	done
else
	skip "plain-http warning (unshare -n not permitted here)"
fi

# --- the token ------------------------------------------------------------
printf 'test-token\n' >"$T/tok"
chmod 644 "$T/tok"
FLESPI_TOKEN= flespi-recv --url "$URL" --once --token-file "$T/tok" 1 \
    >"$T/out" 2>"$T/err"
check "a token file others can read: warned" grep -q 'readable by' "$T/err"
chmod 600 "$T/tok"
FLESPI_TOKEN= flespi-recv --url "$URL" --once --token-file "$T/tok" 1 \
    >"$T/out" 2>"$T/err"
check "a 0600 token file: no warning" test ! -s "$T/err"
faults ""
FLESPI_TOKEN=test-token flespi-recv --url "$URL" --timeout 20 --from 6 1 \
    >"$T/out" 2>"$T/err" &
pid=$!
wait_for 10 bash -c "curl -fsS '$A/control/state' | grep -q '\"waiting\": 1'"
check "the token is wiped from the process's environment" \
    bash -c "! tr '\\0' '\\n' </proc/$pid/environ | grep -q test-token"
kill -TERM $pid; wait $pid
finish
