#!/usr/bin/env bash
# A line too long is kept, not only counted (issue 20, section 2): a line
# over --max-line reaches --rejected whole, byte for byte, however long,
# with memory bounded by --max-line plus a read; it is counted as
# rejected with its line number and the run exits 65.  Every forwarder
# has the same default, 8 MiB, above any message flespi-recv passes with
# its defaults: a 2 MiB message is delivered by each.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"
source "$TESTS/nginx.sh"

# pad N [IDENT]: one message line with N bytes of padding.
pad() {
	python3 -c '
import sys
sys.stdout.write("{\"ident\":\"%s\",\"timestamp\":1,\"pad\":\"%s\"}\n" %
    (sys.argv[2], "y" * int(sys.argv[1])))' "$1" "${2:-big}"
}

# --- the default: a 2 MiB message goes through every forwarder
{ msgs 2 1; pad $((2 << 20)); msgs 2 1; } >"$T/two.in"
start_recv two
timeout 60 flespi-to-wialon "127.0.0.1:$port" <"$T/two.in" 2>"$T/two.err"
rc=$?
check "flespi-to-wialon, a 2 MiB message, default --max-line: exit 0 ($rc)" \
    test $rc = 0
check "... all 5 delivered" has_lines "$T/two.out" 5
kill $rpid
http_standin h
timeout 60 flespi-to-http "http://127.0.0.1:$HTTP_PORT/in" <"$T/two.in" \
    2>"$T/h.err"
rc=$?
check "flespi-to-http, a 2 MiB message, default --max-line: exit 0 ($rc)" \
    test $rc = 0
diff_ok "... delivered byte for byte" "$T/two.in" "$T/h.out"
for p in flespi-to-wialon flespi-to-aws flespi-to-http; do
	check "$p --help: --max-line default 8 MiB" \
	    sh -c "$p --help | grep -q -- '--max-line BYTES .*(default 8 MiB)'"
done

# --- lines over --max-line 1000, with a checkpoint after them: each in
# --rejected whole (a CRLF one without its CR, like every line), the good
# ones delivered, line numbers said, exit 65, the key saved
python3 -c '
import sys
w = sys.stdout.buffer.write
good = lambda i: w(b"{\"ident\":\"d\",\"timestamp\":1,\"seq\":%d}\n" % i)
good(0)
w(b"{\"ident\":\"d\",\"timestamp\":1,\"a\":\"" + b"A" * 5000 + b"\"}\n")
good(1)
w(b"\xff\x00 not json at all " + b"\r" * 3000 + b"B" * 70000 + b"\r\n")
good(2)
w(b"C" * 1001 + b"\n")
w(b"{\"@checkpoint\":\"7\"}\n")
good(3)
' >"$T/long.in"
python3 -c '
import sys
ls = open(sys.argv[1], "rb").read().split(b"\n")
sys.stdout.buffer.write(ls[1] + b"\n" + ls[3][:-1] + b"\n" + ls[5] + b"\n")
' "$T/long.in" >"$T/long.want"
start_recv long
timeout 60 flespi-to-wialon -v --max-line 1000 --rejected "$T/long.rej" \
    --state "$T/long.key" "127.0.0.1:$port" <"$T/long.in" 2>"$T/long.err"
rc=$?
check "lines over --max-line: exit 65 ($rc)" test $rc = 65
if cmp -s "$T/long.want" "$T/long.rej"; then
	ok "lines over --max-line: whole in --rejected, byte for byte"
else
	notok "lines over --max-line: whole in --rejected, byte for byte" \
	    "want $(wc -c <"$T/long.want") bytes, got $(wc -c <"$T/long.rej" 2>/dev/null) bytes"
fi
check "... each said with its line number (2, 4, 6)" all \
    grep -q '^flespi-to-wialon: <stdin>:2: line longer than 1000 bytes (5034 bytes)' "$T/long.err" -- \
    grep -q '^flespi-to-wialon: <stdin>:4: line longer than 1000 bytes (73019 bytes)' "$T/long.err" -- \
    grep -q '^flespi-to-wialon: <stdin>:6: line longer than 1000 bytes (1001 bytes)' "$T/long.err"
check "... counted: 4 delivered, 3 rejected" \
    grep -q '4 delivered, 0 failed, 3 rejected' "$T/long.err"
check "... the good ones delivered" has_lines "$T/long.out" 4
check "... the key after them saved (7)" test "$(cat "$T/long.key" 2>/dev/null)" = 7
kill $rpid

# --- --strict: the long line is kept whole, then the run stops
timeout 30 flespi-to-wialon --dump --strict --max-line 1000 \
    --rejected "$T/strict.rej" <"$T/long.in" >"$T/strict.out" 2>"$T/strict.err"
rc=$?
head -n 1 "$T/long.want" >"$T/strict.want"
check "--strict, a long line: exit 65 ($rc), one packet before it" \
    test $rc = 65 -a "$(lines "$T/strict.out")" = 1
diff_ok "--strict: the long line whole in --rejected" "$T/strict.want" "$T/strict.rej"

# --- no --rejected: counted and said, nothing else
flespi-to-wialon --dump --max-line 1000 <"$T/long.in" >/dev/null 2>"$T/none.err"
rc=$?
check "no --rejected: exit 65 ($rc), the 3 said" \
    test $rc = 65 -a "$(grep -c 'line longer than 1000' "$T/none.err")" = 3

# --- a 50 MB line through a pipe that pauses in the middle of it, between
# two good lines, to flespi-to-http: whole in --rejected, memory bounded
python3 -c '
import os, sys, time
w = lambda b: os.write(1, b)
w(b"{\"ident\":\"a\",\"timestamp\":1,\"seq\":0}\n")
w(b"{\"ident\":\"a\",\"timestamp\":1,\"pad\":\"")
chunk = bytes(range(32, 127)) * 690
n = 0
while n < 50 * 1000 * 1000:
    b = chunk[:min(len(chunk), 50 * 1000 * 1000 - n)].replace(b"\"", b"#").replace(b"\\", b"/")
    while b:
        b = b[os.write(1, b):]
    n += len(chunk)
    if n % (5 * 1000 * 1000) < len(chunk):
        time.sleep(0.05)
w(b"\"}\n{\"ident\":\"a\",\"timestamp\":1,\"seq\":1}\n")
' >"$T/huge.in"
sed -n 2p "$T/huge.in" >"$T/huge.want"
# The same bytes, written by a slow writer: flespi-to-http reads a pipe
# that runs dry in the middle of the line.
slowcat() {
	python3 -c '
import os, sys, time
f = open(sys.argv[1], "rb")
while True:
    b = f.read(4 << 20)
    if not b:
        break
    while b:
        b = b[os.write(1, b):]
    time.sleep(0.05)
' "$1"
}
rss() { tail -n 1 "$1"; }
# The same forwarder's peak RSS on a few short lines: what the libraries
# take; the long line may add --max-line and a little.
msgs 10 1 | /usr/bin/time -f %M -o "$T/base.rss" \
    flespi-to-http "http://127.0.0.1:$HTTP_PORT/in" 2>/dev/null
base=$(rss "$T/base.rss")
: >"$T/h.out"
slowcat "$T/huge.in" | timeout 120 /usr/bin/time -f %M -o "$T/huge.rss" \
    flespi-to-http --rejected "$T/huge.rej" "http://127.0.0.1:$HTTP_PORT/in" \
    2>"$T/huge.err"
rc=$?
check "a 50 MB line, default --max-line: exit 65 ($rc)" test $rc = 65
check "... whole in --rejected ($(wc -c <"$T/huge.rej" 2>/dev/null) bytes)" \
    cmp -s "$T/huge.want" "$T/huge.rej"
check "... said as line 2" \
    grep -q '^flespi-to-http: <stdin>:2: line longer than 8388608 bytes (50000036 bytes)' "$T/huge.err"
check "... the lines around it delivered" test "$(lines "$T/h.out")" = 2
# Sanitizers add shadow memory, and keep every buffer the line reader
# outgrew (doubling up to --max-line) in quarantine: three times there.
more() {	# more MAX_KIB RSSFILE: the peak is within base + MAX + 2 MiB
	local lim=$(($1 + 2048))
	case $FP_BIN in *asan*) lim=$((lim * 3)) ;; esac
	test $(($(rss "$2") - base)) -lt $lim
}
check "... peak RSS $(rss "$T/huge.rss") KiB, $(($(rss "$T/huge.rss") - base)) KiB over a run of short lines: --max-line (8 MiB) and a read" \
    more 8192 "$T/huge.rss"
rm -f "$T/huge.rej"
: >"$T/h.out"
slowcat "$T/huge.in" | timeout 120 /usr/bin/time -f %M -o "$T/huge1.rss" \
    flespi-to-http --max-line 1048576 --rejected "$T/huge.rej" \
    "http://127.0.0.1:$HTTP_PORT/in" 2>"$T/huge1.err"
rc=$?
check "a 50 MB line, --max-line 1 MiB: exit 65 ($rc), whole in --rejected" \
    all test $rc = 65 -- cmp -s "$T/huge.want" "$T/huge.rej"
check "... peak RSS $(rss "$T/huge1.rss") KiB, $(($(rss "$T/huge1.rss") - base)) KiB over a run of short lines" \
    more 1024 "$T/huge1.rss"
check "... no temporary file left beside --rejected" \
    test -z "$(ls -A "$T" | grep -- '-line\.')"
finish
