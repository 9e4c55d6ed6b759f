# A local stand-in for AWS IoT Core: Debian's mosquitto with a mutual-TLS
# listener on 127.0.0.1 (client certificate required, QoS 1 at most, 100
# messages in flight), certificates made here with openssl.  Source it
# (after lib.sh in tests) and call:
#   broker_certs DIR     CA, server (localhost/127.0.0.1) and client
#                        certificates in DIR, plus other-ca.pem and a client
#                        certificate from that other CA (other.pem/.key)
#   broker_start DIR     start the broker on a free port (persistence in
#                        DIR); sets BROKER_PORT and BROKER_PID
#   broker_stop          stop it (SIGTERM: it saves its sessions)
#   broker_restart DIR   stop, start again on the same port
#   broker_sub DIR ID COUNT SECS OUT [FILTER]
#                        a persistent-session QoS 1 subscriber to FILTER
#                        ('#' by default; '#' does not match '$' topics)
#                        printing "topic payload" lines to OUT until COUNT
#                        messages or SECS seconds; waits until it is
#                        subscribed; sets SUB_PID
# Started as root, mosquitto would drop to the user "mosquitto", which
# cannot read a private temporary directory: the configuration says
# "user root" instead, so files stay private (0600 keys, 0700 directory).

# mosquitto lives in /usr/sbin, which a non-login PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac

# One certificate signed by a CA: _cert DIR NAME CA CN [SAN]
_broker_cert() {
	local d=$1 name=$2 ca=$3 cn=$4 san=${5:-}
	openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$name.key" \
	    -subj "/CN=$cn" -out "$d/$name.csr" 2>/dev/null || return 1
	if [ -n "$san" ]; then
		printf 'subjectAltName=%s\n' "$san" >"$d/$name.ext"
	else
		printf 'extendedKeyUsage=clientAuth\n' >"$d/$name.ext"
	fi
	openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" \
	    -CAkey "$d/$ca.key" -CAcreateserial -days 2 -sha256 \
	    -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
}

broker_certs() {
	local d=$1 ca
	mkdir -p "$d" || return 1
	for ca in ca other-ca; do
		openssl req -x509 -new -newkey rsa:2048 -nodes -days 2 -sha256 \
		    -keyout "$d/$ca.key" -subj "/CN=flespi-pipe test $ca" \
		    -out "$d/$ca.pem" 2>/dev/null || return 1
	done
	_broker_cert "$d" server ca localhost \
	    "DNS:localhost,IP:127.0.0.1" || return 1
	_broker_cert "$d" client ca flespi-to-aws-test || return 1
	_broker_cert "$d" other other-ca flespi-to-aws-other || return 1
	chmod 600 "$d"/*.key
}

_broker_conf() {
	local d=$1 port=$2
	cat >"$d/mosquitto.conf" <<-CONF
	user root
	per_listener_settings false
	persistence true
	persistence_location $d/
	log_dest stderr
	log_type error
	log_type warning
	log_type notice
	log_type information
	log_type subscribe
	max_inflight_messages 100
	max_queued_messages 0
	listener $port 127.0.0.1
	max_qos 1
	cafile $d/ca.pem
	certfile $d/server.pem
	keyfile $d/server.key
	require_certificate true
	use_identity_as_username true
	allow_anonymous true
	tls_version tlsv1.2
	CONF
}

# mosquitto_up DIR: start mosquitto from DIR/mosquitto.conf, logging to
# DIR/mosquitto.log, and wait until it says it runs; sets MOSQUITTO_PID.
# 1 (and nothing left running) if it did not start.
mosquitto_up() {
	local d=$1 i n c
	n=$(grep -c "mosquitto version .* running" "$d/mosquitto.log" \
	    2>/dev/null) || n=0
	mosquitto -c "$d/mosquitto.conf" >>"$d/mosquitto.log" 2>&1 &
	MOSQUITTO_PID=$!
	for i in $(seq 100); do
		c=$(grep -c "mosquitto version .* running" \
		    "$d/mosquitto.log" 2>/dev/null)
		[ "${c:-0}" -gt "$n" ] && return 0
		kill -0 "$MOSQUITTO_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill "$MOSQUITTO_PID" 2>/dev/null
	wait "$MOSQUITTO_PID" 2>/dev/null
	return 1
}

# _broker_run DIR PORT: start and wait until it listens; 1 if it did not.
_broker_run() {
	_broker_conf "$1" "$2"
	mosquitto_up "$1" || return 1
	BROKER_PID=$MOSQUITTO_PID
	BROKER_PORT=$2
}

broker_start() {
	local d=$1 port try
	for try in 1 2 3 4 5; do
		port=$(free_ports 1)
		_broker_run "$d" "$port" && return 0
	done
	echo "broker_start: mosquitto did not start:" >&2
	cat "$d/mosquitto.log" >&2 2>/dev/null
	return 1
}

broker_stop() {
	[ -n "${BROKER_PID:-}" ] || return 0
	kill "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null
	BROKER_PID=
}

broker_restart() {
	local d=$1 i
	broker_stop
	# The old socket may linger a moment: retry the same port, bounded.
	for i in $(seq 50); do
		_broker_run "$d" "$BROKER_PORT" && return 0
		sleep 0.1
	done
	return 1
}

broker_sub() {
	local d=$1 id=$2 count=$3 secs=$4 out=$5 filter=${6:-#} n
	n=$(grep -c "^[0-9]*: $id 1 " "$d/mosquitto.log" 2>/dev/null)
	mosquitto_sub -h localhost -p "$BROKER_PORT" --cafile "$d/ca.pem" \
	    --cert "$d/client.pem" --key "$d/client.key" -q 1 -c -i "$id" \
	    -t "$filter" -v -C "$count" -W "$secs" >"$out" 2>"$out.err" &
	SUB_PID=$!
	# Subscribed once the broker logs it ("ID 1 FILTER").
	wait_for 10 _broker_logged "$d" "^[0-9]*: $id 1 " "${n:-0}"
}

# _broker_logged DIR REGEX N: the log holds more than N matching lines.
_broker_logged() {
	[ "$(grep -c "$2" "$1/mosquitto.log")" -gt "$3" ]
}

# The connection options flespi-to-aws needs for this broker.
broker_aws_args() {
	echo "--endpoint localhost --port $BROKER_PORT --cafile $1/ca.pem" \
	    "--cert $1/client.pem --key $1/client.key"
}

# payloads OUT: the payloads of broker_sub's "topic payload" lines.
payloads() {
	cut -d' ' -f2- "$1"
}
