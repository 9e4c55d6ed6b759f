#!/usr/bin/env bash
# flespi-to-mqtt against mosquitto over plain TCP with a password file and
# an ACL: delivered at QoS 1 with the right password; a wrong one refused
# (69) at once; a topic the ACL denies refused message by message under
# MQTT 5 (--rejected, 65), and under MQTT 3.1.1, where the broker
# acknowledges and drops, said at the start; QoS 0; --retain; persistent
# sessions kept by the broker (3.1.1 and 5); the broker's receive maximum
# honoured; several connections, each device's messages in order.
source "$(dirname "$0")/lib.sh"
source "$TESTS/mosq.sh"

D=$T/m
mkdir -p "$D"
mosquitto_passwd -b -c "$D/passwd" fleet 's3cret pass' 2>/dev/null
mosquitto_passwd -b "$D/passwd" reader readpw 2>/dev/null
cat >"$D/acl" <<'ACL'
user fleet
topic write fleet/#
user reader
topic read #
ACL
chmod 600 "$D/passwd" "$D/acl"
cat >"$T/conf" <<'CONF'
# (max_queued_messages 0, "no limit", makes mosquitto 2.0.11 drop an
# MQTT 5 client after each PUBACK that refuses a publish.)
per_listener_settings false
persistence true
persistence_location @D@/
allow_anonymous false
password_file @D@/passwd
acl_file @D@/acl
max_inflight_messages 5
max_queued_messages 1000000
listener @P1@ 127.0.0.1
CONF
mosq_start "$D" "$T/conf" || { notok "mosquitto"; finish; exit 1; }
URL=mqtt://127.0.0.1:$P1
SUBARGS=(-h 127.0.0.1 -p "$P1" -u reader -P readpw)
printf 's3cret pass\n' >"$T/pw"
chmod 600 "$T/pw"
python3 "$TESTS/genmsgs.py" 200 --devices 7 >"$T/in"

# 1. The right password, QoS 1, MQTT 5: every message, as read.
mosq_sub "$T/s1" 200 20 "${SUBARGS[@]}" -t 'fleet/#' || notok "subscriber 1"
timeout 30 flespi-to-mqtt "$URL" --user fleet --password-file "$T/pw" \
    -t 'fleet/{ident}' -v <"$T/in" 2>"$T/err"
rc=$?
wait "$SUB_PID"
check "password file and ACL: exit 0 (rc $rc)" [ $rc -eq 0 ]
check "... no warning on loopback plain TCP" \
    test -z "$(grep -i 'warning' "$T/err")"
payloads "$T/s1" | sort >"$T/got"
sort "$T/in" >"$T/want"
diff_ok "... every payload the line as read" "$T/want" "$T/got"
check "... each on its device's topic" \
    test "$(cut -d' ' -f1 "$T/s1" | sort -u | wc -l)" -eq 7
check "... the broker's receive maximum (5) honoured" \
    grep -q "receive maximum is 5: 5 in flight" "$T/err"

# 2. The password from the environment, and wiped from it.
mosq_sub "$T/s2" 200 20 "${SUBARGS[@]}" -t 'fleet/#' || notok "subscriber 2"
MQTT_PASSWORD='s3cret pass' timeout 30 flespi-to-mqtt "$URL" --user fleet \
    -t 'fleet/{ident}' <"$T/in" 2>"$T/err"
rc=$?
wait "$SUB_PID"
check "MQTT_PASSWORD: exit 0, all delivered (rc $rc)" \
    all [ $rc -eq 0 ] -- [ "$(lines "$T/s2")" -eq 200 ]

# 3. A wrong password: refused at once, every line in --failed.
printf 'wrong\n' >"$T/bad"
chmod 600 "$T/bad"
timed timeout 30 flespi-to-mqtt "$URL" --user fleet --password-file \
    "$T/bad" --failed "$T/failed" <"$T/in" 2>"$T/err"
check "wrong password: exit 69 within 5 s (rc $rc, $ms ms)" \
    all [ $rc -eq 69 ] -- [ $ms -lt 5000 ]
check "... saying so" grep -qi "connection refused by .*not authorized (are the user name, the password" "$T/err"
diff_ok "... every line in the failed file" "$T/in" "$T/failed"
timeout 30 flespi-to-mqtt "$URL" <"$T/in" >/dev/null 2>"$T/err"
check "no user name (anonymous refused): exit 69" [ $? -eq 69 ]

# 4. A topic the ACL denies.  MQTT 5: PUBACK "not authorized" for each
# message on the denied topic (a refusal, not a silent drop); the allowed
# ones delivered.
python3 - "$T/in" >"$T/mixed" <<'PY'
import json, sys
for i, l in enumerate(open(sys.argv[1])):
    m = json.loads(l)
    m["where"] = "secret" if i % 4 == 0 else "fleet"
    print(json.dumps(m, separators=(",", ":")))
PY
grep -c '"where":"secret"' "$T/mixed" >"$T/nsecret"
mosq_sub "$T/s4" 150 20 "${SUBARGS[@]}" -t '#' || notok "subscriber 4"
timeout 30 flespi-to-mqtt "$URL" --user fleet --password-file "$T/pw" \
    -t '{where}/{ident}' --rejected "$T/rej" <"$T/mixed" 2>"$T/err"
rc=$?
wait "$SUB_PID"
check "ACL-denied topic, MQTT 5: exit 65 (rc $rc)" [ $rc -eq 65 ]
check "... each refused line in --rejected" \
    all [ "$(lines "$T/rej")" -eq "$(cat "$T/nsecret")" ] -- \
    test -z "$(grep -v '"where":"secret"' "$T/rej")"
check "... saying the broker refused it: not authorized" \
    grep -qi "broker refused it: not authorized" "$T/err"
check "... the allowed ones delivered, the denied none" \
    all [ "$(lines "$T/s4")" -eq 150 ] -- \
    test -z "$(grep '^secret/' "$T/s4")"

# MQTT 3.1.1: mosquitto acknowledges the denied publish and drops it;
# the client cannot tell, and says so before it starts.
timeout 30 flespi-to-mqtt "$URL" --user fleet --password-file "$T/pw" \
    --mqtt-version 3.1.1 -t 'secret/{ident}' <"$T/in" 2>"$T/err"
rc=$?
check "ACL-denied topic, MQTT 3.1.1: the broker acknowledges (rc $rc)" \
    [ $rc -eq 0 ]
check "... and the tool warned that 3.1.1 hides refusals" \
    grep -q "warning: under MQTT 3.1.1 a broker acknowledges a publish it refuses" "$T/err"

# 5. QoS 0 and --retain: a subscriber that comes later gets the last
# retained message of each topic.
head -n 14 "$T/in" >"$T/in14"
timeout 30 flespi-to-mqtt "$URL" --user fleet --password-file "$T/pw" \
    --qos 0 --retain -t 'fleet/r/{ident}' <"$T/in14" 2>"$T/err"
check "--qos 0 --retain: exit 0" [ $? -eq 0 ]
timeout 10 mosquitto_sub "${SUBARGS[@]}" -t 'fleet/r/#' -v -C 7 -W 5 \
    >"$T/s5" 2>/dev/null
tail -n 7 "$T/in14" | sort >"$T/want5"
payloads "$T/s5" | sort >"$T/got5"
diff_ok "... a later subscriber gets each device's last message, retained" \
    "$T/want5" "$T/got5"

# 6. Persistent sessions: the broker has the session when the client id
# comes back without a clean start (3.1.1 and 5); a clean one has none.
# session_present VERSION ID: CONNECT without clean start as ID, print the
# CONNACK's session-present flag.
session_present() {
	python3 - "$P1" "$1" "$2" <<'PY'
import socket, sys
port, ver, cid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
def s16(b): return len(b).to_bytes(2, "big") + b
body = s16(b"MQTT") + bytes([ver, 0xC0]) + (60).to_bytes(2, "big")
if ver == 5:
    body += bytes([5, 0x11, 0, 0, 0, 60])    # session expiry 60 s
body += s16(cid) + s16(b"fleet") + s16(b"s3cret pass")
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(bytes([0x10, len(body)]) + body)
r = s.recv(64)
print(r[2] & 1 if r and r[0] == 0x20 and r[3] == 0 else "refused %r" % r)
PY
}
for v in 5 3.1.1; do
	id=persist-$v
	timeout 30 flespi-to-mqtt "$URL" --user fleet --password-file "$T/pw" \
	    --mqtt-version $v -i "$id" --persistent-session -t 'fleet/{ident}' \
	    <"$T/in14" 2>/dev/null
	rc=$?
	pv=5; [ $v = 5 ] || pv=4
	check "--persistent-session, MQTT $v: the broker kept the session (rc $rc)" \
	    [ "$(session_present $pv "$id")" = 1 ]
	timeout 30 flespi-to-mqtt "$URL" --user fleet --password-file "$T/pw" \
	    --mqtt-version $v -i "clean-$v" -t 'fleet/{ident}' <"$T/in14" \
	    2>/dev/null
	check "... a clean session, MQTT $v: none kept" \
	    [ "$(session_present $pv "clean-$v")" = 0 ]
done
flespi-to-mqtt "$URL" --persistent-session </dev/null 2>"$T/err"
check "--persistent-session without --client-id: exit 64" \
    all [ $? -eq 64 ] -- grep -q "needs --client-id" "$T/err"

# 7. Four connections: every message, each device's in order.
python3 "$TESTS/genmsgs.py" 2000 --devices 40 >"$T/in2k"
mosq_sub "$T/s7" 2000 30 "${SUBARGS[@]}" -t 'fleet/s/#' || notok "subscriber 7"
timeout 60 flespi-to-mqtt "$URL" --user fleet --password-file "$T/pw" \
    --connections 4 -i shard -t 'fleet/s/{ident}' <"$T/in2k" 2>"$T/err"
rc=$?
wait "$SUB_PID"
check "--connections 4: exit 0 (rc $rc)" [ $rc -eq 0 ]
check "... four client ids at the broker" \
    test "$(grep -o 'New client connected from .* as shard-[0-3]' \
    "$MOSQ_LOG" | awk '{print $NF}' | sort -u | wc -l)" -eq 4
payloads "$T/s7" >"$T/got7"
check "... each device's messages in input order" python3 -c '
import json, sys
want, got = {}, {}
for f, d in ((sys.argv[1], want), (sys.argv[2], got)):
    for l in open(f):
        m = json.loads(l)
        d.setdefault(m["ident"], []).append(m["timestamp"])
sys.exit(want != got)' "$T/in2k" "$T/got7"
mosq_stop
finish
