#!/usr/bin/env bash
# End to end, nothing lost: flespi-recv --checkpoints | [jq] |
# flespi-to-wialon --state, one stage SIGKILLed at a random moment, the
# rest stopped (SIGKILL or SIGTERM), the pipeline started again, several
# times; then run to the end.  At the real receiver: every message at
# least once, duplicates within one answer plus the window per restart.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
source "$TESTS/e2e.sh"
export FLESPI_TOKEN=test-token

N=20000
ANSWER=1000
WINDOW=64
ROUNDS=${E2E_ROUNDS:-6}

msgs $N 7 >"$T/in"
standin s --messages "$T/in"

# The last stage, reading the pipeline on stdin; exec, so that $! is the
# forwarder itself (SIGKILL must reach it, not a subshell).
e2e_forwarder() {
	exec flespi-to-wialon --state "$T/$1.key" -w $WINDOW --retry-wait 0.05 \
	    "127.0.0.1:$port"
}

one_case() {
	local n=$1 usejq=$2
	start_recv $n
	e2e_rounds $n $usejq
	e2e_judge $n wialon $usejq
	kill $rpid 2>/dev/null
}

e2e_both
finish
