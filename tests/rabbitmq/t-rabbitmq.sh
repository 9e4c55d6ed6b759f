#!/usr/bin/env bash
# flespi-to-mqtt against a second, independent broker: RabbitMQ's MQTT
# plugin (Debian's rabbitmq-server, MQTT 3.1.1 only), started here as its
# own node on 127.0.0.1 with its own epmd, never the system service.
# QoS 1 with a user and password; a persistent session kept; the broker
# stopped and started again mid-stream with nothing lost; MQTT 5 refused
# with the hint to use 3.1.1; '.' in a topic becomes '/'.  Starting
# RabbitMQ takes seconds and about 100 MB: not part of make check, run by
# make check-rabbitmq.
source "$(dirname "$0")/../lib.sh"

R=$T/r
mkdir -p "$R/mnesia" "$R/log"
read -r EPMD AMQP MQTT DIST < <(free_ports 4 | paste -sd ' ')
export HOME=$R ERL_EPMD_PORT=$EPMD ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_NODENAME=fp$$@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$AMQP RABBITMQ_DIST_PORT=$DIST
export RABBITMQ_MNESIA_BASE=$R/mnesia RABBITMQ_LOG_BASE=$R/log
export RABBITMQ_CONFIG_FILE=$R/rabbitmq RABBITMQ_PID_FILE=$R/pid
export RABBITMQ_ENABLED_PLUGINS_FILE=$R/enabled_plugins
export RABBITMQ_LOGS=$R/log/node.log
echo '[rabbitmq_mqtt].' >"$R/enabled_plugins"
cat >"$R/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP
mqtt.listeners.tcp.default = 127.0.0.1:$MQTT
mqtt.allow_anonymous = false
loopback_users = none
CONF

# Our own epmd, in the foreground: a background job of this test, ended
# with it (a daemonized one would outlive the test).
epmd -port "$EPMD" -address 127.0.0.1 &
rmq_start() {
	/usr/lib/rabbitmq/bin/rabbitmq-server >>"$R/server.out" 2>&1 &
	RPID=$!
	wait_for 90 python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' "$MQTT"
}
rmq_stop() {	# SIGTERM: a clean stop; bounded
	kill "$RPID" 2>/dev/null
	wait_for 60 sh -c "! kill -0 $RPID" || kill -KILL "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
}
timed rmq_start
check "RabbitMQ started on 127.0.0.1 ($ms ms)" [ $rc -eq 0 ] ||
    { tail -20 "$R/server.out" "$R/log/node.log" 2>/dev/null; finish; exit 1; }
export MQTT_PASSWORD=guest
URL=mqtt://127.0.0.1:$MQTT
TO=(flespi-to-mqtt "$URL" --user guest --mqtt-version 3.1.1 --retry-wait 0.2)

# sub OUT: a QoS 1 subscriber with a persistent session (its queue
# survives a restart of the broker), reconnecting by itself.
sub() {
	mosquitto_sub -h 127.0.0.1 -p "$MQTT" -u guest -P guest -V mqttv311 \
	    -q 1 -c -i "sub$RANDOM" -t 'rmq/#' -v >"$1" 2>"$1.err" &
	SUB_PID=$!
	sleep 1	# RabbitMQ logs no subscription; its queue is bound by then
}

# 1. QoS 1, user and password: every message.
python3 "$TESTS/genmsgs.py" 500 --devices 5 >"$T/in"
sub "$T/s1"
timeout 60 "${TO[@]}" -t 'rmq/{ident}' <"$T/in" 2>"$T/err"
rc=$?
wait_for 20 test "$(lines "$T/s1")" -ge 500
kill "$SUB_PID"
check "QoS 1 with a password: exit 0 (rc $rc)" [ $rc -eq 0 ]
cut -d' ' -f2- "$T/s1" | sort >"$T/got"; sort "$T/in" >"$T/want"
diff_ok "... every message as read" "$T/want" "$T/got"

# 2. A persistent session (no clean start) is taken.  RabbitMQ keeps
# state only for subscriptions: for a publisher it says "no session" on
# the next CONNECT, so only the delivery is checked here.
sub "$T/s2"
timeout 30 "${TO[@]}" -i persist --persistent-session -t 'rmq/p/{ident}' \
    <"$T/in" 2>"$T/err"
rc=$?
wait_for 20 test "$(lines "$T/s2")" -ge 500
kill "$SUB_PID"
check "--persistent-session: exit 0, all delivered (rc $rc)" \
    all [ $rc -eq 0 ] -- [ "$(lines "$T/s2")" -eq 500 ]

# 3. The broker stopped and started again mid-stream: nothing lost.
python3 "$TESTS/genmsgs.py" 3000 --devices 10 --seed 3 >"$T/in3"
sub "$T/s3"
timeout 240 "${TO[@]}" --rate 100 -t 'rmq/{ident}' <"$T/in3" 2>"$T/err3" &
fpid=$!
wait_for 20 test "$(lines "$T/s3")" -ge 200
rmq_stop
rmq_start
check "restarted mid-stream, after $(lines "$T/s3") messages" [ $? -eq 0 ]
wait "$fpid"
rc=$?
wait_for 60 python3 -c 'import json, sys
seen = {json.loads(l.split(" ", 1)[1])["timestamp"] for l in open(sys.argv[1])}
sys.exit(len(seen) < 3000)' "$T/s3"
kill "$SUB_PID"
check "... flespi-to-mqtt reconnected and ended 0 (rc $rc)" [ $rc -eq 0 ]
check "... it said the connection was lost" grep -q "lost" "$T/err3"
res=$(python3 -c 'import json, sys
want = {json.loads(l)["timestamp"] for l in open(sys.argv[1])}
got = [json.loads(l.split(" ", 1)[1])["timestamp"] for l in open(sys.argv[2])]
print("%d of %d, missing %d, duplicates %d" % (len(set(got)), len(want),
      len(want - set(got)), len(got) - len(set(got))))' "$T/in3" "$T/s3")
check "... nothing lost: $res" grep -q "missing 0," <<<"$res"

# 4. MQTT 5: RabbitMQ 3.10 closes the connection; the hint says 3.1.1.
timed timeout 60 flespi-to-mqtt "$URL" --user guest --retry-wait 0.2 \
    <"$T/in" 2>"$T/err"
check "MQTT 5 to RabbitMQ 3.10: exit 69 in $ms ms (rc $rc)" [ $rc -eq 69 ]
check "... with the hint --mqtt-version 3.1.1" \
    grep -q "try --mqtt-version 3.1.1" "$T/err"

# 5. RabbitMQ rewrites '.' in a topic to '/' (documented).
head -n 1 "$T/in" >"$T/one"
sub "$T/s5"
timeout 30 "${TO[@]}" -t 'rmq/{ident}.pos' <"$T/one" 2>/dev/null
wait_for 10 test -s "$T/s5"
kill "$SUB_PID"
id=$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["ident"])' <"$T/one")
check "a '.' in the topic arrives as '/' (rmq/$id/pos)" \
    grep -q "^rmq/$id/pos " "$T/s5"
rmq_stop
finish
