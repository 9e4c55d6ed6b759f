#!/usr/bin/env bash
# The README's first command works: scripts/demo (what `make demo` runs
# after installing and building) pushes every message through each pipeline.
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."
DEMO_COUNT=200 FP_BIN=$FP_BIN timeout 120 scripts/demo >"$T/demo.out" 2>&1
rc=$?
check "scripts/demo exits 0" test $rc -eq 0
# The --state step prints the count of the first run (-n 100), the key
# file, then the count of the resumed run: 100, 101, the other 100.
sed -n '/flespi-recv --state: resume/,/flespi-to-wialon: forward/p' "$T/demo.out" |
    grep -v -e '^\$ ' -e '== ' -e '^$' >"$T/state.got"
printf '100\nkey file: 101\n100\n' >"$T/state.want"
diff_ok "flespi-recv --state resumed with nothing twice, nothing lost" \
    "$T/state.want" "$T/state.got"
check "the Wialon receiver decoded every message" \
    grep -q 'decoded and acknowledged 200 packets' "$T/demo.out"
check "the MQTT subscriber received every message" \
    grep -q 'subscriber received 200 messages' "$T/demo.out"
check "the demo's flespi-to-mqtt step delivered 200 messages as a ThingsBoard gateway" \
    grep -q 'gateway subscriber received 200 telemetry messages' "$T/demo.out"
check "the HTTP endpoint accepted every message" \
    grep -q 'endpoint accepted 200 messages' "$T/demo.out"
[ $_failed -eq 0 ] || sed 's/^/#   /' "$T/demo.out" | tail -20
finish
