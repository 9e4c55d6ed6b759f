#!/usr/bin/env bash
# flespi-recv's key and what reached stdout: with --state the key is
# saved only after the lines before it were written, so a SIGKILL while
# stdout is blocked leaves no gap; with -n, an answer holding more than
# was asked for is never written.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token

# --- flespi-recv: SIGKILL while blocked writing a batch to a full pipe
python3 "$TESTS/genmsgs.py" 20000 --seed 5 >"$T/in"
standin k --messages "$T/in"
mkfifo "$T/rfifo"
python3 -c '
import os, sys, time
inp, out = sys.stdin.buffer, open(sys.argv[1], "wb")
for _ in range(2000):
    out.write(inp.readline()); out.flush()
end = time.monotonic() + 30
while not os.path.exists(sys.argv[2]) and time.monotonic() < end:
    time.sleep(0.02)
for l in inp:
    out.write(l)
out.close()
' "$T/kout" "$T/go" <"$T/rfifo" &
rdpid=$!
flespi-recv --url "$URL" --limit-count 25 --state "$T/kst" 1 >"$T/rfifo" 2>"$T/kerr" &
kpid=$!
wait_for 20 has_lines "$T/kout" 2000 || notok "recv: 2000 lines not read in time"
wait_for 10 grep -q pipe_write "/proc/$kpid/wchan" ||
    notok "recv: flespi-recv did not block writing" "$(cat "/proc/$kpid/wchan" 2>&1)"
kill -KILL $kpid
wait $kpid 2>/dev/null
touch "$T/go"
wait $rdpid
n1=$(lines "$T/kout")
k=$(cat "$T/kst")
# A SIGKILL in mid-write may leave a torn last line: whole lines count.
head -n "$n1" "$T/in" >"$T/kwant"
head -n "$n1" "$T/kout" >"$T/kgot"
check "recv, SIGKILL while blocked: the output is a prefix ($n1 whole lines)" \
    cmp -s "$T/kwant" "$T/kgot"
check "recv, SIGKILL while blocked: the key ($k) is not past what was written" \
    test "$k" -ge 1 -a "$k" -le $((n1 + 1))
timeout 60 flespi-recv --url "$URL" --limit-count 1000 --state "$T/kst" --once 1 \
    >"$T/kout2" 2>"$T/kerr2"
tail -n +"$k" "$T/in" >"$T/kwant2"
check "recv, SIGKILL while blocked: the resumed run has the rest, no gap" \
    cmp -s "$T/kwant2" "$T/kout2"

# --- flespi-recv -n 3 against a server that answers 5 messages whatever
# is asked: never written (they would exceed -n), retried with a warning.
python3 -c '
import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        msgs = [{"ident": "m", "timestamp": 1, "seq": i} for i in range(5)]
        b = json.dumps({"result": msgs, "next_key": 6}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.server_address[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
' "$T/many.port" 2>"$T/many.log" &
mpid=$!
if mport=$(port_of "$T/many.port"); then
	timeout 3 flespi-recv --url "http://127.0.0.1:$mport" --retry-wait 0.02 \
	    -n 3 1 >"$T/many.out" 2>"$T/many.err"
	rc=$?
	check "recv -n 3, answers of 5: nothing written (rc $rc)" \
	    all test "$rc" != 0 -- test ! -s "$T/many.out"
	check "... the answer diagnosed" grep -q 'answer holds 5 messages' "$T/many.err"
else
	notok "recv: the too-many server did not start"
fi
kill $mpid

finish
