# The flespi stand-in for flespi-recv's tests; source it after lib.sh.
#   standin NAME [stand-in options...]   start tests/flespi_standin.py on
#                                        127.0.0.1, port 0, log in $T/NAME.log;
#                                        sets URL
# The stand-in is on loopback: no proxy from the environment in between.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# http_standin NAME [options...]: tests/http_standin.py, the HTTP
# endpoint stand-in, log $T/NAME.log, bodies $T/NAME.out; sets HTTP_PID
# and HTTP_PORT.
http_standin() {
	rm -f "$T/$1.port"
	python3 "$TESTS/http_standin.py" --port-file "$T/$1.port" \
	    --log "$T/$1.log" --out "$T/$1.out" "${@:2}" &
	HTTP_PID=$!
	HTTP_PORT=$(port_of "$T/$1.port")
}

standin() {
	python3 "$TESTS/flespi_standin.py" --port-file "$T/$1.port" \
	    --log "$T/$1.log" "${@:2}" &
	URL=http://127.0.0.1:$(port_of "$T/$1.port")
}

# standin_tls NAME ARGS...: a stand-in over HTTPS with a fresh self-signed
# certificate for 127.0.0.1 ($T/c.pem, its key $T/k.pem: trusted by
# nobody unless a case says --cafile); sets tport.
standin_tls() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/k.pem" \
	    -out "$T/c.pem" 2>/dev/null
	python3 "$TESTS/flespi_standin.py" --port-file "$T/$1.port" \
	    --tls "$T/c.pem:$T/k.pem" "${@:2}" &
	tport=$(port_of "$T/$1.port")
}
