#!/usr/bin/env bash
# The README's first command works: scripts/demo (what `make demo` runs
# after installing and building) pushes every message through each pipeline.
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."
DEMO_COUNT=200 FP_BIN=$FP_BIN timeout 120 scripts/demo >"$T/demo.out" 2>&1
rc=$?
check "scripts/demo exits 0" test $rc -eq 0
check "flespi-recv --state resumed with nothing twice" \
    grep -qx '100' "$T/demo.out"
check "the Wialon receiver decoded every message" \
    grep -q 'decoded and acknowledged 200 packets' "$T/demo.out"
check "the MQTT subscriber received every message" \
    grep -q 'subscriber received 200 messages' "$T/demo.out"
check "the HTTP endpoint accepted every message" \
    grep -q 'endpoint accepted 200 messages' "$T/demo.out"
[ $_failed -eq 0 ] || sed 's/^/#   /' "$T/demo.out" | tail -20
finish
