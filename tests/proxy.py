#!/usr/bin/env python3
"""A forward HTTP proxy for the tests of the proxy policy (flespi-pipe(7),
ENVIRONMENT).

proxy.py --port-file FILE --log FILE

Listens on 127.0.0.1, port 0.  An absolute-form request (GET
http://host:port/path HTTP/1.1) is forwarded to its host and the answer
relayed; CONNECT host:port opens a tunnel.  Each request line, or
CONNECT target, is logged as one line in --log.
"""
import argparse
import socket
import threading


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(c, log, lock):
    f = c.makefile("rb")
    try:
        line = f.readline()
        if not line:
            return
        method, target, version = line.decode().split()
        head = [line]
        while True:
            h = f.readline()
            head.append(h)
            if h in (b"\r\n", b"\n", b""):
                break
        with lock:
            with open(log, "a") as lf:
                lf.write("%s %s\n" % (method, target))
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            u = socket.create_connection((host, int(port)))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            t = threading.Thread(target=pipe, args=(u, c), daemon=True)
            t.start()
            pipe(c, u)
            t.join()
            return
        rest = target.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        n = 0
        for h in head[1:]:
            if h.lower().startswith(b"content-length:"):
                n = int(h.split(b":", 1)[1])
        body = f.read(n) if n else b""
        # One request a connection: the answer ends with the close.
        head = [h for h in head[1:] if not h.lower().startswith(
            (b"proxy-connection:", b"connection:"))]
        req = ("%s /%s %s\r\n" % (method, path, version)).encode() + \
            b"Connection: close\r\n" + b"".join(head) + body
        u = socket.create_connection((host, int(port or 80)))
        u.sendall(req)
        pipe(u, c)
        u.close()
    except (OSError, ValueError):
        pass
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    open(a.log, "a").close()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    lock = threading.Lock()
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c, a.log, lock),
                         daemon=True).start()


if __name__ == "__main__":
    main()
