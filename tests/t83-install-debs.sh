#!/usr/bin/env bash
# The two commands on a fresh machine: `make demo` installs only what the
# demo needs, `make deps` (make check, .ci/run) the test toolchain too,
# and scripts/install-debs never leaves a daemon running or enabled:
# a policy-rc.d forbids every start during the install (one the host has
# is kept), removed after; the services of what it installed are
# disabled.  apt-get, dpkg-query and systemctl are stand-ins here that
# record what they are asked (nothing is installed).
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."

# ---- the Makefile's lists
demo=$(make -s -n demo-deps | grep 'install-debs')
deps=$(make -s -n deps | grep 'install-debs')
check "make demo runs demo-deps, not deps" \
    all sh -c "make -s -n -p 2>/dev/null | grep -q '^demo: demo-deps all'" -- \
    test "$(make -s -n demo 2>/dev/null | grep -c 'install-debs')" = 1
for p in nginx apache2 valgrind clang strace systemd prometheus-node-exporter python3-requests; do
	case " $demo " in *" $p "*) notok "make demo does not install $p" ;; esac
done
ok "make demo installs none of the test toolchain (nginx, valgrind, clang, ...)"
for p in build-essential pkg-config libcurl4-openssl-dev libjansson-dev \
    libmosquitto-dev mosquitto mosquitto-clients jq python3 openssl; do
	case " $demo " in *" $p "*) ;; *) notok "make demo installs $p" ;; esac
done
ok "make demo installs the compiler, the three libraries, jq, mosquitto, python3, openssl"
for p in $demo; do
	case $p in scripts/install-debs) continue ;; esac
	case " $deps " in *" $p "*) ;; *) notok "make deps installs $p too" ;; esac
done
for p in nginx prometheus-node-exporter strace systemd valgrind clang; do
	case " $deps " in *" $p "*) ;; *) notok "make deps installs $p" ;; esac
done
ok "make deps installs the demo's packages and the test toolchain"
check "make check installs the toolchain first (deps)" \
    sh -c "make -s -n -p 2>/dev/null | grep -q '^check: deps'"
check ".ci/run: make deps, then make check" \
    all grep -q '^make deps$' .ci/run -- grep -q '^make check$' .ci/run

# ---- scripts/install-debs with stand-ins for apt-get, dpkg-query, systemctl
mkdir -p "$T/bin"
cat >"$T/bin/dpkg-query" <<'SH'
#!/bin/sh
# -W: every package is missing but "present"; -L: nginx ships a unit.
case $1 in
-W) [ "$3" = present ] && echo 'install ok installed'; exit 0 ;;
-L) [ "$2" = nginx ] && echo /lib/systemd/system/nginx.service; exit 0 ;;
esac
SH
cat >"$T/bin/apt-get" <<'SH'
#!/bin/sh
# Records its arguments, and what a package's start would be told now.
echo "apt-get $*" >>"$LOG"
case $1 in install)
	if [ -x "$POLICY_RC_D" ]; then "$POLICY_RC_D" nginx start; echo "policy $?" >>"$LOG"
	else echo "policy none" >>"$LOG"; fi ;;
esac
SH
cat >"$T/bin/systemctl" <<'SH'
#!/bin/sh
echo "systemctl $*" >>"$LOG"
case $1 in is-enabled) exit 0 ;; esac
SH
chmod +x "$T/bin"/*
export LOG=$T/log POLICY_RC_D=$T/policy-rc.d
PATH=$T/bin:$PATH scripts/install-debs present nginx mosquitto >"$T/out" 2>&1
rc=$?
check "install-debs: exit 0 ($rc), installs only what is missing" \
    all test $rc = 0 -- grep -q '^apt-get install -y -qq --no-install-recommends  *nginx mosquitto$' "$LOG"
check "install-debs: during the install a policy-rc.d forbids starts (101)" \
    grep -qx 'policy 101' "$LOG"
check "install-debs: the policy-rc.d is gone afterwards" test ! -e "$POLICY_RC_D"
check "install-debs: the new package's service is disabled at boot" \
    grep -qx 'systemctl disable --quiet nginx.service' "$LOG"
: >"$LOG"
printf '#!/bin/sh\nexit 101\n# the host'"'"'s own\n' >"$POLICY_RC_D"
chmod 755 "$POLICY_RC_D"
PATH=$T/bin:$PATH scripts/install-debs nginx >"$T/out" 2>&1
check "install-debs: a policy-rc.d the host has is used and kept" \
    all grep -qx 'policy 101' "$LOG" -- grep -q "the host's own" "$POLICY_RC_D"
: >"$LOG"
PATH=$T/bin:$PATH scripts/install-debs present >"$T/out" 2>&1
check "install-debs: nothing missing, nothing run" \
    all test ! -s "$LOG" -- grep -q 'are installed' "$T/out"
finish
