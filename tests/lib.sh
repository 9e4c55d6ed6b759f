# Shared helpers for the shell cases; source it first.
#   ok DESC / notok DESC [DETAIL...]  - one TAP line each
#   check DESC CMD...                 - ok if CMD succeeds
#   all CMD -- CMD...                 - succeeds if every CMD does (for check)
#   wait_for SECS CMD... / free_ports N   - from util.sh (see there)
#   port_of FILE                      - wait for a server's port file
#   finish                            - exit 1 if anything failed
# $T is a private temporary directory, removed with every background job
# at exit; $FP_BIN holds the programs and is first on PATH.
set -u
: "${FP_BIN:=$(cd "$(dirname "$0")/../build" && pwd)}"
TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$TESTS/util.sh"	# wait_for, free_ports
# The system's own interpreters and tools first (Debian packages: python3
# with python3-requests), before any per-user shims in PATH: a pyenv shim
# costs half a second per python3 start.
export PATH="$FP_BIN:/usr/bin:/bin:$PATH:/usr/sbin:/sbin"
T=$(mktemp -d "${TMPDIR:-/tmp}/fp-test.XXXXXX")
# Every curl a test runs to its stand-ins ends within a minute: a peer
# that hangs fails the case instead of stalling the whole file.
printf 'max-time = 60\n' >"$T/.curlrc"
export CURL_HOME=$T
_failed=0

cleanup() {
	local pids
	pids=$(jobs -p)
	[ -n "$pids" ] && kill $pids 2>/dev/null
	[ -n "$pids" ] && wait $pids 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
notok() {
	echo "not ok - $1"; shift
	for l in "$@"; do printf '#   %s\n' "$l"; done
	_failed=$((_failed + 1))
}
skip() { echo "ok - $* # SKIP"; }

check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else notok "$desc" "command: $*"; fi
}

# all CMD1 -- CMD2 -- ...: true if every command succeeds.  Lets one check
# test several conditions; `check D [ a ] && [ b ]` would test b outside it.
all() {
	local a=()
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then
			"${a[@]}" || return 1
			a=()
		else
			a+=("$1")
		fi
		shift
	done
	[ ${#a[@]} -eq 0 ] || "${a[@]}"
}

# diff_ok DESC WANTFILE GOTFILE: ok, or the first lines of diff -u.
diff_ok() {
	if diff -u "$2" "$3" >"$T/diff" 2>&1; then ok "$1"
	else notok "$1" "$(head -20 "$T/diff")"; fi
}

# ms_since T0: whole milliseconds since T0 (a date +%s%N).
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# timed CMD...: run CMD; sets rc to its exit status and ms to the
# milliseconds it took.
timed() {
	local t0
	t0=$(date +%s%N)
	"$@"
	rc=$?
	ms=$(ms_since "$t0")
}


port_of() {
	wait_for 10 test -s "$1" || return 1
	cat "$1"
}

# msgs COUNT DEVICES [EVERY]: COUNT small flespi messages (seq 0 to
# COUNT - 1, ident dev0 to devDEVICES-1 in turn); with EVERY, a checkpoint
# line after every EVERY of them whose key is how many came before it.
msgs() {
	python3 -c '
import sys
n, d = int(sys.argv[1]), int(sys.argv[2])
k = int(sys.argv[3]) if len(sys.argv) > 3 else 0
w = sys.stdout.write
for i in range(n):
    w("{\"ident\":\"dev%d\",\"timestamp\":%d,\"seq\":%d}\n" % (i % d, 1700000000 + i, i))
    if k and (i + 1) % k == 0:
        w("{\"@checkpoint\":\"%d\"}\n" % (i + 1))
' "$@"
}
ckmsgs() { msgs "$1" 3 "$2"; }

# nogrep ARGS...: grep -q ARGS finds nothing.
nogrep() { ! grep -q "$@"; }

# readme_block START END: the README's lines from the first holding the
# string START to the next holding END, indentation of 4 removed.
readme_block() {
	awk -v a="$1" -v b="$2" '
	    !on && index($0, a) { on = 1; print; next }
	    on { print; if (index($0, b)) exit }' "$TESTS/../README" |
	    sed 's/^    //'
}

# lines FILE: how many lines FILE has (0 when it does not exist).
lines() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }

finish() {
	[ $_failed -eq 0 ]
}
