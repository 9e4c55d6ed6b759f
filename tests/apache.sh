# Debian's Apache httpd 2.4 as a peer of flespi-to-http's tests; source it
# after lib.sh and nginx.sh (for broker_certs).
#   apache_start DIR   its own instance, never the system's service: the
#                      configuration, pid, logs and runtime files in DIR,
#                      on 127.0.0.1 at ports it picks (bound and released
#                      first, tried again on a collision), in the
#                      foreground.  TLS with the test CA of broker_certs
#                      DIR (call it first), SSLVerifyClient require,
#                      LimitRequestBody 65536, a CGI at /in that appends
#                      each body it accepts to DIR/recv/body.  Two ports:
#                      APACHE_PORT (Protocols h2 http/1.1) and
#                      APACHE_H1_PORT (http/1.1 only).  Access log with
#                      "port protocol method status length client-port" in
#                      DIR/access.log; sets APACHE_PID
#   apache_stop
# Run as root, Apache serves as www-data: DIR's parent is made searchable
# (not readable) for it, and recv/ and run/ are its own.

_apache_conf() {
	local d=$1 p1=$2 p2=$3 m=/usr/lib/apache2/modules mod
	{
		cat <<-CONF
		ServerRoot $d
		ServerName localhost
		PidFile $d/httpd.pid
		DefaultRuntimeDir $d/run
		Mutex file:$d/run default
		ErrorLog $d/error.log
		LogLevel info
		CONF
		if [ "$(id -u)" -eq 0 ]; then
			printf 'User www-data\nGroup www-data\n'
		fi
		for mod in mpm_event authz_core alias env cgid socache_shmcb \
		    ssl http2; do
			printf 'LoadModule %s_module %s/mod_%s.so\n' "$mod" "$m" \
			    "$mod"
		done
		cat <<-CONF
		StartServers 1
		ServerLimit 1
		ThreadsPerChild 16
		MaxRequestWorkers 16
		MinSpareThreads 1
		MaxSpareThreads 16
		H2MinWorkers 1
		H2MaxWorkers 8
		ScriptSock $d/run/cgid.sock
		Listen 127.0.0.1:$p1
		Listen 127.0.0.1:$p2
		LogFormat "%p %H %m %>s %{Content-Length}i %{remote}p" proto
		CustomLog $d/access.log proto
		SSLEngine on
		SSLCertificateFile $d/server.pem
		SSLCertificateKeyFile $d/server.key
		SSLCACertificateFile $d/ca.pem
		SSLVerifyClient require
		SSLVerifyDepth 2
		SSLSessionCache none
		LimitRequestBody 65536
		SetEnv RECV_DIR $d/recv
		ScriptAlias /in $d/cgi/in
		<Directory $d/cgi>
		    Require all granted
		</Directory>
		Protocols h2 http/1.1
		<VirtualHost 127.0.0.1:$p2>
		    Protocols http/1.1
		</VirtualHost>
		CONF
	} >"$d/httpd.conf"
}

_apache_up() {
	curl -s -o /dev/null -w '%{http_code}' --cacert "$1/ca.pem" \
	    --cert "$1/client.pem" --key "$1/client.key" --data-binary '' \
	    "https://localhost:$2/in" 2>/dev/null | grep -q 200
}

_apache_settled() {
	_apache_up "$1" "$2" || ! kill -0 "$3" 2>/dev/null
}

apache_start() {
	local d=$1 try p1 p2
	mkdir -p "$d/cgi" "$d/recv" "$d/run" || return 1
	# The receiver: each accepted body, whole, under a lock.
	cat >"$d/cgi/in" <<-'CGI'
	#!/bin/sh
	exec 9>>"$RECV_DIR/lock"
	flock 9
	head -c "${CONTENT_LENGTH:-0}" >>"$RECV_DIR/body"
	printf 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n'
	CGI
	chmod 755 "$d/cgi/in"
	: >"$d/recv/body"
	if [ "$(id -u)" -eq 0 ]; then
		chmod 711 "$d" "$(dirname "$d")"
		chmod 755 "$d/cgi"
		chown -R www-data:www-data "$d/recv" "$d/run"
	fi
	for try in 1 2 3 4 5; do
		{ read -r p1; read -r p2; } < <(free_ports 2)
		_apache_conf "$d" "$p1" "$p2"
		apache2 -d "$d" -f "$d/httpd.conf" -DFOREGROUND \
		    2>>"$d/apache.stderr" &
		APACHE_PID=$!
		# Up, or dead (a port taken meanwhile): then try again.
		wait_for 10 _apache_settled "$d" "$p1" "$APACHE_PID"
		if _apache_up "$d" "$p1"; then
			APACHE_PORT=$p1
			APACHE_H1_PORT=$p2
			: >"$d/access.log"
			return 0
		fi
		kill "$APACHE_PID" 2>/dev/null
		wait "$APACHE_PID" 2>/dev/null
	done
	echo "apache_start: apache2 did not start:" >&2
	cat "$d/error.log" "$d/apache.stderr" >&2 2>/dev/null
	return 1
}

apache_stop() {
	[ -n "${APACHE_PID:-}" ] || return 0
	kill "$APACHE_PID" 2>/dev/null
	wait "$APACHE_PID" 2>/dev/null
	APACHE_PID=
}
