# Helpers for the tests and for the scripts that start the same peers
# (scripts/demo, scripts/soak) without being tests; lib.sh sources it.
#   wait_for SECS CMD...   poll CMD every 50 ms until it succeeds; 1 after
#                          SECS seconds
#   free_ports N           N ports nobody listens on now on 127.0.0.1, one
#                          a line, all different (bound together, then
#                          released: a server started on one may still
#                          find it taken meanwhile, and should try again)

wait_for() {
	local secs=$1 i=0; shift
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $((secs * 20)) ] && return 1
		sleep 0.05
	done
	return 0
}

free_ports() {
	python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
for s in ss: print(s.getsockname()[1])' "$1"
}
