#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 server that records every request, for the
flespi-to-http tests.

http_standin.py --port-file FILE --log FILE --out FILE [options]

Listens on 127.0.0.1, port 0 (keep-alive, one thread per connection).
Every request is logged as one JSON line in --log: n, method, path,
headers (names in lower case), gzip (the body was Content-Encoding: gzip),
wire (body bytes on the wire), format (array, ndjson or single), count
(messages in the body), status, fault, and body (decoded, as text).
Messages of every request answered 2xx are appended to --out, one line
each, as the exact bytes they had in the body (a JSON array is split
into its elements without re-serialising), in arrival order.

Options:
  --faults LIST    what the first requests get, in order, comma-separated:
                   ok, any status (500, 503, 401, 403, 408, 422...),
                   429:S (429 with Retry-After: S), stall:S (no answer for
                   S seconds, then the connection is closed), reset (half
                   the body is read, then the connection is reset), short
                   (the request is accepted: 200 with a Content-Length
                   longer than the answer, then the connection is closed);
                   F@S applies fault F to this request and to every
                   request in the next S seconds (404@2: a deploy serving
                   404 for 2 s; 400@3: refusing everything; short@60);
                   after the list every request is answered normally
  --reject MARK    400 for any request whose body holds MARK (e.g.
                   REJECTME), with an answer naming it
  --reject-code N  that status instead of 400
  --reject-answer TEXT
                   that answer instead (Python escapes: \x1b for ESC)
  --max-size N     413 for a body over N bytes (decoded)
  --auth VALUE     401 unless the Authorization header is exactly VALUE
  --auth-file F    the same, VALUE read from the first line of F (so
                   that a test can look for it in ps)
  --delay SECS     wait this long before every answer

Control endpoint, for tests:
  POST /control/faults   body: a fault list, replacing what is left
"""
import argparse
import gzip
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.faults = parse_faults(a.faults)
        self.window = None	# (fault, until): a fault F@S running
        self.n = 0
        self.log = open(a.log, "a", buffering=1) if a.log else None
        self.out = open(a.out, "ab", buffering=0) if a.out else None

    def next_fault(self):
        with self.lock:
            self.n += 1
            now = time.monotonic()
            if self.window and now < self.window[1]:
                return self.n, self.window[0]
            self.window = None
            f = self.faults.pop(0) if self.faults else "ok"
            if "@" in f:
                f, secs = f.split("@", 1)
                self.window = (f, now + float(secs))
            return self.n, f


def parse_faults(s):
    return [f.strip() for f in s.split(",") if f.strip()] if s else []


def split_array(text):
    """The elements of a JSON array, each as its exact text."""
    dec = json.JSONDecoder()
    i = 1
    out = []
    n = len(text)

    def skip(i):
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i
    i = skip(i)
    if i < n and text[i] == "]":
        return out
    while True:
        i = skip(i)
        _, end = dec.raw_decode(text, i)
        out.append(text[i:end])
        i = skip(end)
        if text[i] == "]":
            return out
        if text[i] != ",":
            raise ValueError("bad array")
        i += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def read_body(self, limit=None):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", 0))
        return self.rfile.read(n if limit is None else min(n, limit))

    def answer(self, status, text="", extra=None):
        body = text.encode()
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        st = self.server.st
        a = st.a
        if self.path == "/control/faults":
            with st.lock:
                st.faults = parse_faults(self.read_body().decode())
                st.window = None
            self.answer(200, "ok\n")
            return
        n, fault = st.next_fault()
        rec = {"n": n, "t": time.time(), "method": self.command,
               "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "fault": fault}
        if fault == "reset":
            half = int(self.headers.get("Content-Length", 0)) // 2
            self.rfile.read(half)
            rec["status"] = "reset"
            self.record(rec)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        raw = self.read_body()
        rec["wire"] = len(raw)
        # A client killed in the middle of its body: the request never
        # completed, so nothing in it was accepted (and no answer can go).
        want = self.headers.get("Content-Length")
        if want is not None and len(raw) < int(want):
            rec["status"] = "cut"
            self.record(rec)
            self.close_connection = True
            return
        rec["gzip"] = self.headers.get("Content-Encoding", "") == "gzip"
        try:
            body = gzip.decompress(raw) if rec["gzip"] else raw
            text = body.decode("utf-8")
        except Exception as e:
            rec["status"] = 400
            rec["error"] = str(e)
            self.record(rec)
            self.answer(400, "undecodable body: %s\n" % e)
            return
        rec["body"] = text
        ctype = self.headers.get("Content-Type", "")
        if "ndjson" in ctype:
            rec["format"] = "ndjson"
            msgs = [l for l in text.split("\n") if l != ""]
        elif text.lstrip().startswith("["):
            rec["format"] = "array"
            try:
                msgs = split_array(text.strip())
            except Exception as e:
                rec["status"] = 400
                rec["error"] = "bad array: %s" % e
                self.record(rec)
                self.answer(400, "bad JSON array\n")
                return
        else:
            rec["format"] = "single"
            msgs = [text]
        rec["count"] = len(msgs)
        if a.delay:
            time.sleep(a.delay)
        if fault.startswith("stall"):
            secs = float(fault.split(":")[1]) if ":" in fault else 30
            rec["status"] = "stall"
            self.record(rec)
            time.sleep(secs)
            self.close_connection = True
            return
        status, answer, extra = 200, "ok\n", {}
        if fault.startswith("429"):
            status, answer = 429, "slow down\n"
            extra["Retry-After"] = fault.split(":")[1] if ":" in fault else "1"
        elif fault == "short":
            pass
        elif fault != "ok":
            status, answer = int(fault), "fault %s\n" % fault
        elif a.auth is not None and self.headers.get("Authorization") != a.auth:
            status, answer = 401, "who are you?\n"
        elif a.max_size is not None and len(body) > a.max_size:
            status, answer = 413, "too large: %d bytes\n" % len(body)
        elif a.reject is not None and a.reject in text:
            status = a.reject_code
            answer = a.reject_answer or \
                "refused: a message holds %s\n" % a.reject
        rec["status"] = status
        if 200 <= status < 300 and st.out:
            with st.lock:
                st.out.write(b"".join(m.encode() + b"\n" for m in msgs))
        self.record(rec)
        if fault == "short":
            # Accepted, but the answer is cut short: it promises more
            # bytes than it sends, and the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"ok\n")
            self.wfile.flush()
            self.close_connection = True
            return
        self.answer(status, answer, extra)

    def record(self, rec):
        st = self.server.st
        if st.log:
            with st.lock:
                st.log.write(json.dumps(rec) + "\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client killed mid-request (the tests do that) is no news.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--out")
    ap.add_argument("--faults", default="")
    ap.add_argument("--reject")
    ap.add_argument("--reject-code", type=int, default=400)
    ap.add_argument("--reject-answer")
    ap.add_argument("--max-size", type=int)
    ap.add_argument("--auth")
    ap.add_argument("--auth-file")
    ap.add_argument("--delay", type=float, default=0)
    a = ap.parse_args()
    if a.reject_answer is not None:
        a.reject_answer = a.reject_answer.encode().decode("unicode_escape")
    if a.auth_file:
        with open(a.auth_file) as f:
            a.auth = f.readline().rstrip("\r\n")
    srv = Server(("127.0.0.1", 0), Handler)
    srv.st = State(a)
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
