# A mosquitto broker configured by the test, for flespi-to-mqtt: source it
# after lib.sh (it sources broker.sh, whose certificates a test may use)
# and call
#   mosq_start DIR CONF   start mosquitto with the configuration CONF (a
#                         file), its @P1@, @P2@... replaced by free ports on
#                         127.0.0.1 and @D@ by DIR; sets P1, P2... and
#                         MOSQ_PID; logs in DIR/mosquitto.log
#   mosq_stop             stop it
# MOSQ_LOG_TYPE: what it logs (default all; a bench wants information)
#   mosq_restart DIR      stop, start again with the same ports
# "user root" keeps the files private when the test runs as root
# (mosquitto would drop to the user "mosquitto").

. "$TESTS/broker.sh"

# _mosq_run DIR: start from DIR/mosquitto.conf; 1 unless it runs.
_mosq_run() {
	mosquitto_up "$1" || return 1
	MOSQ_PID=$MOSQUITTO_PID
}

mosq_start() {
	local d=$1 conf=$2 try ports p k sed
	mkdir -p "$d"
	MOSQ_LOG=$d/mosquitto.log
	for try in 1 2 3 4 5; do
		ports=$(free_ports 4)
		k=0 sed="s|@D@|$d|g"
		for p in $ports; do
			k=$((k + 1))
			eval "P$k=$p"
			sed="$sed;s/@P$k@/$p/g"
		done
		{ echo "user root"; echo "log_dest stderr"
		  echo "log_type ${MOSQ_LOG_TYPE:-all}"
		  sed "$sed" "$conf"; } >"$d/mosquitto.conf"
		_mosq_run "$d" && return 0
	done
	echo "mosq_start: mosquitto did not start:" >&2
	tail -5 "$d/mosquitto.log" >&2
	return 1
}

mosq_stop() {
	[ -n "${MOSQ_PID:-}" ] || return 0
	kill "$MOSQ_PID" 2>/dev/null
	wait "$MOSQ_PID" 2>/dev/null
	MOSQ_PID=
}

mosq_restart() {
	local i
	mosq_stop
	for i in $(seq 50); do
		_mosq_run "$1" && return 0
		sleep 0.1
	done
	return 1
}

# mosq_sub OUT COUNT SECS ARGS...: mosquitto_sub -v printing "topic
# payload" lines to OUT until COUNT messages or SECS seconds, with ARGS
# (host, port, credentials, -t); returns once it is subscribed (the
# broker logs "ID 1 FILTER" with log_type subscribe).  Sets SUB_PID.
mosq_sub() {
	local out=$1 count=$2 secs=$3 id n
	shift 3
	id=sub-$RANDOM$RANDOM
	n=$(grep -c ": $id 1 " "$MOSQ_LOG" 2>/dev/null) || n=0
	mosquitto_sub -i "$id" -q 1 -v -C "$count" -W "$secs" "$@" \
	    >"$out" 2>"$out.err" &
	SUB_PID=$!
	wait_for 10 _mosq_logged ": $id 1 " "$n"
}
_mosq_logged() { [ "$(grep -c "$1" "$MOSQ_LOG")" -gt "$2" ]; }
