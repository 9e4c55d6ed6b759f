#!/usr/bin/env bash
# flespi-to-http: a server refusing some messages' content (400 for a
# request holding a marked message, 413 above a size).  The refused
# messages are isolated exactly and rejected with the server's reason;
# every other message of their batches arrives, in order.
source "$(dirname "$0")/lib.sh"
source "$TESTS/nginx.sh"

N=3000
python3 "$TESTS/genmsgs.py" $N --devices 20 >"$T/in"
# Lines 17, 1500, 1501 and 2999 carry the mark the stand-in refuses.
awk 'NR == 17 || NR == 1500 || NR == 1501 || NR == 2999 {
	sub(/"ident":/, "\"note\":\"REJECTME\",\"ident\":") } { print }' \
    "$T/in" >"$T/marked"
grep REJECTME "$T/marked" >"$T/want.rej"
grep -v REJECTME "$T/marked" >"$T/want.ok"

http_standin s --reject REJECTME
URL=http://127.0.0.1:$HTTP_PORT/in
flespi-to-http -v --rejected "$T/rej" "$URL" <"$T/marked" 2>"$T/err"
check "400 for marked messages: exit 65" [ $? -eq 65 ]
diff_ok "every other message arrives, in order" "$T/want.ok" "$T/s.out"
diff_ok "exactly the marked messages are rejected" "$T/want.rej" "$T/rej"
check "each refusal names its line, the status and the answer" \
    [ "$(grep -Ec '<stdin>:(17|1500|1501|2999): refused by the peer: HTTP 400: refused: a message holds REJECTME' "$T/err")" -eq 4 ]
check "the stats line counts 4 rejected" grep -q "2996 delivered, 0 failed, 4 rejected" "$T/err"

# With --parallel 3 the same holds per device.
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
: >"$T/s.log"; : >"$T/s.out"; rm -f "$T/rej"
http_standin s --reject REJECTME
URL=http://127.0.0.1:$HTTP_PORT/in
flespi-to-http --parallel 3 --batch 300 --rejected "$T/rej" "$URL" \
    <"$T/marked" 2>"$T/err"
check "--parallel 3: exit 65" [ $? -eq 65 ]
diff_ok "--parallel 3: every other message arrives" <(sort "$T/want.ok") <(sort "$T/s.out")
diff_ok "--parallel 3: exactly the marked ones are rejected" <(sort "$T/want.rej") <(sort "$T/rej")

# 413: batches over 50000 bytes are too large, and so is one message.
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
: >"$T/s.log"; : >"$T/s.out"; rm -f "$T/rej"
http_standin s --max-size 50000
URL=http://127.0.0.1:$HTTP_PORT/in
big=$(head -1 "$T/in" | python3 -c 'import json, sys
m = json.loads(sys.stdin.read()); m["blob"] = "x" * 60000
print(json.dumps(m, separators=(",", ":")))')
{ head -500 "$T/in"; echo "$big"; sed -n 501,1000p "$T/in"; } >"$T/big"
head -1000 "$T/in" >"$T/want1000"
flespi-to-http -v --rejected "$T/rej" "$URL" <"$T/big" 2>"$T/err"
check "413: exit 65" [ $? -eq 65 ]
diff_ok "413: every message that fits arrives, in order" "$T/want1000" "$T/s.out"
check "413: the one too large is rejected" \
    [ "$(wc -l <"$T/rej")" -eq 1 ] && grep -q '"blob"' "$T/rej"
check "413: the reason says so" grep -q '<stdin>:501: refused by the peer: HTTP 413' "$T/err"
finish
