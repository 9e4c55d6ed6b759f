#!/usr/bin/env bash
# flespi-recv --mqtt against a second broker, aedes (Node.js, MQTT 3.1.1
# only), which packs many MQTT packets into one TLS record: a burst of
# 3,000 QoS 1 messages all arrives at once, byte for byte, in a few
# writes to stdout rather than one per message; MQTT 5, which aedes
# refuses with a 3.1.1 CONNACK, exits 69 naming --mqtt-version 3.1.1.
source "$(dirname "$0")/lib.sh"
source "$TESTS/tools/mqtt-standin.sh"
export FLESPI_TOKEN=goodtoken
TOPIC=flespi/message/gw/channels/7/352625066004561
N=3000

broker_certs "$T/c" || { notok "certificates"; finish; exit 1; }
python3 "$TESTS/genmsgs.py" $N >"$T/msgs"

# burst OUT ERR [WRAPPER...]: an aedes that publishes the $N messages as
# soon as a consumer subscribes, and a consumer of them (-n $N) run under
# WRAPPER; waits at most 20 s; sets rc and ms.
burst() {
	local out=$1 err=$2 pid t0; shift 2
	aedes_start "$T/c" --publish "$T/msgs" --topic "$TOPIC" ||
	    { notok "aedes starts" "$(cat "$T/c/aedes.err" 2>/dev/null)"; return 1; }
	: >"$out"; : >"$err"
	t0=$(date +%s%N)
	"$@" "${RECV[@]}" -v --mqtt-version 3.1.1 -n $N 7 >"$out" 2>"$err" &
	pid=$!
	# Out of time: the consumer (strace's child, if any: strace then
	# reaps it and ends) first, by id, then what is left.
	if ! wait_for 20 mq_gone $pid; then
		kill -KILL $(pgrep -P $pid) 2>/dev/null
		wait_for 5 mq_gone $pid || kill -KILL $pid 2>/dev/null
	fi
	wait $pid 2>/dev/null; rc=$?
	ms=$(ms_since "$t0")
	aedes_stop
}

# Every message decrypted by OpenSSL must be read at once, not left until
# the next traffic on the socket (the keep-alive, a minute later).
burst "$T/got" "$T/err"
check "$N messages in one burst: all of them within 20 s ($(lines "$T/got") in $ms ms)" \
    test "$(lines "$T/got")" -eq $N
check "... exit 0 (rc $rc)" test $rc -eq 0
diff_ok "... in order, byte for byte" "$T/msgs" "$T/got"

# Lines of one burst leave together: count write(2) calls to stdout.
burst "$T/got2" "$T/err2" strace -qq -e trace=write -o "$T/trace"
w=$(grep -c '^write(1,' "$T/trace")
check "the burst under strace: all $N lines ($(lines "$T/got2"))" \
    test "$(lines "$T/got2")" -eq $N
check "... in at most $((N / 10)) writes to stdout ($w)" \
    test "$w" -gt 0 -a "$w" -le $((N / 10))

# aedes speaks MQTT 3.1.1 only: its CONNACK to MQTT 5 refuses the
# protocol version.  A refusal (69, no retry) whose hint is the option.
aedes_start "$T/c" || notok "aedes starts"
timed timeout 20 "${RECV[@]}" 7 >"$T/out" 2>"$T/err3"
check "MQTT 5 to a 3.1.1-only broker: exit 69 in ${ms} ms (rc $rc)" \
    test $rc -eq 69
check "... once, no retry" test "$(grep -c '^connect 5 ' "$AEDES_LOG")" -eq 1
check "... the hint names --mqtt-version 3.1.1" \
    grep -q 'refused the connection: Unsupported Protocol Version .*try --mqtt-version 3.1.1' "$T/err3"
if grep -q 'check the token' "$T/err3"; then
	notok "... and does not blame the token" "$(cat "$T/err3")"
else
	ok "... and does not blame the token"
fi
aedes_stop
finish
