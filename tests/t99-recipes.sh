#!/usr/bin/env bash
# The service recipes users copy really work: the command lines of
# scripts/systemd/flespi-to-wialon@.service and scripts/cron/flespi-pipe,
# taken from those files (not a copy), run against the local stand-ins.
# The unit is Type=notify: its pipeline says READY=1, WATCHDOG=1 (the
# shell hands the watchdog to both stages) and STOPPING=1 to a stand-in
# socket, and writes both stages' metrics with METRICS_DIR; the staged
# install (make install DESTDIR=...) passes systemd-analyze verify and
# scores "OK" or better in systemd-analyze security; the cron file is
# installed under a name Debian's cron reads.
# The unit: messages arrive; SIGTERM to its process group loses nothing
# (the key saved is covered by what the receiver has, and a restart
# brings the rest); a bad token fails it with 69; a forwarder that exits
# fails it at once even while flespi-recv waits on a quiet channel;
# systemd-analyze verify passes.  The cron lines, run as cron runs them
# (/bin/sh, PATH=/usr/bin:/bin, nothing else in the environment): they
# deliver and resume, a bad token fails the run, and a run that overlaps
# the previous one exits at once.  The README's service section matches
# the files, and its token step, --dump=text example and replay snippet
# run as written.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
cd "$TESTS/.."
unset FLESPI_TOKEN
UNIT=scripts/systemd/flespi-to-wialon@.service
CONF=scripts/systemd/flespi-to-wialon.conf
CRON=scripts/cron/flespi-pipe
CH=1234
SYSTEMD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# ---- systemd-analyze verify (systemd is in the Makefile's DEBS)
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no "$UNIT" >"$T/verify.out" 2>&1
	rc=$?
	check "systemd-analyze verify $UNIT: exit 0 ($rc), no complaint" \
	    test $rc = 0 -a ! -s "$T/verify.out"
	[ -s "$T/verify.out" ] && sed 's/^/#   /' "$T/verify.out"
else
	notok "systemd-analyze is installed (make deps)"
fi

# ---- the staged install: verify and security on what make install puts
# down, the cron file under a name Debian's cron reads
STAGE=$T/stage
SHARE=$STAGE/usr/local/share/flespi-pipe
if make -s -C "$TESTS/.." O="$FP_BIN" DESTDIR="$STAGE" PREFIX=/usr/local \
    install >"$T/install.out" 2>&1; then
	ok "make install DESTDIR=... PREFIX=/usr/local"
else
	notok "make install DESTDIR=... PREFIX=/usr/local" "$(tail -5 "$T/install.out")"
fi
# Bash completion, installed where bash-completion looks for each command,
# made from the commands' own option tables.
COMP=$STAGE/usr/local/share/bash-completion/completions
check "bash completion installed under each command's name" \
    all test -f "$COMP/flespi-recv" -- test -f "$COMP/flespi-to-wialon" -- \
    test -f "$COMP/flespi-to-aws" -- test -f "$COMP/flespi-to-http"
# comp WORD...: what completing the last word offers, one a line.
comp() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
	    _flespi_pipe; printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP/flespi-recv" "$@"
}
check "completion: flespi-to-http --ret offers --retries, --retry, --retry-wait" \
    test "$(comp flespi-to-http --ret | sort | tr '\n' ' ')" = "--retries --retry --retry-wait "
check "completion: flespi-to-wialon --dump= offers hex and text" \
    test "$(comp flespi-to-wialon --dump= | tr '\n' ' ')" = "--dump=hex --dump=text "
check "completion: flespi-recv --mqtt --mqtt-version offers 5 and 3.1.1" \
    test "$(comp flespi-recv --mqtt --mqtt-version '' | sort | tr '\n' ' ')" = "3.1.1 5 "
check "completion: push mode's options only with --mqtt" \
    all test "$(comp flespi-recv --mqtt --sha)" = --share -- \
    test -z "$(comp flespi-recv --sha)"
missing=
for c in flespi-recv flespi-to-wialon flespi-to-aws flespi-to-http; do
	for o in $("$c" --list-options | awk '$2 != "-" { print $2 }'); do
		comp "$c" "$o" | grep -qx -- "$o" || missing="$missing $c:$o"
	done
done
check "completion: every option of every command's table${missing:+ (missing:$missing)}" \
    test -z "$missing"
check "the cron file is installed as flespi-pipe: no dot, as Debian's cron wants" \
    all test -f "$SHARE/flespi-pipe" -- test ! -e "$SHARE/flespi-pipe.cron" -- \
    sh -c "ls '$SHARE' | grep -v '\\.' | grep -qx flespi-pipe"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no "$SHARE/flespi-to-wialon@.service" >"$T/sverify.out" 2>&1
	rc=$?
	check "staged unit: systemd-analyze verify exit 0 ($rc), no complaint" \
	    test $rc = 0 -a ! -s "$T/sverify.out"
	sed 's/^/#   /' "$T/sverify.out" | head -5
	mkdir -p "$T/sec"
	cp "$SHARE/flespi-to-wialon@.service" "$T/sec/flespi-to-wialon@$CH.service"
	(cd "$T/sec" && systemd-analyze security --offline=true \
	    "./flespi-to-wialon@$CH.service") >"$T/security.out" 2>&1
	lvl=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$T/security.out")
	check "staged unit: systemd-analyze security says OK or better ($lvl; was 8.5 EXPOSED)" \
	    all test -n "$lvl" -- sh -c "case '$lvl' in *' OK'|*' SAFE'|*' PERFECT') exit 0;; esac; exit 1"
else
	notok "systemd-analyze is installed (make deps)"
fi

# has PATTERN TEXT: grep's answer for one string.
has() { grep -q -- "$1" <<<"$2"; }

# unitval KEY: the values of KEY= in the unit, one a line.
unitval() { sed -n "s/^$1=//p" "$UNIT"; }

# execstart CHANNEL: the unit's ExecStart as systemd splits it, NUL after
# each word, the specifiers and $$ resolved: continued lines joined (the
# backslash becomes a space), words split as systemd's quoting does.
execstart() {
	python3 - "$UNIT" "$1" <<'EOF'
import re, shlex, sys
unit, inst = sys.argv[1], sys.argv[2]
lines, cur = [], ""
for raw in open(unit).read().split("\n"):
    if not cur and raw.lstrip().startswith(("#", ";")):
        continue
    if raw.endswith("\\"):
        cur += raw[:-1] + " "
        continue
    lines.append(cur + raw)
    cur = ""
cmds = [l[len("ExecStart="):] for l in lines if l.startswith("ExecStart=")]
if len(cmds) != 1 or "\\" in cmds[0]:
    sys.exit("want one ExecStart without backslash escapes")
spec = {"%i": inst, "%%": "%", "$$": "$"}
for w in shlex.split(cmds[0]):
    w = re.sub(r"%i|%%|\$\$", lambda m: spec[m.group(0)], w)
    sys.stdout.write(w + "\0")
EOF
}

# ---- the unit's command line, with its environment as systemd gives it
check "the unit takes the token as a credential from /etc/flespi-pipe/token" \
    test "$(unitval LoadCredential)" = token:/etc/flespi-pipe/token
check "the unit's state directory is flespi-pipe" \
    test "$(unitval StateDirectory)" = flespi-pipe
check "the unit reads /etc/flespi-pipe/%i.conf" \
    test "$(unitval EnvironmentFile)" = "/etc/flespi-pipe/%i.conf"
check "the unit runs as user flespi, as the cron jobs do" \
    all test "$(unitval User)" = flespi -- test -z "$(grep '^[*0-9]' "$CRON" |
    awk '$6 != "flespi"')" -- grep -q '^[*0-9].* flespi flock ' "$CRON"
check "the unit restarts on failure, not after 64, 69, 73" \
    all test "$(unitval Restart)" = on-failure -- \
    test "$(unitval RestartPreventExitStatus)" = "64 69 73"
ts=$(unitval TimeoutStopSec)
check "TimeoutStopSec ($ts) covers the default --drain-timeout 10 and more" \
    test "${ts:-0}" -ge 15
check "the unit is Type=notify, NotifyAccess=all, with WatchdogSec" \
    all test "$(unitval Type)" = notify -- test "$(unitval NotifyAccess)" = all -- \
    test "$(unitval WatchdogSec)" -gt 0
check "the unit's hardening: ProtectSystem=strict, NoNewPrivileges, PrivateTmp, no capabilities" \
    all test "$(unitval ProtectSystem)" = strict -- test "$(unitval NoNewPrivileges)" = yes -- \
    test "$(unitval PrivateTmp)" = yes -- grep -qx 'CapabilityBoundingSet=' "$UNIT"
check "the journal names the tool, not bash: SyslogIdentifier=flespi-to-wialon" \
    test "$(unitval SyslogIdentifier)" = flespi-to-wialon
mapfile -d '' ARGV < <(execstart $CH)
check "ExecStart parsed: /bin/bash -c SCRIPT (${#ARGV[@]} words)" \
    test "${#ARGV[@]}" = 3 -a "${ARGV[0]}" = /bin/bash -a "${ARGV[1]}" = -c
SCRIPT=${ARGV[2]:-}
check "the script names both tools by their installed path" \
    all has '/usr/local/bin/flespi-recv ' "$SCRIPT" -- \
    has '/usr/local/bin/flespi-to-wialon ' "$SCRIPT"
check "no token on the command line: --token-file from the credentials" \
    has '--token-file "${CREDENTIALS_DIRECTORY}/token"' "$SCRIPT"
SCRIPT=${SCRIPT//\/usr\/local\/bin\//$FP_BIN/}

mkdir -p "$T/cred" "$T/state"
chmod 700 "$T/cred" "$T/state"
printf 'test-token\n' >"$T/cred/token"
chmod 600 "$T/cred/token"

# unitconf FILE WIALON RECV_OPTS: the shipped example config with these values.
unitconf() {
	sed -e "s|^WIALON=.*|WIALON=$2|" -e "s|^RECV_OPTS=.*|RECV_OPTS=$3|" \
	    "$CONF" >"$1"
}
check "the example config sets WIALON, RECV_OPTS and WIALON_OPTS" \
    all grep -q '^WIALON=' "$CONF" -- grep -q '^RECV_OPTS=' "$CONF" -- \
    grep -q '^WIALON_OPTS=' "$CONF"

# unit NAME CONF: start the unit's command in its own process group, as
# systemd does, with only the environment systemd gives it (PATH, the
# directories, the EnvironmentFile's variables); sets upid.
unit() {
	local -a envs=(PATH=$SYSTEMD_PATH STATE_DIRECTORY=$T/state
	    CREDENTIALS_DIRECTORY=$T/cred ${UNIT_ENV:-})
	local l
	while IFS= read -r l; do
		case $l in ''|'#'*) continue ;; esac
		envs+=("$l")
	done <"$2"
	setsid env -i "${envs[@]}" /bin/bash -c "$SCRIPT" \
	    >"$T/$1.stdout" 2>>"$T/$1.err" &
	upid=$!
}

# stop_unit: SIGTERM to the group, as systemctl stop; sets rc and ms.
stop_unit() {
	local s=$(date +%s%N)
	kill -TERM -- -"$upid"
	wait "$upid"
	rc=$?
	ms=$(ms_since $s)
}

# seqs_of FILE: the distinct seq numbers the receiver recorded, sorted.
seqs_of() {
	python3 -c '
import json, sys
s = set()
for line in open(sys.argv[1]):
    s.add([p[2] for p in json.loads(line)["params"] if p[0] == "seq"][0])
print("\n".join(str(x) for x in sorted(s)))
' "$1"
}
count() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
atleast() { [ "$(count "$1")" -ge "$2" ]; }

N=20000
msgs $N 7 >"$T/in"
standin s --channels $CH --messages "$T/in"
start_recv svc
unitconf "$T/svc.conf" "127.0.0.1:$port" "--url $URL"

# --- runs, stopped with SIGTERM mid-stream: nothing missing at the stop
unit svc "$T/svc.conf"
wait_for 30 atleast "$T/svc.out" 3000 || notok "unit: 3000 messages did not arrive in time"
stop_unit
check "SIGTERM mid-stream: the unit exits 0 ($rc) in $ms ms (< 15000)" \
    test "$rc" = 0 -a "$ms" -lt 15000
key=$(cat "$T/state/$CH.key" 2>/dev/null)
seqs_of "$T/svc.out" >"$T/svc.seqs"
got=$(count "$T/svc.seqs")
seq 0 $(( ${key:-1} - 2 )) >"$T/svc.upto"
check "SIGTERM: a key was saved ($key), within what arrived ($got distinct of $N)" \
    test -n "$key" -a "${key:-0}" -gt 1
missing=$(comm -23 "$T/svc.upto" "$T/svc.seqs" | wc -l)
check "SIGTERM: every message before the saved key is at the receiver ($missing missing)" \
    test "$missing" = 0
check "SIGTERM: nothing in --failed or --rejected" \
    test ! -s "$T/state/$CH.failed" -a ! -s "$T/state/$CH.rejected"

# --- restarted: the rest arrives, then it idles in a long poll, and a
# stop ends it promptly
unit svc "$T/svc.conf"
wait_for 60 sh -c "[ \"\$(cat '$T/state/$CH.key' 2>/dev/null)\" = $((N + 1)) ]" ||
    notok "restart: the key did not reach $((N + 1)) in time"
sleep 0.5
stop_unit
check "idle unit: SIGTERM ends it with 0 ($rc) in $ms ms (< 5000)" \
    test "$rc" = 0 -a "$ms" -lt 5000
seqs_of "$T/svc.out" >"$T/svc.seqs"
seq 0 $((N - 1)) >"$T/svc.want"
diff_ok "stopped and restarted: every message at the receiver" "$T/svc.want" "$T/svc.seqs"
dups=$(( $(count "$T/svc.out") - N ))
check "duplicates after one restart ($dups) within an answer and the window (5096)" \
    test "$dups" -le 5096
check "no diagnostics but the stop" \
    test -z "$(grep -v -e 'messages' -e 'stopp' -e 'signal' "$T/svc.err")"
sed 's/^/#   svc: /' "$T/svc.err" | tail -5

# --- as systemd runs it with Type=notify and WatchdogSec: WATCHDOG_PID
# names the unit's main process (here: a pid that is not the tools'), the
# script unsets it, so both stages ping; READY=1 comes, STOPPING=1 on the
# stop; with METRICS_DIR both stages keep their metrics there.
mkdir -p "$T/metrics"
rm -f "$T/nt.ready"
python3 "$TESTS/notify_listener.py" --idle 120 "@fp-t99-$$" "$T/nt.ready" "$T/nt.dg" &
wait_for 10 test -e "$T/nt.ready" || notok "notify listener starts"
unitconf "$T/nt.conf" "127.0.0.1:$port" "--url $URL"
sed -i "s|^METRICS_DIR=.*|METRICS_DIR=$T/metrics|" "$T/nt.conf"
check "the example config has METRICS_DIR" grep -q "^METRICS_DIR=$T/metrics$" "$T/nt.conf"
UNIT_ENV="NOTIFY_SOCKET=@fp-t99-$$ WATCHDOG_USEC=1000000 WATCHDOG_PID=1" unit nt "$T/nt.conf"
wait_for 10 grep -q '^READY=1$' "$T/nt.dg"
wait_for 10 sh -c "[ \$(grep -c '^WATCHDOG=1$' '$T/nt.dg') -ge 4 ]"
wait_for 10 test -s "$T/metrics/$CH-recv.prom" -a -s "$T/metrics/$CH-wialon.prom"
stop_unit
wait_for 5 grep -q '^STOPPING=1$' "$T/nt.dg"
check "notify: the unit exits 0 ($rc); READY=1, WATCHDOG=1 ($(grep -c '^WATCHDOG=1$' "$T/nt.dg")), STOPPING=1" \
    all test "$rc" = 0 -- grep -q '^READY=1$' "$T/nt.dg" -- \
    test "$(grep -c '^WATCHDOG=1$' "$T/nt.dg")" -ge 4 -- grep -q '^STOPPING=1$' "$T/nt.dg"
check "notify: STATUS= from both stages" \
    all grep -q '^STATUS=flespi-recv: ' "$T/nt.dg" -- grep -q '^STATUS=flespi-to-wialon: ' "$T/nt.dg"
check "METRICS_DIR: $CH-recv.prom and $CH-wialon.prom, labelled by tool" \
    all grep -q '^flespi_pipe_info{tool="flespi-recv",file="'$CH'-recv"' "$T/metrics/$CH-recv.prom" -- \
    grep -q '^flespi_pipe_info{tool="flespi-to-wialon",file="'$CH'-wialon"' "$T/metrics/$CH-wialon.prom"
check "notify: no diagnostics but the stop" \
    test -z "$(grep -v -e 'messages' -e 'stopp' -e 'signal' "$T/nt.err")"

# --- a bad token: flespi-recv exits 69, and so does the unit, at once
printf 'wrong-token\n' >"$T/cred/token"
n0=$(count "$T/svc.out")
unit bad "$T/svc.conf"
wait_for 10 sh -c "! kill -0 $upid" || notok "bad token: the unit still runs after 10 s"
wait "$upid"
rc=$?
check "bad token: the unit fails with 69 ($rc), not the forwarder's 0" test "$rc" = 69
check "bad token: said so" grep -q '401\|token' "$T/bad.err"
check "bad token: nothing sent" test "$(count "$T/svc.out")" = "$n0"
printf 'test-token\n' >"$T/cred/token"

# --- the forwarder ends (here: no Wialon server given) while flespi-recv
# waits on a quiet channel: the unit ends at once with the forwarder's 64
unitconf "$T/nowialon.conf" "" "--url $URL"
s=$(date +%s%N)
unit nowialon "$T/nowialon.conf"
wait_for 10 sh -c "! kill -0 $upid" || notok "no WIALON: the unit still runs after 10 s"
wait "$upid"
rc=$?
ms=$(ms_since $s)
check "forwarder exits 64: the unit fails with 64 ($rc) in $ms ms (< 5000), flespi-recv stopped" \
    test "$rc" = 64 -a "$ms" -lt 5000
kill $rpid

# ---- the cron lines, as cron runs them
check "cron's PATH does not find our tools (the lines must name them)" \
    env -i PATH=/usr/bin:/bin /bin/sh -c '! command -v flespi-recv'
# cronline N: the command of the Nth job line (after the user column),
# with cron's \% -> % done.
cronline() {
	grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' -e '^[A-Z_]*=' "$CRON" |
	    sed -n "$1p" | awk '{ $1 = $2 = $3 = $4 = $5 = $6 = ""; print }' |
	    sed -e 's/^ *//' -e 's/\\%/%/g'
}
check "two job lines in $CRON" \
    test "$(grep -c -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' -e '^[A-Z_]*=' "$CRON")" = 2
for i in 1 2; do
	check "cron line $i: no bare % (cron would cut the line there)" \
	    test -z "$(cronline $i | sed 's/%F//g' | grep '%')"
done

# local_ LINE: the paths of a cron line moved into $T, flespi-recv given
# the stand-in's URL, the Wialon server the local receiver; every
# replacement must have matched.
mkdir -p "$T/etc" "$T/lib"
printf 'test-token\n' >"$T/etc/token"
chmod 600 "$T/etc/token"
local_() {
	local l=$1
	case $l in */usr/local/bin/flespi-recv\ *) ;; *) return 1 ;; esac
	case $l in */etc/flespi-pipe/token*) ;; *) return 1 ;; esac
	case $l in *flock\ -n\ /var/lib/flespi-pipe/*) ;; *) return 1 ;; esac
	l=${l//\/usr\/local\/bin\/flespi-recv /$FP_BIN/flespi-recv --url $URL }
	l=${l//\/usr\/local\/bin\//$FP_BIN/}
	l=${l//\/etc\/flespi-pipe\//$T/etc/}
	l=${l//\/var\/lib\/flespi-pipe\//$T/lib/}
	l=${l//wialon.example.com:20163/127.0.0.1:$port}
	printf '%s\n' "$l"
}
cron() { env -i PATH=/usr/bin:/bin SHELL=/bin/sh HOME="$T" /bin/sh -c "$1"; }

W=$(cronline 1)
check "cron line 1: flock -n, --once, --checkpoints, pipefail" \
    all has '^flock -n ' "$W" -- has '--once --checkpoints' "$W" -- \
    has ' -o pipefail ' "$W"
msgs 3000 5 >"$T/c.in"
standin c --channels $CH --messages "$T/c.in"
URL_C=$URL
start_recv cron
if L=$(local_ "$W"); then
	ok "cron line 1: paths, URL and server replaced"
	cron "$L" 2>"$T/cron.err"
	rc=$?
	check "cron line 1: exit 0 ($rc)" test $rc = 0
	seqs_of "$T/cron.out" >"$T/cron.seqs"
	seq 0 2999 >"$T/cron.want"
	diff_ok "cron line 1: every message at the receiver" "$T/cron.want" "$T/cron.seqs"
	check "cron line 1: the key saved (3001)" test "$(cat "$T/lib/$CH.key")" = 3001
	cron "$L" 2>>"$T/cron.err"
	rc=$?
	check "cron line 1, next run: exit 0 ($rc), nothing sent twice" \
	    test $rc = 0 -a "$(count "$T/cron.out")" = 3000
	msgs 3010 5 | tail -n 10 | curl -fsS --data-binary @- "$URL/control/append" >/dev/null
	cron "$L" 2>>"$T/cron.err"
	rc=$?
	check "cron line 1, new messages: exit 0 ($rc), the 10 new ones only" \
	    test $rc = 0 -a "$(count "$T/cron.out")" = 3010
	check "cron line 1: nothing on stderr (cron would mail it)" test ! -s "$T/cron.err"
	# A bad token fails the run although the forwarder exits 0.
	printf 'wrong\n' >"$T/etc/token"
	cron "$L" 2>"$T/cronbad.err"
	rc=$?
	check "cron line 1, bad token: the run fails with 69 ($rc)" test $rc = 69
	printf 'test-token\n' >"$T/etc/token"
else
	notok "cron line 1: paths, URL and server replaced" "$W"
fi
kill $rpid

# --- an overlapping run exits at once: the previous one is slow (a
# stand-in answering after 0.5 s)
msgs 300 5 >"$T/slow.in"
standin slow --channels $CH --messages "$T/slow.in" --delay 0.5
start_recv slow
rm -f "$T/lib/$CH.key"
if L=$(local_ "$W"); then
	cron "$L" 2>"$T/slow1.err" &
	cpid=$!
	# Its flespi-recv runs: flock holds the lock (probing the lock
	# with flock could take it from the first run).
	wait_for 10 pgrep -f "^$FP_BIN/flespi-recv --url $URL " >/dev/null ||
	    notok "overlap: the first run did not start"
	timed cron "$L" >"$T/slow2.out" 2>&1
	check "overlap: the second run exits 1 ($rc) at once ($ms ms < 500), silently" \
	    test $rc = 1 -a $ms -lt 500 -a ! -s "$T/slow2.out"
	check "overlap: the first run goes on" kill -0 $cpid
	wait $cpid
	rc=$?
	check "overlap: the first run ends with 0 ($rc), all 300 delivered" \
	    test $rc = 0 -a "$(seqs_of "$T/slow.out" | wc -l)" = 300
fi
kill $rpid

# --- cron line 2: the daily archive (of the first stand-in's channel)
URL=$URL_C
A=$(cronline 2)
check "cron line 2: flock -n, --once, --state" \
    all has '^flock -n ' "$A" -- has '--once' "$A" -- has '--state' "$A"
if L=$(local_ "$A"); then
	cron "$L" 2>"$T/arch.err"
	rc=$?
	f=$(ls "$T"/lib/*.ndjson 2>/dev/null)
	check "cron line 2: exit 0 ($rc), one daily file ($f)" \
	    test $rc = 0 -a "$(echo "$f" | wc -w)" = 1
	check "cron line 2: the file is named for today (UTC)" \
	    test "${f##*/}" = "$CH-$(date -u +%F).ndjson"
	cron "$L" 2>>"$T/arch.err"
	rc=$?
	{ cat "$T/c.in"; msgs 3010 5 | tail -n 10; } >"$T/arch.want"
	diff_ok "cron line 2, two runs: every message once, in order" "$T/arch.want" "$f"
else
	notok "cron line 2: paths and URL replaced" "$A"
fi

# ---- the README's sections on these recipes say what the files do
R=$(sed -n '/^Running as a service/,/^Sending to your own HTTP/p' README)
for f in "$UNIT" "$CONF" "$CRON"; do
	check "README: ${f##*/} installed and named in 'Running as a service'" \
	    all grep -q "$f" Makefile -- has "/usr/local/share/flespi-pipe/${f##*/}\|${f##*/}" "$R"
done
check "README: the token is the unit's credential file" \
    has "printf '%s\\\\n' \"\$TOKEN\" > /etc/flespi-pipe/token" "$R"
# One token layout: owned by flespi, 0600.  The cron jobs (user flespi)
# can read it, systemd (root) reads it for LoadCredential=, and
# flespi-recv has nothing to warn about (a group-readable token would
# make it warn on every cron run, and cron mail the warning).
check "README: the token file is flespi's, 0600: the same for unit and cron" \
    all has '^    chown flespi:flespi /etc/flespi-pipe/token$' "$R" -- \
    has '(umask 077 && printf' "$R" -- \
    grep -q '/etc/flespi-pipe/token *the flespi token, mode 0600, owner flespi' "$CRON" -- \
    grep -q '/etc/flespi-pipe/token *the flespi token, mode 0600, owner' "$UNIT"
TL=$(printf '%s\n' "$R" | sed -n 's/^    \((umask 077 && printf .*token)\)$/\1/p')
mkdir -p "$T/etc2"
TL=${TL//\/etc\/flespi-pipe\//$T/etc2/}
env -i PATH=/usr/bin:/bin TOKEN=tok /bin/sh -c "$TL"
check "README token lines: a 0600 file (then chown flespi: no warning)" \
    test "$(stat -c %a "$T/etc2/token" 2>/dev/null)" = 600
FLESPI_TOKEN= flespi-recv --url http://127.0.0.1:1 --token-file "$T/etc2/token" \
    --retries 0 --once 1 >/dev/null 2>"$T/tokwarn.err"
check "flespi-recv reads a 0600 token without a warning about it" \
    test -z "$(grep 'readable by' "$T/tokwarn.err")"
CL=$(printf '%s\n' "$R" | grep -F 'install -o root -g root -m 0644 /usr/local/share/flespi-pipe/flespi-pipe /etc/cron.d/')
check "README: the exact cron install line, its file in the staged install" \
    all test -n "$CL" -- test -f "$SHARE/flespi-pipe" -- \
    grep -qF "$(echo "$CL" | sed 's/^ *//')" "$CRON"
check "README: the systemd-analyze security figure is the unit's ($lvl)" \
    all test -n "$lvl" -- has "rates it\$" "$R" -- has "^  ${lvl}\\." "$R"
check "README: RestartSec, TimeoutStopSec and the statuses not restarted match the unit" \
    all test "$(unitval RestartSec)" = 10 -- has 'restarted after 10 s' "$R" -- \
    has 'TimeoutStopSec is$' "$R" -- has '^  30)' "$R" -- \
    has 'except after 64 (bad usage' "$R" -- has '69 (refused) and 73' "$R"
check "README: the state files are where the unit keeps them" \
    all has '/var/lib/flespi-pipe/: 1234.key' "$R" -- has '1234.failed (undelivered' "$R" -- \
    has '%i.failed' "$SCRIPT$(execstart %i | tr '\0' ' ')"
check "README and man pages call no file of tests/ as a tool" \
    test -z "$(grep -n 'tests/[a-z_]*\.py' README man/*.1)"

# --- the token step, as written, in an empty home
TL=$(grep -F 'mkdir -p ~/.flespi' README | sed 's/^ *//')
mkdir "$T/home"
env -i PATH=/usr/bin:/bin HOME="$T/home" TOKEN=test-token /bin/sh -c "$TL"
rc=$?
check "README token step: exit 0 ($rc), ~/.flespi 0700, the token 0600" \
    all test $rc = 0 -- test "$(stat -c %a "$T/home/.flespi")" = 700 -- \
    test "$(stat -c %a "$T/home/.flespi/token")" = 600 -- \
    test "$(cat "$T/home/.flespi/token")" = test-token
URL=$URL_C
RL=$(grep -F 'flespi-recv --token-file ~/.flespi/token 1234' README | sed 's/^ *//')
RL=${RL/flespi-recv /flespi-recv --url $URL --once -n 5 }
HOME="$T/home" /bin/sh -c "$RL" >"$T/tok.out" 2>"$T/tok.err"
rc=$?
check "README token step: flespi-recv reads that file (exit $rc, $(count "$T/tok.out") lines)" \
    test $rc = 0 -a "$(count "$T/tok.out")" = 5

# --- the --dump=text example: the specification's golden message
G='{"ident":"353976013445485","timestamp":1259076464,"position.longitude":49.1903648,"position.latitude":55.7305664,"position.altitude":106,"position.speed":54,"position.direction":326,"position.satellites":11,"external.powersource.voltage":27.593,"din":1}'
printf '%s\n%s\n%s\n' "$G" "$G" "$G" >"$T/g.in"
standin g --channels $CH --messages "$T/g.in"
DL=$(grep -F '$ flespi-recv --once -n 3 1234 | flespi-to-wialon --dump=text' README | sed 's/^ *\$ //')
readme_block "$DL" '...' | sed -e '1d' -e '$d' >"$T/dump.want"
DL=${DL/flespi-recv /flespi-recv --url $URL }
FLESPI_TOKEN=test-token /bin/sh -c "$DL" >"$T/dump.got" 2>"$T/dump.err"
rc=$?
check "README --dump=text example: exit 0 ($rc), 3 packets" \
    test $rc = 0 -a "$(grep -c '^uid ' "$T/dump.got")" = 3
head -n "$(count "$T/dump.want")" "$T/dump.got" >"$T/dump.head"
check "README --dump=text example shows 4 lines" test "$(count "$T/dump.want")" = 4
diff_ok "README --dump=text example: the output as shown" "$T/dump.want" "$T/dump.head"

# --- the replay of undelivered lines, paths moved into $T
RP=$(readme_block 'f=/var/lib/flespi-pipe/1234.failed' 'rm $f.replay ;; esac; }')
RP=${RP//\/var\/lib\/flespi-pipe\//$T/lib/}
start_recv replay
RP=${RP//wialon.example.com:20163/127.0.0.1:$port}
rm -f "$T/lib/1234.failed"
/bin/bash -c "$RP"
rc=$?
check "README replay, no file: nothing to do, exit 0 ($rc)" \
    test $rc = 0 -a "$(count "$T/replay.out")" = 0 -a ! -e "$T/lib/1234.failed"
msgs 5 2 >"$T/lib/1234.failed"
/bin/bash -c "$RP" 2>"$T/replay.err"
rc=$?
check "README replay: exit 0 ($rc), 5 delivered, the file and its copy gone" \
    all test $rc = 0 -- test "$(count "$T/replay.out")" = 5 -- \
    test ! -s "$T/lib/1234.failed" -- test ! -e "$T/lib/1234.failed.replay"

# --- --dump=text from the user's side
head -n 50 "$T/in" >"$T/d.in"
flespi-to-wialon --dump <"$T/d.in" >"$T/d.hex" 2>"$T/d.err"
flespi-to-wialon --dump=hex <"$T/d.in" >"$T/d.hex2" 2>>"$T/d.err"
flespi-to-wialon --dump=text <"$T/d.in" >"$T/d.txt" 2>>"$T/d.err"
rc=$?
check "--dump=hex is --dump" cmp -s "$T/d.hex" "$T/d.hex2"
check "--dump=text: exit 0 ($rc), one decoded packet per message, silent" \
    all test $rc = 0 -- test "$(grep -c '^uid dev[0-9] time ' "$T/d.txt")" = 50 -- \
    test "$(grep -c '^  seq int ' "$T/d.txt")" = 50 -- test ! -s "$T/d.err"
flespi-to-wialon --dump=xml <"$T/d.in" >"$T/d.out" 2>"$T/d.err"
rc=$?
check "--dump=xml: exit 64 ($rc), named, nothing on stdout" \
    all test $rc = 64 -- grep -q '^flespi-to-wialon: --dump=xml: expected hex or text' "$T/d.err" -- \
    test ! -s "$T/d.out"
finish
