#!/usr/bin/env bash
# The suite's option table (issue 11), read from its one source, the OPTION
# TABLE of man/flespi-pipe.7, against every tool: each option of the table
# is in the tool's --help and man page with the table's letter and is
# accepted by getopt; no --help or man page pairs a letter with another
# option; the tool accepts no letter the table does not give it; the
# deprecated spellings work, warn once and are in the man page; an unknown
# option or a missing argument prints the synopsis and exits 64.  Then
# the behaviour behind a few of the shared options.
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."
TABLE=${FP_TABLE:-man/flespi-pipe.7}
TOOLS="recv mqtt wialon aws http to-mqtt"

# The table's rows, one per line: LETTER LONG HASARG TOOLS... [deprecated]
# (LETTER "-" when there is none).
awk '
/option-table-begin/ { on = 1; next }
/option-table-end/ { on = 0 }
!on || !/^\.It / || /Sy letter/ { next }
{
	sub(/ Ta$/, "")
	n = split($0, f, / Ta /)
	letter = f[1]; sub(/^\.It /, "", letter)
	letter = letter ~ /^Fl [A-Za-z]$/ ? substr(letter, 4) : "-"
	split(f[2], w, " ")
	long = w[3]; arg = f[2] ~ / Ar / ? 1 : 0
	tools = f[3]
	if (tools == "all") tools = "recv mqtt wialon aws http to-mqtt"
	dep = n >= 4 && f[4] ~ /deprecated/ ? " deprecated" : ""
	print letter, long, arg, tools dep
}' "$TABLE" >"$T/table"
check "the option table has rows" test "$(wc -l <"$T/table")" -gt 20

cmd() {		# the command line of a tool
	case $1 in
	recv) echo flespi-recv ;;
	mqtt) echo flespi-recv --mqtt ;;
	to-mqtt) echo flespi-to-mqtt ;;
	*) echo "flespi-to-$1" ;;
	esac
}
manof() { case $1 in recv|mqtt) echo flespi-recv ;; to-mqtt) echo flespi-to-mqtt ;; *) echo "flespi-to-$1" ;; esac; }
# What each tool says once its options are parsed and its argument is missing.
after() {
	case $1 in
	recv|mqtt) echo 'no CHANNEL given' ;;
	wialon) echo 'expected one HOST' ;;
	aws) echo 'is required' ;;
	http) echo 'no URL given' ;;
	to-mqtt) echo 'no broker given' ;;
	esac
}
: >"$T/file"
sample() {	# v: a valid value for option $1 of tool $2
	case $1 in
	url) [ "$2" = mqtt ] && v=mqtts://127.0.0.1:1 || v=http://127.0.0.1:1 ;;
	token-file|cafile|cacert|cert|key|password-file) v=$T/file ;;
	format) v=line ;;
	state|failed|rejected) v=$T/$1 ;;
	topic) v='{ident}' ;;
	endpoint) v=localhost ;;
	client-id) v=x ;;
	request) v=PUT ;;
	header) v='X-A: b' ;;
	mqtt-version|mqtt) v=5 ;;
	qos) v=1 ;;
	port) v=8883 ;;
	keepalive) v=60 ;;
	max-line) v=4096 ;;
	*) v=2 ;;
	esac
}
# empty DESC VALUE [LABEL]: ok when VALUE is empty, else not ok showing it
empty() {
	if [ -z "$2" ]; then ok "$1"; else notok "$1" "${3:-}$2"; fi
}
# the rows for a tool: "LETTER LONG HASARG DEPRECATED(0/1)"
rows() {
	awk -v t="$1" '{ d = $NF == "deprecated"; for (i = 4; i <= NF; i++)
	    if ($i == t) print $1, $2, $3, d }' "$T/table"
}
bad_getopt='unknown option|needs a value|takes no value|ambiguous'

for t in $TOOLS; do
	c=$(cmd "$t"); m=$(manof "$t")
	$c --help >"$T/help.$t" 2>&1
	mandoc -Tascii "man/$m.1" | col -b >"$T/man.$t"
	rows "$t" >"$T/rows.$t"
done

for t in $TOOLS; do
	c=$(cmd "$t"); name=${c%% *}
	help=$(<"$T/help.$t"); man=$(<"$T/man.$t")
	after=$(after "$t")
	miss= badletter= getopt= deps=
	while read -r l long arg dep; do
		vals=()
		[ "$arg" = 1 ] && { sample "$long" "$t"; vals=("$v"); }
		end="([^a-z0-9-]|\$)"
		pair="-$l( [A-Za-z0-9|.'{}]+)?, --$long$end"
		if [ "$dep" = 0 ]; then
			# Listed, with the table's letter (or none), in help and man.
			[[ $help =~ --$long$end ]] || miss="$miss help:--$long"
			[[ $man =~ --$long$end ]] || miss="$miss man:--$long"
			if [ "$l" != - ]; then
				[[ $help =~ $pair ]] || badletter="$badletter help:-$l,--$long"
				[[ $man =~ $pair ]] || badletter="$badletter man:-$l,--$long"
			fi
		fi
		# Accepted by getopt, long and short: parsing goes on to the
		# missing argument (or --help/--version exit 0).
		spell=("--$long"); [ "$l" != - ] && spell+=("-$l")
		[ "$dep" = 1 ] && [ "$l" != - ] && spell=("-$l")
		for s in "${spell[@]}"; do
			$c "$s" "${vals[@]}" </dev/null >"$T/o" 2>"$T/e"
			rc=$?
			e=$(<"$T/e")
			if [ "$long" = help ] || [ "$long" = version ]; then
				[ $rc -eq 0 ] && [ -s "$T/o" ] || getopt="$getopt $s(rc $rc)"
			elif [ "$long" = dump ]; then
				# A dry run: empty input, exit 0 (flespi-to-http's
				# still wants the URL its requests would go to).
				[ $rc -eq 0 ] || { [ $rc -eq 64 ] &&
				    [[ $e == *"$after"* ]]; } ||
				    getopt="$getopt $s(rc $rc)"
			elif [[ $e =~ $bad_getopt ]] || [[ $e != *"$after"* ]] ||
			    [ $rc -ne 64 ]; then
				getopt="$getopt $s:${e%%$'\n'*}"
			fi
			[ "$dep" = 1 ] || continue
			# Deprecated: works, warns once even when repeated...
			$c "$s" "${vals[@]}" "$s" "${vals[@]}" </dev/null \
			    >/dev/null 2>"$T/e"
			[ "$(grep -c -- "^$name: $s is deprecated; use --" "$T/e")" \
			    -eq 1 ] || deps="$deps $s(warning)"
			[ "$l" = - ] || grep -q -- "-$l is deprecated; use --$long\$" \
			    "$T/e" || deps="$deps $s(names --$long)"
			# ...and the man page lists it as deprecated.
			awk -v s="$s" '$1 == s { n = 4 }
			    n-- > 0 && /[Dd]eprecated/ { f = 1 } END { exit !f }' \
			    "$T/man.$t" || deps="$deps $s(man)"
		done
	done <"$T/rows.$t"
	empty "$t: every option of the table is in --help and the man page" \
	    "$miss" "missing:"
	empty "$t: ... with the table's letter" "$badletter" "not paired:"
	empty "$t: ... and getopt takes each one, long and short" "$getopt" \
	    "refused:"
	grep -q ' 1$' "$T/rows.$t" &&
	    empty "$t: deprecated spellings work, warn once, are in the man page" \
	    "$deps" "wrong:"

	# No -L, --long pair in --help or the man page that the table lacks
	# (the man page of flespi-recv covers both modes).
	tt=$t; [ "$t" = mqtt ] || [ "$t" = recv ] && tt="recv mqtt"
	for x in $tt; do awk '$4 == 0 && $1 != "-" { print $1, $2 }' \
	    "$T/rows.$x"; done | sort -u >"$T/allowed.man"
	awk '$4 == 0 && $1 != "-" { print $1, $2 }' "$T/rows.$t" |
	    sort -u >"$T/allowed.help"
	wrong=
	# An option's entry starts its line: "  -n, --count N".
	for f in "$T/help.$t" "$T/man.$t"; do
		k=${f##*/}; k=${k%%.*}
		grep -oE -- "^[[:space:]]+-[A-Za-z]( [A-Za-z0-9|.'{}]+)?, --[a-z][a-z0-9-]*" \
		    "$f" | sed -E 's/^[^-]*-([A-Za-z]).*, --(.*)$/\1 \2/' |
		    sort -u >"$T/pairs"
		w=$(comm -23 "$T/pairs" "$T/allowed.$k" | tr '\n' ';')
		[ -n "$w" ] && wrong="$wrong ${f##*/}: $w"
	done
	empty "$t: no letter in --help or the man page means something else" \
	    "$wrong" "not in the table:"

	# getopt takes exactly the letters the table gives the tool.
	awk '$1 != "-" { print $1 }' "$T/rows.$t" | sort -u >"$T/want"
	: >"$T/got"
	for l in {a..z} {A..Z}; do
		$c "-$l" </dev/null >/dev/null 2>"$T/e"
		grep -q "unknown option -$l" "$T/e" || echo "$l" >>"$T/got"
	done
	sort -u "$T/got" -o "$T/got"
	diff_ok "$t: getopt takes exactly the table's letters" "$T/want" "$T/got"

	# Unknown option, missing argument: reason, synopsis, hint, 64.
	for bad in --no-such-option --retries; do
		$c $bad </dev/null >"$T/o" 2>"$T/e"
		rc=$?
		if [ $rc -eq 64 ] && [ ! -s "$T/o" ] &&
		    grep -qE "^$name: (unknown option|--[a-z-]+ needs a value)" "$T/e" &&
		    grep -q "^usage: $name " "$T/e" &&
		    [ "$(tail -1 "$T/e")" = "Try '$name --help'." ] &&
		    ! grep -q -- '--help  *this help\|-h, --help' "$T/e"; then
			ok "$t $bad: the reason, the synopsis, the hint, exit 64"
		else
			notok "$t $bad: the reason, the synopsis, the hint, exit 64" \
			    "rc $rc" "$(head -5 "$T/e")"
		fi
	done
done

# The suite page is clean and is named by every tool's page.
out=$(mandoc -Tlint -Wwarning "$TABLE" 2>&1)
check "flespi-pipe.7 is clean under mandoc -Tlint" test -z "$out"
for m in man/*.1; do
	check "$m names flespi-pipe(7)" grep -q '^\.Xr flespi-pipe 7' "$m"
done
mandoc -Tascii "$TABLE" | col -b >"$T/pipe"
for code in 0 64 65 69 73 74 75; do
	check "flespi-pipe(7) lists exit status $code" \
	    grep -qE "^[[:space:]]+$code([[:space:]]|\$)" "$T/pipe"
done

# Every channel: all, and + as its synonym, in both modes of flespi-recv.
export FLESPI_TOKEN=test-token	# the stand-in's
for sel in all +; do
	flespi-recv -v --retries 0 --once --url http://127.0.0.1:1 "$sel" \
	    >/dev/null 2>"$T/e"
	check "polling: channel $sel asks for gw/channels/all" \
	    grep -q 'GET http://127.0.0.1:1/gw/channels/all/messages' "$T/e"
	flespi-recv --mqtt -v --retries 0 --url mqtts://127.0.0.1:1 "$sel" \
	    >/dev/null 2>"$T/e"
	check "--mqtt: channel $sel subscribes to gw/channels/+/+" \
	    grep -q 'subscribing to flespi/message/gw/channels/+/+' "$T/e"
done
check "--help of both modes documents all" \
    all grep -q 'or all' "$T/help.recv" -- grep -q 'or all' "$T/help.mqtt"

# --cafile and --cacert reach libcurl in polling mode.
source "$TESTS/standin.sh"
python3 "$TESTS/genmsgs.py" 3 --seed 96 >"$T/in"
standin_tls tls --messages "$T/in"
for o in --cafile --cacert; do
	timeout 20 flespi-recv --url "https://127.0.0.1:$tport" --retries 0 \
	    "$o" "$T/c.pem" --once 1 >"$T/out" 2>"$T/err"
	rc=$?
	diff_ok "polling $o: the stand-in's certificate is trusted (rc $rc)" \
	    "$T/in" "$T/out"
done

# --mqtt --connect-timeout bounds TLS and CONNACK: a peer that accepts the
# connection and says nothing is given up on in time.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' "$T/mute.port" &
mport=$(port_of "$T/mute.port")
timed timeout 20 flespi-recv --mqtt --url "mqtts://127.0.0.1:$mport" \
    --cafile "$T/c.pem" --connect-timeout 0.3 --retry-wait 0.1 --retries 1 \
    all >/dev/null 2>"$T/err"
check "--mqtt --connect-timeout 0.3 against a mute peer: 75 in ${ms} ms (rc $rc)" \
    test $rc -eq 75 -a $ms -lt 5000
check "... saying the connect timed out, twice" \
    test "$(grep -c 'not connected within 0.3 s' "$T/err")" -eq 2
# -q: no progress line even where one would be drawn is stats.c's to test;
# here: the flag reaches it in both modes (parsing is covered above).
finish
