#!/usr/bin/env bash
# A broker that takes a message and refuses it in its MQTT 5 PUBACK
# (reason code >= 0x80, 0x80 itself included) has it in --rejected and
# the run ends 65, for flespi-to-mqtt and flespi-to-aws alike; a reason
# below 0x80 (0x10, no matching subscribers) is a delivery.  The broker's
# Receive Maximum (CONNACK) bounds what flespi-to-mqtt has in flight.
# A message never acknowledged while those after it are: at the give-up
# only it goes to --failed, not the acknowledged ones behind it.
# The stand-in: tests/tools/mqtt-refuser.py puback.
source "$(dirname "$0")/lib.sh"
source "$TESTS/broker.sh"

D=$T/c
broker_certs "$D" || { notok "certificates"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" 40 --devices 4 >"$T/plain"
python3 - "$T/plain" >"$T/in" <<'PY'
import json, sys
for i, l in enumerate(open(sys.argv[1])):
    m = json.loads(l)
    if i % 5 == 2:
        m["refuse"] = True
    print(json.dumps(m, separators=(",", ":")))
PY
grep '"refuse":true' "$T/in" >"$T/want.rej"

# refuser NAME CODE [ARGS...]: start the stand-in; sets RPORT.
refuser() {
	local n=$1 code=$2
	shift 2
	python3 "$TESTS/tools/mqtt-refuser.py" --cert "$D/server.pem" \
	    --key "$D/server.key" --port-file "$T/$n.port" --log "$T/$n.log" \
	    "$@" puback "$code" &
	RPORT=$(port_of "$T/$n.port")
}

tools() {	# tools PORT: the command line of each tool for the stand-in
	echo "flespi-to-mqtt mqtts://localhost:$1 --cafile $D/ca.pem"
	echo "flespi-to-aws --endpoint localhost --port $1 --cafile $D/ca.pem --cert $D/client.pem --key $D/client.key --mqtt-version 5 --rate 0"
}

for code in 128 135 153; do
	refuser r$code $code
	while read -r -a cmd; do
		name=${cmd[0]}
		rm -f "$T/rej" "$T/failed"
		timeout 30 "${cmd[@]}" --rejected "$T/rej" --failed "$T/failed" \
		    <"$T/in" 2>"$T/err"
		rc=$?
		check "$name, PUBACK reason $code: exit 65 (rc $rc)" [ $rc -eq 65 ]
		diff_ok "... the refused lines in --rejected, in order" \
		    "$T/want.rej" "$T/rej"
		check "... nothing failed" [ "$(lines "$T/failed")" -eq 0 ]
		check "... saying the broker refused it" \
		    grep -q "^$name: <stdin>:3: refused by the peer: .*the broker refused it" \
		    "$T/err"
	done < <(tools "$RPORT")
done

# 0x10 (no matching subscribers) is a success code.
refuser r16 16
while read -r -a cmd; do
	timeout 30 "${cmd[@]}" --rejected "$T/rej16" <"$T/in" 2>"$T/err"
	rc=$?
	check "${cmd[0]}, PUBACK reason 0x10: delivered, exit 0 (rc $rc)" \
	    all [ $rc -eq 0 ] -- [ "$(lines "$T/rej16")" -eq 0 ]
done < <(tools "$RPORT")

# Receive Maximum 3, PUBACKs held until the client stops sending: never
# more than 3 in flight, though the window is 100.
refuser rm 135 --receive-maximum 3 --hold-ms 100
timeout 60 flespi-to-mqtt "mqtts://localhost:$RPORT" --cafile "$D/ca.pem" \
    <"$T/plain" 2>"$T/err"
rc=$?
max=$(awk '$1 == "inflight" && $2 > m { m = $2 } END { print m + 0 }' "$T/rm.log")
check "receive maximum 3: all delivered (rc $rc), at most 3 in flight ($max)" \
    all [ $rc -eq 0 ] -- [ "$max" -eq 3 ]
refuser rm3 135 --hold-ms 100
timeout 60 flespi-to-mqtt "mqtts://localhost:$RPORT" --cafile "$D/ca.pem" \
    --mqtt-version 3.1.1 -w 8 <"$T/plain" 2>/dev/null
max=$(awk '$1 == "inflight" && $2 > m { m = $2 } END { print m + 0 }' "$T/rm3.log")
check "... without it (3.1.1), the window: 8 in flight ($max)" [ "$max" -eq 8 ]

# Every tenth message is never acknowledged, the others are: --retries 0
# gives up at the first silence; --failed holds exactly the unanswered
# ones, in order (those acknowledged after them are delivered, not failed).
python3 - "$T/plain" >"$T/stall.in" <<'PY'
import json, sys
for i, l in enumerate(open(sys.argv[1])):
    m = json.loads(l)
    if i % 10 == 3:
        m["stall"] = True
    print(json.dumps(m, separators=(",", ":")))
PY
grep '"stall":true' "$T/stall.in" >"$T/want.failed"
refuser rs 135
timeout 60 flespi-to-mqtt "mqtts://localhost:$RPORT" --cafile "$D/ca.pem" \
    --ack-timeout 1 --retries 0 --failed "$T/stall.failed" \
    <"$T/stall.in" 2>"$T/stall.err"
rc=$?
check "PUBACKs that never come, --retries 0: exit 75 (rc $rc)" [ $rc -eq 75 ]
diff_ok "... --failed holds the unacknowledged lines only, in order" \
    "$T/want.failed" "$T/stall.failed"
finish
