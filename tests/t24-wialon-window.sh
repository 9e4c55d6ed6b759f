#!/usr/bin/env bash
# flespi-to-wialon's adaptive window over a link with a round trip
# (tests/tools/delayproxy, 40 ms): the default grows past its start of 64,
# doubling every round trip, and stays within the cap of 4096, -w N stays
# fixed, a reconnect halves the window, and the duplicates after a
# reconnect are at most the window at that moment.
source "$(dirname "$0")/lib.sh"
source "$TESTS/wialon.sh"

# start_proxy NAME: a delay proxy (20 ms each way) in front of $port;
# sets pport, ppid_.
start_proxy() {
	rm -f "$T/$1.pport"
	delayproxy --port-file "$T/$1.pport" --delay 20 "127.0.0.1:$port" \
	    2>>"$T/$1.plog" &
	ppid_=$!
	pport=$(port_of "$T/$1.pport") || { notok "proxy $1 did not start"; finish; exit 1; }
}

# dups OUT: records whose seq was seen before.
dups() {
	python3 -c '
import json, sys
seen, d = set(), 0
for l in open(sys.argv[1]):
    s = [p[2] for p in json.loads(l)["params"] if p[0] == "seq"][0]
    d += s in seen
    seen.add(s)
print(d, len(seen))
' "$1"
}

# --- the default window grows over a 40 ms round trip
msgs 6000 3 >"$T/m.json"
start_recv grow
start_proxy grow
$F2W -v "127.0.0.1:$pport" <"$T/m.json" 2>"$T/grow.err"
rc=$?
check "adaptive: exit 0 ($rc)" test $rc = 0
read -r d n < <(dups "$T/grow.out")
check "adaptive: all 6000 delivered, no duplicate ($n, $d)" all [ "$n" = 6000 ] -- [ "$d" = 0 ]
most=$(sed -n 's/.*window [0-9]* packets at the end, \([0-9]*\) at most.*/\1/p' "$T/grow.err")
check "adaptive: the window grew past 64, within 4096 (${most:-none})" \
    all [ -n "$most" ] -- [ "${most:-0}" -gt 64 ] -- [ "${most:-0}" -le 4096 ]
kill $ppid_ $rpid; wait $ppid_ $rpid 2>/dev/null

# --- it doubles every round trip: 64 + 128 + 256 + 512 packets take 4
# round trips, after which it is near 1000.  Growth judged after each ack
# of a window acknowledged in one read stopped at a third of them (1.33
# times a round trip: 410 here).
start_recv dbl
start_proxy dbl
head -n 1000 "$T/m.json" | $F2W -v "127.0.0.1:$pport" 2>"$T/dbl.err"
rc=$?
most=$(sed -n 's/.*window [0-9]* packets at the end, \([0-9]*\) at most.*/\1/p' "$T/dbl.err")
check "adaptive: doubles every round trip: ${most:-none} >= 700 after 1000 packets" \
    all [ $rc = 0 ] -- [ -n "$most" ] -- [ "${most:-0}" -ge 700 ]
kill $ppid_ $rpid; wait $ppid_ $rpid 2>/dev/null

# --- -w N is a fixed window: no adapting
start_recv fixed
start_proxy fixed
head -n 1000 "$T/m.json" | $F2W -v -w 100 "127.0.0.1:$pport" 2>"$T/fixed.err"
rc=$?
check "-w 100: exit 0 ($rc)" test $rc = 0
check "-w 100: does not adapt" sh -c "! grep -q 'at most' '$T/fixed.err'"
read -r d n < <(dups "$T/fixed.out")
check "-w 100: all 1000 delivered ($n)" test "$n" = 1000
kill $ppid_ $rpid; wait $ppid_ $rpid 2>/dev/null

# --- reconnects halve the window; duplicates <= the window at each drop
msgs 12000 3 >"$T/d.json"
start_recv drop --drop-every 5000
start_proxy drop
$F2W -v --retry-wait 0.02 "127.0.0.1:$pport" <"$T/d.json" 2>"$T/drop.err"
rc=$?
check "drops: exit 0 ($rc)" test $rc = 0
read -r d n < <(dups "$T/drop.out")
drops=$(grep -c 'to be sent again' "$T/drop.err")
# The window before each drop is twice the one logged after it (64 when
# nothing is logged: it was at its start).
bound=$(awk '/window now/ { b += 2 * $(NF - 1); h++ }
    END { print b + 64 * ('"$drops"' - h) }' "$T/drop.err")
check "drops: $drops reconnects, the window halved ($(grep -c 'window now' "$T/drop.err") times)" \
    all [ "$drops" -ge 2 ] -- grep -q 'window now' "$T/drop.err"
check "drops: all 12000 delivered, $d duplicates <= $bound" \
    all [ "$n" = 12000 ] -- [ "$d" -le "$bound" ]
kill $ppid_ $rpid; wait $ppid_ $rpid 2>/dev/null

# --- the help and the man page say what the default is
check "--help names the adaptive default" sh -c "$F2W -h | grep -q 'adapts to the link'"
check "the man page bounds the duplicates by the window" \
    grep -q 'at most the window' "$TESTS/../man/flespi-to-wialon.1"
finish
