#!/usr/bin/env bash
# Documentation stays true: every man page is clean under mandoc -Tlint,
# every long option a command's --help lists is in its man page, every
# page's SEE ALSO names the other commands, and every command answers
# --help (exit 0, stdout) and --version.
source "$(dirname "$0")/lib.sh"
cd "$TESTS/.."
for prog in "$FP_BIN"/flespi-*; do
	case $prog in *.d|*.o) continue ;; esac
	name=${prog##*/}
	prog=$name	# run through PATH, as a user does: argv[0] is the name
	man=man/$name.1
	if [ ! -f "$man" ]; then
		notok "$name has a man page"
		continue
	fi
	if out=$(mandoc -Tlint -Wwarning "$man" 2>&1) && [ -z "$out" ]; then
		ok "$man is clean under mandoc -Tlint"
	else
		notok "$man is clean under mandoc -Tlint" "$out"
	fi
	"$prog" --help >"$T/help" 2>"$T/help.err"
	rc=$?
	check "$name --help exits 0 with text on stdout" \
	    test $rc -eq 0 -a -s "$T/help" -a ! -s "$T/help.err"
	"$prog" --version >"$T/version" 2>&1
	check "$name --version" grep -q '[0-9]\.[0-9]' "$T/version"
	mandoc -Tascii "$man" | col -b >"$T/man.txt"
	# flespi-recv's push mode has its own --help.
	[ "$name" = flespi-recv ] && flespi-recv --mqtt --help >>"$T/help" 2>&1
	missing=
	for opt in $(grep -o -- '--[a-z][a-z0-9-]*' "$T/help" | sort -u); do
		grep -q -- "$opt" "$T/man.txt" || missing="$missing $opt"
	done
	if [ -z "$missing" ]; then
		ok "every option in $name --help is in $man"
	else
		notok "every option in $name --help is in $man" "missing:$missing"
	fi
	for sec in 'EXIT STATUS' 'EXAMPLES' 'SEE ALSO'; do
		check "$man has $sec" grep -q "^$sec" "$T/man.txt"
	done
	# SEE ALSO names every other command of the suite, and the guide.
	missing=
	for other in "$FP_BIN"/flespi-*; do
		other=${other##*/}
		case $other in *.d|*.o|"$name") continue ;; esac
		sed -n '/^\.Sh SEE ALSO/,/^\.Sh/p' "$man" |
		    grep -q "^\.Xr $other 1" || missing="$missing $other"
	done
	sed -n '/^\.Sh SEE ALSO/,/^\.Sh/p' "$man" |
	    grep -q '^\.Xr flespi-pipe 7' || missing="$missing flespi-pipe(7)"
	check "$man: SEE ALSO names the other commands${missing:+ (missing:$missing)}" \
	    test -z "$missing"
	"$prog" --no-such-option >/dev/null 2>"$T/usage"
	rc=$?
	check "$name: unknown option exits 64 with a prefixed message" \
	    test $rc -eq 64 -a -n "$(grep "^$name: " "$T/usage")"
done
finish
