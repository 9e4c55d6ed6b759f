#!/usr/bin/env bash
# The whole pipeline, as the README and the man page give it:
#   flespi-recv --checkpoints --state K CHANNEL | jq (keeping checkpoints)
#       | flespi-to-http --state K URL
# against the flespi stand-in and the HTTP stand-in; flespi-to-http is
# killed with SIGKILL at random moments and the pipeline started again
# each time: every message arrives at least once.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/nginx.sh"
export FLESPI_TOKEN=test-token

N=6000 KILLS=4
python3 "$TESTS/genmsgs.py" $N --devices 30 >"$T/in"
standin f --messages "$T/in"
FURL=$URL
http_standin h --delay 0.1
HURL=http://127.0.0.1:$HTTP_PORT/in

pipeline() {
	flespi-recv --url "$FURL" --once -c 500 --checkpoints --state "$T/k" 1 |
	    jq -c --unbuffered 'select(has("@checkpoint") or .ident != null)' |
	    flespi-to-http --state "$T/k" --batch 200 "$HURL"
}
for i in $(seq $KILLS); do
	pipeline 2>>"$T/err" &
	pid=$!
	sleep 0.$((RANDOM % 6 + 4))
	# This test's flespi-to-http only: its --state is in $T.
	pkill -KILL -f "flespi-to-http --state $T/k"
	wait $pid
	echo "# after kill $i: key $(cat "$T/k" 2>/dev/null || echo none)," \
	    "$(wc -l <"$T/h.out") received"
done
pipeline 2>>"$T/err"
check "the last pipeline: exit 0" [ $? -eq 0 ]
# jq in the middle prints some numbers its own way (150.0 as 150):
# compare as jq prints both sides.
jq -c . "$T/in" | sort -u >"$T/want"
jq -c . "$T/h.out" | sort -u >"$T/got"
diff_ok "every message arrived at least once" "$T/want" "$T/got"
echo "# $(( $(wc -l <"$T/h.out") - N )) duplicates for $KILLS kills"
check "no checkpoint line reached the endpoint" [ "$(grep -c '@checkpoint' "$T/h.out")" -eq 0 ]
finish
