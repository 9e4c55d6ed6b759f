# A local stand-in for flespi's MQTT broker, for the flespi-recv --mqtt
# tests and benchmark: Debian's mosquitto with a TLS listener on 127.0.0.1
# (server certificate from a test CA, no client certificate), no limit on
# queued messages, in-memory sessions.  Source it after tests/lib.sh:
#   mq_start DIR   certificates (broker_certs from tests/broker.sh) and a
#                  broker on a free port; sets MQ_PORT, MQ_PID, MQ_CA
#   mq_stop        stop it
#   mq_restart     stop it and start it again on the same port
#   mq_pub TOPIC   publish stdin's lines at QoS 1 (mosquitto_pub -l)
#   mq_cmd         RECV=(flespi-recv --mqtt --url/--cafile for the stand-in)
#   aedes_start DIR, aedes_stop   a second broker, aedes (see below)
# Authorisation: every client may publish under flespi/; only the user
# "goodtoken" may read there (mosquitto still accepts the SUBSCRIBE of
# others and then drops their messages, so the CONNACK/SUBACK refusals are
# tested against tests/tools/mqtt-refuser.py instead).

# mosquitto lives in /usr/sbin, which a non-login PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
source "$TESTS/broker.sh"

mq_conf() {
	local d=$1 port=$2
	cat >"$d/acl" <<-ACL
	topic write flespi/#
	user goodtoken
	topic read flespi/#
	ACL
	cat >"$d/mq.conf" <<-CONF
	user root
	per_listener_settings false
	persistence false
	log_dest stderr
	log_type error
	log_type warning
	log_type notice
	log_type information
	log_type subscribe
	connection_messages true
	max_inflight_messages 100
	max_queued_messages 0
	listener $port 127.0.0.1
	cafile $d/ca.pem
	certfile $d/server.pem
	keyfile $d/server.key
	allow_anonymous true
	acl_file $d/acl
	CONF
}

mq_start() {
	local d=$1 port try i
	MQ_CA=$d/ca.pem
	[ -s "$MQ_CA" ] || broker_certs "$d" || return 1
	for try in 1 2 3 4 5; do
		port=$(free_ports 1)
		mq_conf "$d" "$port"
		: >"$d/mq.log"
		mosquitto -c "$d/mq.conf" >>"$d/mq.log" 2>&1 &
		MQ_PID=$!
		for i in $(seq 100); do
			if grep -q "mosquitto version .* running" "$d/mq.log"; then
				MQ_PORT=$port MQ_DIR=$d
				mq_cmd
				return 0
			fi
			kill -0 "$MQ_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$MQ_PID" 2>/dev/null
		wait "$MQ_PID" 2>/dev/null
	done
	echo "mq_start: mosquitto did not start:" >&2
	cat "$d/mq.log" >&2
	return 1
}

# mq_restart: stop, start again on the same port (sessions are lost:
# persistence is off); bounded retries while the old socket lingers.
mq_restart() {
	local i j
	mq_stop
	for i in $(seq 50); do
		: >"$MQ_DIR/mq.log"
		mosquitto -c "$MQ_DIR/mq.conf" >>"$MQ_DIR/mq.log" 2>&1 &
		MQ_PID=$!
		for j in $(seq 40); do
			grep -q "mosquitto version .* running" "$MQ_DIR/mq.log" &&
			    return 0
			kill -0 "$MQ_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$MQ_PID" 2>/dev/null
		wait "$MQ_PID" 2>/dev/null
		sleep 0.1
	done
	return 1
}

mq_stop() {
	[ -n "${MQ_PID:-}" ] || return 0
	kill "$MQ_PID" 2>/dev/null
	wait "$MQ_PID" 2>/dev/null
	MQ_PID=
}

mq_pub() {
	mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" --cafile "$MQ_CA" -q 1 \
	    -t "$1" -l
}

# mq_cmd: RECV=(flespi-recv --mqtt --url ... --cafile ...) for the stand-in
# on MQ_PORT with MQ_CA.  An array, not a function, so that "$!" of
# "${RECV[@]}" & is the process itself.
mq_cmd() {
	RECV=("$FP_BIN/flespi-recv" --mqtt --url "mqtts://127.0.0.1:$MQ_PORT"
	    --cafile "$MQ_CA")
}

# mq_subscribed ERRFILE [N]: the consumer logging to ERRFILE (-v) has
# had its subscription granted at least N times (default 1).
mq_subscribed() {
	[ "$(grep -c 'subscribed to' "$1" 2>/dev/null)" -ge "${2:-1}" ]
}

# mq_lines_ge N FILE...: the files hold at least N lines together (for
# wait_for, which must re-count on every try).
mq_lines_ge() {
	local n=$1; shift
	[ "$(cat "$@" 2>/dev/null | wc -l)" -ge "$n" ]
}

# mq_wait PID [SECS]: wait for a consumer to exit, at most SECS (default
# 30) seconds, then SIGKILL it; returns its exit status.  (kill -0 is true
# for an unreaped child, hence the look at its state.)
mq_gone() {
	[ ! -e "/proc/$1/stat" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"
}
mq_wait() {
	wait_for "${2:-30}" mq_gone "$1" || kill -KILL "$1" 2>/dev/null
	wait "$1"
}

# aedes, a second broker (tests/aedes: Node.js, MQTT 3.1.1 only, packs
# several packets into one TLS record).  Its npm packages come from
# tests/aedes/package-lock.json: `make deps` installs them, and so does
# aedes_deps when they are missing (tests/aedes/install).
aedes_deps() { "$TESTS/aedes/install"; }

# aedes_start DIR [--publish FILE --topic TOPIC]: aedes over TLS on a free
# port with the certificates of DIR (broker_certs; made when missing);
# sets MQ_PORT, MQ_CA, AEDES_PID, AEDES_LOG (tests/aedes/broker.js says
# what it logs) and RECV (mq_cmd).
aedes_start() {
	local d=$1; shift
	aedes_deps || return 1
	MQ_CA=$d/ca.pem
	[ -s "$MQ_CA" ] || broker_certs "$d" || return 1
	AEDES_LOG=$d/aedes.log
	rm -f "$d/aedes.port"
	node "$TESTS/aedes/broker.js" --cert "$d/server.pem" \
	    --key "$d/server.key" --port-file "$d/aedes.port" \
	    --log "$AEDES_LOG" "$@" 2>>"$d/aedes.err" &
	AEDES_PID=$!
	MQ_PORT=$(port_of "$d/aedes.port") || return 1
	mq_cmd
}

aedes_stop() {
	[ -n "${AEDES_PID:-}" ] || return 0
	kill "$AEDES_PID" 2>/dev/null
	wait "$AEDES_PID" 2>/dev/null
	AEDES_PID=
}
