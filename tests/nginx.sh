# The HTTP peers of flespi-to-http's tests; source it after lib.sh.
#   http_standin NAME [stand-in options...]   (standin.sh, sourced here)
#   nginx_start DIR UPSTREAM_PORT
#                      Debian's nginx as an unprivileged foreground
#                      process, its prefix in DIR, in front of the
#                      stand-in: TLS with the test CA of broker_certs DIR
#                      (call it first), HTTP/2 on, client_max_body_size
#                      64k; two servers on free ports: NGINX_PORT (any
#                      client) and NGINX_MTLS_PORT (a client certificate
#                      from the test CA required); access log with the
#                      protocol in DIR/access.log; sets NGINX_PID
#   nginx_stop
# Peers are on loopback: no proxy from the environment in between.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
. "$TESTS/broker.sh"
. "$TESTS/standin.sh"


# Ports are free_ports' (nginx cannot take port 0): nginx_start tries
# again when one was taken meanwhile.

_nginx_conf() {
	local d=$1 up=$2 p1=$3 p2=$4
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<-CONF
	daemon off;
	master_process off;
	pid $d/nginx.pid;
	error_log $d/error.log info;
	events { worker_connections 256; }
	http {
	    access_log off;
	    client_body_temp_path $d/tmp/body;
	    proxy_temp_path $d/tmp/proxy;
	    fastcgi_temp_path $d/tmp/fastcgi;
	    uwsgi_temp_path $d/tmp/uwsgi;
	    scgi_temp_path $d/tmp/scgi;
	    log_format proto '\$server_port \$server_protocol \$request_method \$status \$request_length \$connection';
	    upstream standin { server 127.0.0.1:$up; keepalive 8; }
	    ssl_certificate $d/server.pem;
	    ssl_certificate_key $d/server.key;
	    client_max_body_size 64k;
	    server {
	        listen 127.0.0.1:$p1 ssl http2;
	        server_name localhost;
	        access_log $d/access.log proto;
	        location = /ready { return 204; }
	        location / {
	            proxy_pass http://standin;
	            proxy_http_version 1.1;
	            proxy_set_header Connection "";
	        }
	    }
	    server {
	        listen 127.0.0.1:$p2 ssl http2;
	        server_name localhost;
	        access_log $d/access.log proto;
	        ssl_verify_client on;
	        ssl_client_certificate $d/ca.pem;
	        location = /ready { return 204; }
	        location / {
	            proxy_pass http://standin;
	            proxy_http_version 1.1;
	            proxy_set_header Connection "";
	        }
	    }
	}
	CONF
}

_nginx_up() {
	curl -s -o /dev/null --cacert "$1/ca.pem" \
	    "https://localhost:$2/ready" 2>/dev/null
}

nginx_start() {
	local d=$1 up=$2 try p1 p2
	for try in 1 2 3 4 5; do
		{ read -r p1; read -r p2; } < <(free_ports 2)
		_nginx_conf "$d" "$up" "$p1" "$p2"
		nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
		    2>>"$d/nginx.stderr" &
		NGINX_PID=$!
		if wait_for 10 _nginx_up "$d" "$p1"; then
			NGINX_PORT=$p1
			NGINX_MTLS_PORT=$p2
			return 0
		fi
		kill "$NGINX_PID" 2>/dev/null
		wait "$NGINX_PID" 2>/dev/null
	done
	echo "nginx_start: nginx did not start:" >&2
	cat "$d/error.log" "$d/nginx.stderr" >&2 2>/dev/null
	return 1
}

nginx_stop() {
	[ -n "${NGINX_PID:-}" ] || return 0
	kill "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=
}
