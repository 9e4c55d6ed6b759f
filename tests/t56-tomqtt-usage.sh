#!/usr/bin/env bash
# flespi-to-mqtt's command line: the broker as mqtt[s]://HOST[:PORT];
# mosquitto_pub's habits answered with hints; no password on the command
# line; warnings for plain TCP off this machine and for MQTT 3.1.1;
# --dump with the line as payload or ThingsBoard's gateway telemetry.
source "$(dirname "$0")/lib.sh"

# usage DESC EXPECTED-TEXT ARGS...: exit 64, the text on stderr.
usage() {
	local desc=$1 want=$2
	shift 2
	flespi-to-mqtt "$@" </dev/null >/dev/null 2>"$T/err"
	local rc=$?
	if [ $rc -eq 64 ] && grep -qF -- "$want" "$T/err"; then ok "$desc"
	else notok "$desc" "rc $rc" "$(head -3 "$T/err")"; fi
}
usage "no broker" "no broker given"
usage "not a URL" "mqtt://HOST[:PORT] or mqtts://" localhost
usage "http://" "mqtt://HOST[:PORT] or mqtts://" http://localhost
usage "a user in the URL" "no user in the URL" mqtt://u:p@localhost
usage "a path in the URL" "the topic is --topic" mqtt://localhost/a/b
usage "a bad port" "is not a port" mqtt://localhost:99999
usage "two brokers" "one broker expected" mqtt://a mqtt://b
usage "-h HOST (mosquitto_pub)" "is the argument mqtt://HOST" -h localhost
usage "-p PORT" "the port goes in the argument" -p 1883 mqtt://x
usage "-q 1 (mosquitto_pub's QoS)" "--qos QOS" -q 1 mqtt://x
usage "-u NAME" "is --user NAME here" -u fleet mqtt://x
usage "-P PASSWORD: never on the command line" "--password-file FILE" \
    -P secret mqtt://x
usage "-r (mosquitto_pub's retain)" "is --retain here" -r mqtt://x
usage "-L URL" "the broker is the argument" -L mqtt://x/t
usage "--qos 2" "2 is not supported" --qos 2 mqtt://x
usage "--format" "is not line or thingsboard" --format json mqtt://x
usage "--mqtt-version 4" "is not 3.1.1 or 5" --mqtt-version 4 mqtt://x
usage "--window 0" "--window" -w 0 mqtt://x
usage "--keepalive 2" "--keepalive" -k 2 mqtt://x
usage "--client-id of 129 bytes" "1 to 128 bytes" \
    -i "$(printf '%0129d' 0)" mqtt://x
usage "... 126 with --connections 2" "1 to 125 bytes" --connections 2 \
    -i "$(printf '%0126d' 0)" mqtt://x
usage "a topic starting with \$" "reserved for the broker" -t '$SYS/{ident}' \
    mqtt://x
usage "--dump with a broker" "--dump connects to nothing" --dump mqtt://x
MQTT_PASSWORD=x usage "a password without a user name" \
    "a password needs a user name" mqtt://127.0.0.1:1

# Eight slashes: AWS's limit is not any broker's.
echo '{"ident":"d1","timestamp":1}' |
    flespi-to-mqtt --dump -t 'a/b/c/d/e/f/g/h/{ident}' >"$T/out" 2>"$T/err"
check "--dump: 8 slashes are fine for any broker" \
    grep -qx 'a/b/c/d/e/f/g/h/d1 {"ident":"d1","timestamp":1}' "$T/out"

# Warnings, seen before connecting (to a port nothing listens on; 0.0.0.0
# is not a loopback name, but connecting to it stays on this machine).
flespi-to-mqtt mqtt://0.0.0.0:1 --retries 0 --retry-wait 0.05 \
    </dev/null 2>"$T/err"
check "plain TCP off this machine: a warning" \
    grep -q "warning: mqtt://0.0.0.0 is not TLS: the messages go out in clear" "$T/err"
flespi-to-mqtt mqtt://127.0.0.1:1 --retries 0 --retry-wait 0.05 </dev/null \
    2>"$T/err"
check "plain TCP on loopback: none" test -z "$(grep warning "$T/err")"
flespi-to-mqtt mqtt://localhost:1 --mqtt-version 3.1.1 --retries 0 \
    --retry-wait 0.05 </dev/null 2>"$T/err"
check "MQTT 3.1.1: a warning that refusals cannot be seen" \
    grep -q "under MQTT 3.1.1 .* refusals cannot be seen" "$T/err"

# Secrets: the password file's mode, MQTT_PASSWORD wiped from /proc.
printf 'pw\n' >"$T/pw"
chmod 644 "$T/pw"
flespi-to-mqtt mqtt://127.0.0.1:1 --user u --password-file "$T/pw" \
    --retries 0 --retry-wait 0.05 </dev/null 2>"$T/err"
check "a password file others may read: a warning" \
    grep -q "is readable by others" "$T/err"
sleep 30 | MQTT_PASSWORD=hunter2 flespi-to-mqtt mqtt://127.0.0.1:1 --user u \
    --retry-wait 0.05 2>/dev/null &
wait_for 5 pgrep -f "flespi-to-mqtt mqtt://127.0.0.1:1 --user u --retry" >/dev/null
pid=$(pgrep -f "flespi-to-mqtt mqtt://127.0.0.1:1 --user u --retry" | head -1)
check "MQTT_PASSWORD is wiped from the environment" \
    test -n "$pid" -a -z "$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep hunter2)"
[ -n "$pid" ] && kill "$pid"

# ThingsBoard's gateway telemetry, values as they were written.
printf '%s\n' '{"ident":"dev 1","timestamp":1700000000.25,"speed":12.50,"p.x":"a\"b","in":[1,2]}' \
    '{"@checkpoint":"5"}' '{"ident":7,"timestamp":1}' |
    flespi-to-mqtt --dump --format thingsboard -t v1/gateway/telemetry \
    >"$T/out" 2>"$T/err"
cat >"$T/want" <<'W'
v1/gateway/telemetry {"dev 1":[{"ts":1700000000250,"values":{"speed":12.50,"p.x":"a\"b","in":[1,2]}}]}
v1/gateway/telemetry {"7":[{"ts":1000,"values":{}}]}
W
diff_ok "--format thingsboard: gateway telemetry, values as written" \
    "$T/want" "$T/out"
finish
