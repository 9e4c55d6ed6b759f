#!/usr/bin/env bash
# A short libFuzzer run of every target (tests/fuzz/fuzz_*.c): replays the
# committed corpus, including inputs that once crashed, then explores for
# FUZZ_TIME seconds each.  `make fuzz` runs the same targets for longer.
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."
# Without clang this is a skip, not a pass (FP_NO_SKIP=1 fails it).
if ! command -v clang >/dev/null; then
	skip "clang is not installed (make deps)"
	exit 0
fi
if ! make -s fuzz-build >"$T/build.log" 2>&1; then
	notok "fuzz targets build" "$(tail -5 "$T/build.log")"
	finish; exit
fi
ok "fuzz targets build"
FUZZ_TIME=${FUZZ_TIME:-5} tests/fuzz/run | tee "$T/run.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || _failed=1
# Every target ran: a fuzzer that failed to build or run is not a pass.
for f in tests/fuzz/fuzz_*.c; do
	n=${f##*/}; n=${n%.c}
	grep -q "^ok - $n: \|^not ok - $n " "$T/run.out" ||
	    notok "$n: built and ran" "no result line from tests/fuzz/run"
done
finish
