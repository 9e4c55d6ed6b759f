#!/usr/bin/env bash
# End to end, nothing lost: flespi-recv --checkpoints | [jq] |
# flespi-to-mqtt --state into mosquitto over mutual TLS (MQTT 5), one stage
# SIGKILLed at a random moment, the rest stopped (SIGKILL or SIGTERM), the
# pipeline started again, several times; then run to the end.  At a
# subscriber: every message at least once, duplicates within one answer
# plus the window per restart.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
source "$TESTS/e2e.sh"
source "$TESTS/broker.sh"
export FLESPI_TOKEN=test-token

N=10000
ANSWER=1000
WINDOW=100
D=$T/b
broker_certs "$D" && broker_start "$D" || { notok "broker"; finish; exit 1; }
ROUNDS=${E2E_ROUNDS:-6}

msgs $N 7 >"$T/in"
standin s --messages "$T/in"

# The last stage, reading the pipeline on stdin; exec, so that $! is the
# forwarder itself (SIGKILL must reach it, not a subshell).
e2e_forwarder() {
	exec flespi-to-mqtt "mqtts://localhost:$BROKER_PORT" --cafile "$D/ca.pem" \
	    --cert "$D/client.pem" --key "$D/client.key" -w $WINDOW \
	    --retry-wait 0.05 --topic "$1/{ident}" --state "$T/$1.key"
}

one_case() { e2e_mqtt_case "$@"; }

e2e_both
finish
