#!/usr/bin/env bash
# The mutation suite stays runnable: every planted bug in tests/mutants
# still finds its line in the source exactly once (a mutant that no longer
# applies tests nothing, silently).  Running the mutants themselves takes
# half an hour: make mutate.
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."
MUT_CHECK=1 tests/mutants/run >"$T/out" 2>&1
rc=$?
check "tests/mutants/run in check mode: exit 0 ($rc)" test $rc = 0
stale=$(grep '^STALE' "$T/out")
check "every mutant applies${stale:+:
$stale}" test -z "$stale"
check "... and there are some ($(tail -1 "$T/out"))" \
    grep -q '^[1-9][0-9]* apply, 0 stale' "$T/out"
finish
