#!/usr/bin/env bash
# One proxy policy (flespi-pipe(7), ENVIRONMENT): the tools that speak
# HTTP (flespi-recv polling, flespi-to-http) go through http_proxy,
# https_proxy (a CONNECT tunnel) and all_proxy as curl does, and skip it
# for the hosts in no_proxy; the others connect directly whatever is set.
source "$(dirname "$0")/lib.sh"
source "$TESTS/standin.sh"	# unsets every proxy variable first
source "$TESTS/wialon.sh"
export FLESPI_TOKEN=test-token

python3 "$TESTS/proxy.py" --port-file "$T/px.port" --log "$T/px.log" &
PX=http://127.0.0.1:$(port_of "$T/px.port")

msgs 50 3 >"$T/in"
standin s --messages "$T/in"
SURL=$URL
http_standin h
hpid=$HTTP_PID
HURL=http://127.0.0.1:$HTTP_PORT/in

# --- flespi-to-http: http_proxy for an http:// URL
http_proxy=$PX flespi-to-http "$HURL" <"$T/in" 2>"$T/e1"
rc=$?
check "flespi-to-http, http_proxy: exit 0 ($rc)" test $rc = 0
check "... the requests went through the proxy" \
    grep -q "^POST $HURL" "$T/px.log"
check "... every message arrived" test "$(lines "$T/h.out")" = 50

# ... no_proxy names the host: straight there
: >"$T/px.log"; : >"$T/h.out"
http_proxy=$PX no_proxy=127.0.0.1 flespi-to-http "$HURL" <"$T/in" 2>"$T/e2"
rc=$?
check "no_proxy=127.0.0.1: exit 0 ($rc), nothing through the proxy" \
    all test $rc = 0 -- test ! -s "$T/px.log"
check "... every message arrived" test "$(lines "$T/h.out")" = 50

# ... all_proxy when http_proxy is not set
: >"$T/px.log"
all_proxy=$PX flespi-to-http "$HURL" <"$T/in" 2>/dev/null
check "all_proxy: through the proxy" grep -q "^POST $HURL" "$T/px.log"

# ... HTTP_PROXY in capitals is not taken (curl's rule, after httpoxy)
: >"$T/px.log"
HTTP_PROXY=$PX flespi-to-http "$HURL" <"$T/in" 2>/dev/null
check "HTTP_PROXY (capitals): not taken" test ! -s "$T/px.log"

# --- https through a CONNECT tunnel
kill $hpid 2>/dev/null
standin_tls tls --messages "$T/in"
: >"$T/px.log"
https_proxy=$PX flespi-recv --cafile "$T/c.pem" --once \
    --url "https://127.0.0.1:$tport" 1 >"$T/r.out" 2>"$T/r.err"
rc=$?
check "flespi-recv, https_proxy: exit 0 ($rc)" test $rc = 0
check "... through a CONNECT tunnel" grep -q "^CONNECT 127.0.0.1:$tport" "$T/px.log"
check "... every message" test "$(lines "$T/r.out")" = 50

# --- flespi-recv polling over http, through http_proxy
: >"$T/px.log"
http_proxy=$PX flespi-recv --once --url "$SURL" 1 >"$T/r2.out" 2>/dev/null
check "flespi-recv, http_proxy: through the proxy" \
    grep -q "^GET $SURL/gw/channels/1/messages" "$T/px.log"
check "... every message" test "$(lines "$T/r2.out")" = 50

# --- the others connect directly, whatever is set
start_recv w
: >"$T/px.log"
http_proxy=$PX https_proxy=$PX all_proxy=$PX \
    $F2W "127.0.0.1:$port" <"$T/in" 2>"$T/w.err"
rc=$?
check "flespi-to-wialon with every proxy variable set: exit 0 ($rc), direct" \
    all test $rc = 0 -- test ! -s "$T/px.log"
kill $rpid
finish
