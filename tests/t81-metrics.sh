#!/usr/bin/env bash
# --metrics FILE (metrics.c) as Prometheus reads it: Debian's
# prometheus-node-exporter, started here on a loopback port with only its
# textfile collector, on the metrics directory, scraped with curl.  Every
# tool's file parses (node_exporter reports a textfile parse error as
# node_textfile_scrape_error: 0), follows the naming conventions, and its
# counters add up to what the receiving stand-ins saw; the file is
# replaced atomically and never written through a planted link; a file
# that cannot be written is a warning, not a failed run.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"
source "$TESTS/wialon.sh"
source "$TESTS/broker.sh"
export FLESPI_TOKEN=test-token
M=$T/metrics
mkdir -p "$M"
NE=$(command -v prometheus-node-exporter)
if [ -z "$NE" ]; then
	notok "prometheus-node-exporter is installed (make deps)"
	finish; exit 1
fi

# ---- node_exporter: the textfile collector only, port chosen by the kernel
"$NE" --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$M" --web.disable-exporter-metrics \
    --web.listen-address=127.0.0.1:0 >"$T/ne.log" 2>&1 &
# It logs the address it bound: msg="Listening on" address=127.0.0.1:PORT.
neport() { sed -n 's/.*msg="Listening on".* address=127\.0\.0\.1:\([1-9][0-9]*\).*/\1/p' \
    "$T/ne.log" | head -1; }
listening() { [ -n "$(neport)" ]; }
wait_for 10 listening || { notok "node_exporter listens" \
    "$(tail -5 "$T/ne.log")"; finish; exit 1; }
NEURL=http://127.0.0.1:$(neport)/metrics
ok "node_exporter listens on $NEURL"
scrape() { curl -fsS "$NEURL" >"$T/scrape" 2>"$T/scrape.err"; }
# val NAME TOOL: the value of series NAME of TOOL in the last scrape
# (node_exporter writes 2068479 as 2.068479e+06: integers come back whole).
val() {
	awk -v n="$1" -v t="tool=\"$2\"" -v OFMT=%.6f '$1 ~ "^" n "{" &&
	    index($1, t) { print $2 + 0; exit }' "$T/scrape"
}
scrape_error() { awk '$1 == "node_textfile_scrape_error" { print $2 }' "$T/scrape"; }

# A broken file fails the scrape check: the check can fail.
printf 'flespi_pipe_broken{ 1\n' >"$M/broken.prom"
scrape
check "a broken .prom file: node_textfile_scrape_error 1 ($(scrape_error))" \
    test "$(scrape_error)" = 1
rm -f "$M/broken.prom"

# ---- the pipelines: flespi-recv into each forwarder, every file there
N=3000
python3 "$TESTS/genmsgs.py" $N >"$T/in"
standin s --messages "$T/in"
start_recv w
ln -s "$T/victim" "$M/wialon.prom"	# planted: must be replaced, not followed
printf 'precious\n' >"$T/victim"
flespi-recv --url "$URL" --once --metrics "$M/recv.prom" 1 2>"$T/recv.err" |
    tee "$T/recv.out" |
    flespi-to-wialon --metrics "$M/wialon.prom" "127.0.0.1:$port" 2>"$T/w.err"
rc=$?
check "recv | wialon with --metrics: exit 0 ($rc), silent" \
    all test $rc = 0 -- test ! -s "$T/recv.err" -- test ! -s "$T/w.err"
wait_for 10 has_lines "$T/w.out" $N

http_standin h 2>"$T/h.err"
HURL=http://127.0.0.1:$HTTP_PORT/hook
flespi-to-http --metrics "$M/http.prom" --batch 100 "$HURL" <"$T/in" 2>"$T/http.err"
rc=$?
check "flespi-to-http --metrics: exit 0 ($rc)" test $rc = 0

broker_certs "$T/mq" && broker_start "$T/mq" || notok "mosquitto starts"
broker_sub "$T/mq" metrics-sub $N 30 "$T/sub.out" || notok "subscriber starts"
# shellcheck disable=SC2046
flespi-to-aws $(broker_aws_args "$T/mq") --topic 'fleet/{ident}' --rate 0 \
    --metrics "$M/aws.prom" <"$T/in" 2>"$T/aws.err"
rc=$?
check "flespi-to-aws --metrics: exit 0 ($rc)" test $rc = 0
wait "$SUB_PID"

# ---- what node_exporter serves
scrape
check "scraped: node_textfile_scrape_error 0 ($(scrape_error))" \
    test "$(scrape_error)" = 0
[ "$(scrape_error)" = 0 ] || sed 's/^/#   /' "$T/ne.log" | tail -5
for t in flespi-recv flespi-to-wialon flespi-to-http flespi-to-aws; do
	check "$t: flespi_pipe_info with its version, ready 1" \
	    all test "$(val flespi_pipe_info "$t")" = 1 -- \
	    grep -q "^flespi_pipe_info{.*tool=\"$t\",version=\"[0-9.]*\"} 1$" "$T/scrape" -- \
	    test "$(val flespi_pipe_ready "$t")" = 1
done
check "the planted link was replaced, its target untouched; mode 0644" \
    all test ! -L "$M/wialon.prom" -- test "$(cat "$T/victim")" = precious -- \
    test "$(stat -c %a "$M/wialon.prom")" = 644
check "no temporary file is left in the directory" \
    test "$(ls -A "$M" | sort | tr '\n' ' ')" = "aws.prom http.prom recv.prom wialon.prom "

# Naming: every series has HELP and TYPE, counters end in _total, units
# in names, the prefix flespi_pipe_.
bad=$(cat "$M"/*.prom | awk '
    /^# TYPE / { type[$3] = $4; next }
    /^# HELP / { help[$3] = 1; next }
    { n = $1; sub(/\{.*/, "", n)
      if (n !~ /^flespi_pipe_[a-z_]+$/) print "name " n
      if (!(n in help) || !(n in type)) print "no HELP/TYPE " n
      if (type[n] == "counter" && n !~ /_total$/) print "counter " n
      if (type[n] != "counter" && n ~ /_total$/) print "gauge " n }' | sort -u)
check "names: prefix, HELP and TYPE, _total for counters only" test -z "$bad"
[ -z "$bad" ] || echo "$bad" | sed 's/^/#   /'
check "the same metric has the same HELP in every file" \
    test "$(grep -h '^# HELP' "$M"/*.prom | sort -u | awk '{ print $3 }' | uniq -d)" = ""

# The manual lists every series with its type and help text as written.
miss=$(cat "$M"/*.prom | awk '/^# HELP / { n = $3; sub(/^# HELP [^ ]* /, "");
    print n "\t" $0 } /^# TYPE / { print $3 "\tTYPE " $4 }' | sort -u |
    while IFS=$'\t' read -r n h; do
	case $h in
	"TYPE "*) grep -qx "\.It Sy $n Pq ${h#TYPE }" "$TESTS/../man/flespi-pipe.7" || echo "$n: ${h#TYPE }" ;;
	*) grep -A1 -x "\.It Sy $n Pq [a-z]*" "$TESTS/../man/flespi-pipe.7" | grep -qxF -- "$h" || echo "$n: $h" ;;
	esac
    done)
check "flespi-pipe(7), METRICS: every series, its type and its help text" test -z "$miss"
[ -z "$miss" ] || echo "$miss" | sed 's/^/#   /' | head

# ---- the counters add up
wl=$(seqs=$(wc -l <"$T/w.out"); echo "$seqs")
check "wialon: delivered ($(val flespi_pipe_messages_delivered_total flespi-to-wialon)) = what the receiver got ($wl) = read = $N" \
    all test "$(val flespi_pipe_messages_delivered_total flespi-to-wialon)" = "$wl" -- \
    test "$wl" = $N -- \
    test "$(val flespi_pipe_messages_read_total flespi-to-wialon)" = $N
check "wialon: failed 0, rejected 0, in flight 0" \
    all test "$(val flespi_pipe_messages_failed_total flespi-to-wialon)" = 0 -- \
    test "$(val flespi_pipe_messages_rejected_total flespi-to-wialon)" = 0 -- \
    test "$(val flespi_pipe_inflight_messages flespi-to-wialon)" = 0
bytes=$(wc -c <"$T/recv.out")
check "recv: read = delivered = $N, bytes sent = what the forwarder read ($bytes)" \
    all test "$(val flespi_pipe_messages_read_total flespi-recv)" = $N -- \
    test "$(val flespi_pipe_messages_delivered_total flespi-recv)" = $N -- \
    test "$(val flespi_pipe_sent_bytes_total flespi-recv)" = "$bytes" -- \
    test "$(val flespi_pipe_read_bytes_total flespi-to-wialon)" = "$bytes"
check "wialon: connections 1 made, none left open; bytes sent > 0" \
    all test "$(val flespi_pipe_connections_total flespi-to-wialon)" = 1 -- \
    test "$(val flespi_pipe_connections flespi-to-wialon)" = 0 -- \
    test "$(val flespi_pipe_sent_bytes_total flespi-to-wialon)" -gt 0
hl=$(jq -s 'map(length) | add' "$T/h.out" 2>/dev/null || wc -l <"$T/h.out")
check "http: delivered ($(val flespi_pipe_messages_delivered_total flespi-to-http)) = what the endpoint got ($(wc -l <"$T/h.out"))" \
    all test "$(val flespi_pipe_messages_delivered_total flespi-to-http)" = "$(wc -l <"$T/h.out")" -- \
    test "$(wc -l <"$T/h.out")" = $N
check "http: bytes sent = the request bodies the endpoint logged" \
    test "$(val flespi_pipe_sent_bytes_total flespi-to-http)" = \
    "$(jq -s 'map(.wire) | add' "$T/h.log" 2>/dev/null)"
check "aws: delivered ($(val flespi_pipe_messages_delivered_total flespi-to-aws)) = what the subscriber got ($(wc -l <"$T/sub.out"))" \
    all test "$(val flespi_pipe_messages_delivered_total flespi-to-aws)" = "$(wc -l <"$T/sub.out")" -- \
    test "$(wc -l <"$T/sub.out")" = $N -- \
    test "$(val flespi_pipe_connections_total flespi-to-aws)" -ge 1
last=$(tail -1 "$T/in" | jq '."server.timestamp"')
check "last message time = the last message's server.timestamp ($last)" \
    python3 -c "import sys; sys.exit(abs(float('$(val flespi_pipe_last_message_timestamp_seconds flespi-to-wialon)') - $last) > 0.001)"
check "lag = delivery time - server.timestamp (within 60 s of now - $last)" \
    python3 -c "import sys, time; l = float('$(val flespi_pipe_lag_seconds flespi-to-wialon)')
sys.exit(abs(l - (time.time() - $last)) > 60)"
now=$(date +%s)
check "last acknowledgement within the last minute" \
    test $(( now - $(val flespi_pipe_last_ack_timestamp_seconds flespi-to-wialon | cut -d. -f1) )) -lt 60

# ---- the saved key: recv --checkpoints | wialon --state
standin k --messages "$T/in"
start_recv k
flespi-recv --url "$URL" --once --checkpoints --limit-count 500 \
    --metrics "$M/krecv.prom" 1 2>/dev/null |
    flespi-to-wialon --state "$T/k.key" --metrics "$M/kw.prom" "127.0.0.1:$port" 2>/dev/null
key=$(cat "$T/k.key")
check "saved key: the forwarder's is its --state ($key), flespi-recv's its last checkpoint" \
    all grep -q "^flespi_pipe_saved_key{tool=\"flespi-to-wialon\",file=\"kw\"} $key$" "$M/kw.prom" -- \
    grep -q "^flespi_pipe_saved_key{tool=\"flespi-recv\",file=\"krecv\"} $key$" "$M/krecv.prom" -- \
    grep -q "^flespi_pipe_checkpoints_total{tool=\"flespi-to-wialon\",file=\"kw\"} [1-9]" "$M/kw.prom"

# ---- written while running (every 5 s, and at once on SIGUSR1)
mkfifo "$T/fifo"
flespi-to-wialon --metrics "$M/live.prom" "127.0.0.1:$port" <"$T/fifo" 2>/dev/null &
lpid=$!
exec 3>"$T/fifo"
head -n 10 "$T/in" >&3
wait_for 10 grep -q 'messages_delivered_total.* 10$' "$M/live.prom"
check "while running: the file says 10 delivered" \
    grep -q 'messages_delivered_total.* 10$' "$M/live.prom"
rm -f "$M/live.prom"
kill -USR1 $lpid
wait_for 3 test -s "$M/live.prom"
check "SIGUSR1: the file is written at once" test -s "$M/live.prom"
exec 3>&-
wait $lpid

# ---- cannot be written: a warning once, the run goes on
flespi-to-wialon --metrics "$T/nodir/x.prom" --dump <"$T/in" >/dev/null 2>"$T/nodir.err"
rc=$?
check "--metrics in a missing directory: exit 0 ($rc), one warning naming it" \
    all test $rc = 0 -- test "$(wc -l <"$T/nodir.err")" = 1 -- \
    grep -q "^flespi-to-wialon: --metrics: cannot write '$T/nodir/x.prom'" "$T/nodir.err"
flespi-to-wialon --metrics '' --dump </dev/null >/dev/null 2>&1
check "--metrics '': exit 64" test $? = 64
broker_stop
finish
