# Helpers for flespi-to-wialon's tests; source it after lib.sh.
#   start_recv NAME [receiver options]  start tests/wialon_receiver.py,
#                                       records in $T/NAME.out; sets port, rpid
#   has_lines FILE N                    FILE exists with at least N lines
#   seqs FILE                           the seq of every record in FILE (a
#                                       receiver's records), one a line
RECV=$TESTS/wialon_receiver.py
F2W=flespi-to-wialon

seqs() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    for p in json.loads(line)["params"]:
        if p[0] == "seq":
            print(p[2])
' "$1"
}

has_lines() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

start_recv() {
	local n=$1; shift
	rm -f "$T/$n.port"
	python3 "$RECV" --port-file "$T/$n.port" --out "$T/$n.out" "$@" \
	    2>>"$T/$n.log" &
	rpid=$!
	port=$(port_of "$T/$n.port") || { notok "receiver $n did not start"; finish; exit 1; }
}
