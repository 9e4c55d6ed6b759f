#!/usr/bin/env bash
# A short libFuzzer run of every target (tests/fuzz/fuzz_*.c): replays the
# committed corpus, including inputs that once crashed, then explores for
# FUZZ_TIME seconds each.  `make fuzz` runs the same targets for longer.
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."
if ! command -v clang >/dev/null; then
	skip "clang is not installed (make deps)"
	exit 0
fi
if ! make -s fuzz-build >"$T/build.log" 2>&1; then
	notok "fuzz targets build" "$(tail -5 "$T/build.log")"
	finish; exit
fi
ok "fuzz targets build"
FUZZ_TIME=${FUZZ_TIME:-8} tests/fuzz/run
[ $? -eq 0 ] || _failed=1
finish
