#!/usr/bin/env bash
# The security section of the README, checked: no token option on the
# command line, the token never in -v logs, no core dumps while it is in
# memory, files we create are 0600 whatever the umask.
source "$(dirname "$0")/lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
SECRET=s3cret-$RANDOM-token
python3 "$TESTS/genmsgs.py" 50 >"$T/msgs"
python3 "$TESTS/flespi_standin.py" --port-file "$T/port" --messages "$T/msgs" \
    --token "$SECRET" &
URL=http://127.0.0.1:$(port_of "$T/port")
printf '%s\n' "$SECRET" >"$T/token"

for p in flespi-recv flespi-to-wialon flespi-to-aws; do
	"$p" --token x 1 >/dev/null 2>&1
	check "$p has no --token option (exit 64)" test $? -eq 64
done

umask 022
flespi-recv -v -v --url "$URL" --token-file "$T/token" --state "$T/key" \
    --once 1 >"$T/out" 2>"$T/err"
check "flespi-recv --token-file works" test "$(wc -l <"$T/out")" -eq 50
check "-v logs requests" test -s "$T/err"
check "... and never the token" bash -c "! grep -q '$SECRET' '$T/err'"
check "state file is 0600 under umask 022" \
    test "$(stat -c %a "$T/key")" = 600

head -c 100 /dev/urandom | tr -d '\n' >"$T/garbage"; echo >>"$T/garbage"
flespi-to-wialon --dump --failed "$T/failed" <"$T/garbage" >/dev/null 2>&1
check "--failed file is 0600 under umask 022" \
    test "$(stat -c %a "$T/failed")" = 600

# A long poll holds the token in memory: its core limit must be 0.
FLESPI_TOKEN=$SECRET flespi-recv --url "$URL" --from 51 -t 20 1 >/dev/null &
pid=$!
wait_for 5 grep -q 'Max core file size *0 *0' "/proc/$pid/limits"
check "flespi-recv runs with a zero core-file limit" test $? -eq 0
check "the token is not in its argv" \
    bash -c "! tr '\\0' ' ' </proc/$pid/cmdline | grep -q '$SECRET'"
kill -TERM $pid; wait $pid
check "SIGTERM during a long poll exits 0" test $? -eq 0
finish
