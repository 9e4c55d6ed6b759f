#!/usr/bin/env bash
# flespi-to-wialon without a network: --dump output checked byte for byte
# (golden vector) and through the strict decoder of wialon_receiver.py;
# mapping rules, bad input, usage errors.
source "$(dirname "$0")/lib.sh"
DEC="python3 $TESTS/wialon_receiver.py --decode-hex"
F2W=flespi-to-wialon

# --- the specification's golden vector, from a flespi message
cat >"$T/golden.json" <<'EOF'
{"ident":"353976013445485","timestamp":1259076464,"position.longitude":49.1903648,"position.latitude":55.7305664,"position.altitude":106,"position.speed":54,"position.direction":326,"position.satellites":11,"external.powersource.voltage":27.593,"din":1}
EOF
echo 74000000333533393736303133343435343835004B0BFB70000000030BBB000000270102706F73696E666F00A027AFDF5D9848403AC7253383DD4B400000000000805A40003601460B0BBB0000001200047077725F657874002B8716D9CE973B400BBB00000011010361766C5F696E707574730000000001 >"$T/golden.want"
$F2W --dump <"$T/golden.json" >"$T/golden.got"
diff_ok "golden vector: 120 bytes exactly" "$T/golden.want" "$T/golden.got"

# The strict decoder itself refuses what breaks the spec.
g=$(cat "$T/golden.want")
# Hex offsets: flags at 48, posinfo block at 56 (attr at 68), pwr_ext
# block at 146 (attr at 158, name at 162).
for bad in "75${g:2}:size prefix" "${g:0:48}01${g:50}:flags" \
    "${g:0:68}00${g:70}:posinfo attr" "${g:0:158}01${g:160}:pwr_ext attr" \
    "${g:0:162}50${g:164}:name alphabet" "${g:0:64}0102${g:68}:block size" \
    "${g:0:146}0CBB${g:150}:block marker" "${g:0:70}01${g:72}:posinfo type"; do
	if echo "${bad%%:*}" | $DEC >/dev/null 2>&1; then
		notok "strict decoder refuses a bad ${bad#*:}"
	else
		ok "strict decoder refuses a bad ${bad#*:}"
	fi
done

# --- every type, int32 edges, 64-bit, huge, UTF-8, skipped kinds, masks
cat >"$T/types.json" <<'EOF'
{"ident":"u1","timestamp":1700000000.9,"i32max":2147483647,"i32over":2147483648,"i32min":-2147483648,"i32under":-2147483649,"i64":9223372036854775807,"neg64":-9223372036854775808,"big":123456789012345678901234567890,"f":0.1,"f308":1e308,"t":true,"n":false,"s":"Привет, мир ✓","e":"","nul":null,"arr":[1],"obj":{"a":1},"CAN.Engine-RPM":7,"din":4294967295,"dout":2}
EOF
cat >"$T/types.want" <<'EOF'
{"uid": "u1", "time": 1700000000, "flags": 6, "params": [["i32max", 3, 2147483647], ["i32over", 5, 2147483648], ["i32min", 3, -2147483648], ["i32under", 5, -2147483649], ["i64", 5, 9223372036854775807], ["neg64", 5, -9223372036854775808], ["big", 4, 1.2345678901234568e+29], ["f", 4, 0.1], ["f308", 4, 1e+308], ["t", 3, 1], ["n", 3, 0], ["s", 1, "Привет, мир ✓"], ["e", 1, ""], ["can_engine_rpm", 3, 7], ["avl_inputs", 3, -1], ["avl_outputs", 3, 2]]}
EOF
$F2W --dump <"$T/types.json" | $DEC >"$T/types.got"
diff_ok "types: int32 edges, long, double, bool, UTF-8 text, masks; null/array/object skipped" "$T/types.want" "$T/types.got"

# --- posinfo: first, attr 1, flag 1, clamped, position.* consumed
cat >"$T/pos.json" <<'EOF'
{"ident":"u2","timestamp":5,"a":1,"position.latitude":-33.5,"position.longitude":151.25,"position.speed":99999,"position.direction":359.6,"position.satellites":-3,"position.hdop":0.9}
{"ident":"u2","timestamp":6,"position.latitude":10}
{"ident":"u2","timestamp":7,"position.latitude":1,"position.longitude":2,"position.direction":360}
{"ident":"u2","timestamp":8,"position.latitude":1,"position.longitude":2,"position.direction":725}
{"ident":"u2","timestamp":9,"position.latitude":1,"position.longitude":2,"position.direction":-90}
EOF
cat >"$T/pos.want" <<'EOF'
{"uid": "u2", "time": 5, "flags": 1, "posinfo": [151.25, -33.5, 0.0, 65535, 0, 0], "params": [["a", 3, 1], ["position_hdop", 4, 0.9]]}
{"uid": "u2", "time": 6, "flags": 0, "params": [["position_latitude", 3, 10]]}
{"uid": "u2", "time": 7, "flags": 1, "posinfo": [2.0, 1.0, 0.0, 0, 0, 0], "params": []}
{"uid": "u2", "time": 8, "flags": 1, "posinfo": [2.0, 1.0, 0.0, 0, 5, 0], "params": []}
{"uid": "u2", "time": 9, "flags": 1, "posinfo": [2.0, 1.0, 0.0, 0, 270, 0], "params": []}
EOF
$F2W --dump <"$T/pos.json" | $DEC >"$T/pos.got"
diff_ok "posinfo only with both coordinates, first, clamped, course modulo 360" "$T/pos.want" "$T/pos.got"

# --- din/dout booleans are masks 1/0; posinfo, image, imag get a '_'
cat >"$T/resv.json" <<'EOF'
{"ident":"u4","timestamp":1,"din":true,"dout":false,"posinfo":1,"image":"a","IMAG":2.5}
EOF
cat >"$T/resv.want" <<'EOF'
{"uid": "u4", "time": 1, "flags": 6, "params": [["avl_inputs", 3, 1], ["avl_outputs", 3, 0], ["posinfo_", 3, 1], ["image_", 1, "a"], ["imag_", 4, 2.5]]}
EOF
$F2W --dump <"$T/resv.json" | $DEC >"$T/resv.got"
diff_ok "din/dout booleans as 1/0; posinfo, image, imag renamed with _" "$T/resv.want" "$T/resv.got"

# --- names: renames, drops, map file, sanitising, duplicates, --uid-field
cat >"$T/names.json" <<'EOF'
{"ident":"u3","timestamp":1,"device.name":"Truck 7","gsm.signal.level":20,"peer":"x","Weird Name.Ä":1,"weird_name___":2,"abcdefghijklmnopqrstuvwxyz0123456789_TRUNC":3,"channel.id":9,"din":1}
EOF
cat >"$T/names.map" <<'EOF'
# a comment, then rules
channel.id = -
peer=
EOF
cat >"$T/names.want" <<'EOF'
{"uid": "u3", "time": 1, "flags": 0, "params": [["name", 1, "Truck 7"], ["signal", 3, 20], ["weird_name___", 3, 1], ["abcdefghijklmnopqrstuvwxyz0123456789_", 3, 3], ["inputs", 3, 1]]}
{"uid": "Truck 7", "time": 1, "flags": 2, "params": [["ident", 1, "u3"], ["gsm", 3, 20], ["peer", 1, "x"], ["weird_name___", 3, 1], ["abcdefghijklmnopqrstuvwxyz0123456789_", 3, 3], ["channel_id", 3, 9], ["avl_inputs", 3, 1]]}
EOF
{ $F2W --dump --map "$T/names.map" --rename device.name=Name \
    --rename gsm.signal.level=signal --rename din=inputs <"$T/names.json"
  $F2W --dump --uid-field device.name <"$T/names.json"; } | $DEC >"$T/names.got" 2>"$T/names.err"
diff_ok "names: --map, --rename, drop, sanitise, truncate, first duplicate wins, --uid-field" \
    "$T/names.want" "$T/names.got"

printf '{"ident":353976013445485,"timestamp":7}\n' | $F2W --dump | $DEC >"$T/intuid.got"
echo '{"uid": "353976013445485", "time": 7, "flags": 0, "params": []}' >"$T/intuid.want"
diff_ok "an integer ident is the unit id in decimal" "$T/intuid.want" "$T/intuid.got"

# --- a wide message (60,000 fields, 0.9 MB) encodes in linear time
python3 -c '
import json
d = {"ident": "w", "timestamp": 1}
for i in range(60000):
    d["k%d" % i] = i
d["K0"] = -1
print(json.dumps(d, separators=(",", ":")))' >"$T/wide.json"
timeout 10 $F2W --dump <"$T/wide.json" >"$T/wide.hex"
check "60,000 fields: encoded within 10 s" test $? = 0
n=$($DEC <"$T/wide.hex" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["params"]))')
check "60,000 fields: 60,000 blocks, the duplicate K0 dropped ($n)" test "$n" = 60000

# --- bad lines: diagnosed with line numbers, skipped, exit 65
cat >"$T/bad.json" <<'EOF'
{"ident":"a","timestamp":1,"k":1}
not json
{"ident":"a","timestamp":1,"x":NaN}
{"ident":"a","timestamp":1,"x":1e400}
[1,2]
{"timestamp":1}
{"ident":"a"}
{"ident":"a","timestamp":"now"}
{"ident":"a","timestamp":4294967296}
{"ident":"a\u0000b","timestamp":1}
{"ident":"","timestamp":1}
{"ident":"a","timestamp":-1}
{"ident":"a","timestamp":2,"k":2}
EOF
$F2W --dump --rejected "$T/bad.rejected" --failed "$T/bad.failed" <"$T/bad.json" >"$T/bad.out" 2>"$T/bad.err"
rc=$?
check "bad lines: exit 65 ($rc)" test $rc = 65
check "bad lines: good ones encoded (2)" test "$(wc -l <"$T/bad.out")" = 2
lines=$(sed -n 's/^flespi-to-wialon: <stdin>:\([0-9]*\): .*/\1/p' "$T/bad.err" | tr '\n' ' ')
check "bad lines: each named by line number ($lines)" \
    test "$lines" = "2 3 4 5 6 7 8 9 10 11 12 "
check "bad lines: copied to --rejected" test "$(wc -l <"$T/bad.rejected")" = 11
check "bad lines: none in --failed (nothing went undelivered)" test ! -s "$T/bad.failed"
$F2W --dump --strict <"$T/bad.json" >"$T/strict.out" 2>"$T/strict.err"
rc=$?
check "--strict: exit 65, stops at line 2" \
    test $rc = 65 -a "$(wc -l <"$T/strict.out")" = 1 -a "$(wc -l <"$T/strict.err")" = 1
printf '{"ident":"a","timestamp":1,"s":"%0200d"}\n{"ident":"a","timestamp":1}\n' 0 |
    $F2W --dump --max-line 100 >"$T/long.out" 2>"$T/long.err"
check "--max-line: oversize line skipped, exit 65" \
    test $? = 65 -a "$(wc -l <"$T/long.out")" = 1
check "--max-line: diagnosed" grep -q '<stdin>:1: line longer than 100' "$T/long.err"
printf '{"ident":"a","timestamp":1}\r\n\n{"ident":"a","timestamp":2}' |
    $F2W --dump >"$T/crlf.out"
check "CRLF, blank lines, no final newline" test $? = 0 -a "$(wc -l <"$T/crlf.out")" = 2
$F2W --dump <"$T/golden.json" >/dev/full 2>/dev/null
check "--dump to /dev/full: exit 74" test $? = 74

$F2W --dump --failed "$T/no/such/dir/failed" <"$T/golden.json" >/dev/null 2>"$T/nofail.err"
check "--failed in a missing directory: exit 74" test $? = 74
check "--failed error names the file" grep -q "no/such/dir/failed" "$T/nofail.err"
$F2W --dump --rejected "$T/no/such/dir/rej" <"$T/golden.json" >/dev/null 2>"$T/norej.err"
check "--rejected in a missing directory: exit 74, named" \
    test $? = 74 -a -n "$(grep no/such/dir/rej "$T/norej.err")"

# --- IPv6 literals parse (nothing listens on port 1: exit 75, not 64)
$F2W --retries 0 '[::1]:1' </dev/null 2>"$T/v6.err"
check "[::1]:1 parses; refused, gives up: exit 75" test $? = 75
check "[::1]:1: the failure names the target" grep -q "^flespi-to-wialon: \[::1\]:1: cannot connect" "$T/v6.err"

# --- usage
$F2W --help >"$T/help" 2>&1
check "--help: exit 0, usage on stdout" test $? = 0 -a -s "$T/help"
check "--version" sh -c "$F2W --version | grep -q '^flespi-to-wialon '"
for args in "" "--bogus x:1" "--window 0 x:1" "--window 16385 x:1" \
    "--ack-timeout abc x:1" "x:0" "x:65536" "x:port" "[::1 " "a:1 b:2" \
    "--dump x:1" "--rename nothing x:1" "--map /nonexistent x:1" \
    "--uid-field= x:1" "--retries -1 x:1"; do
	$F2W $args </dev/null >/dev/null 2>&1
	rc=$?
	check "usage error exits 64: '$args' ($rc)" test $rc = 64
done
finish
