#!/usr/bin/env python3
"""A local stand-in for flespi's channel message buffer, for tests and demos.

flespi_standin.py --port-file FILE [options]

Serves GET /gw/channels/SELECTOR/messages?data=JSON like flespi: messages
with keys 1..N (N grows as messages are appended), curr_key (0 = the oldest
kept message), limit_count, limit_size, long polling (timeout), delete (of
what is before curr_key), and the answer {"result":[...],"next_key":K}.
Messages are served as the exact bytes they were given (one NDJSON line
each), joined without re-serialising, so numbers come back unchanged.

Options:
  --port-file FILE    write the listening port here (127.0.0.1, port 0)
  --messages FILE     initial messages, NDJSON (keys 1..N in file order)
  --token TOKEN       the accepted token (default test-token); else 401
  --channels LIST     known channel ids (default 1); others answer 404
  --forbidden LIST    channel ids that answer 403
  --faults LIST       what the first requests get, in order, e.g.
                      "ok,500,429,429:2,stall:3,truncate,cut,garbage,close,huge,stuck"
                      (429:2 carries Retry-After: 2; huge pads a valid
                      answer with 2 MiB of spaces; stuck answers with
                      next_key = curr_key);
                      hostile shapes: rewind (empty, next_key 0), extra
                      (one message more than limit_count), nokey (no
                      next_key), fractional (next_key 1.5), nonobj
                      (result [1,"x",null,[1],true]), notes (a normal
                      answer with "errors" and "warnings" members holding
                      control characters), evil (a 400 whose reason holds
                      escape sequences and a forged line); NAME*N repeats
                      a fault N times;
                      after the list every request is answered normally
  --delay SECS        wait this long before every answer (slow server)
  --max-count N       a request with limit_count above N is answered 400
                      ("limit_count: value is too large"), as a server
                      with a maximum might
  --prebuild N        build the answers for batches of N from key 1 at
                      start (benchmarks: serve precomputed bytes)
  --pretty            answers indented and spread over lines (still the
                      same bytes for every number and string)
  --tls CERT:KEY      serve HTTPS with this certificate and key
  --log FILE          one JSON line per request: curr_key, limit_count,
                      limit_size, timeout, delete, status, count, next_key,
                      fault, app and cid (the x-flespi-app and
                      x-flespi-cid headers); with delete also
                      deleted_before, the oldest key kept after it

Control endpoints (no token needed), for tests:
  POST /control/append   body: NDJSON lines, appended (wakes long polls)
  POST /control/faults   body: a fault list as for --faults, replacing
                         what is left of the current one
  GET  /control/state    {"first":K,"last":K,"requests":N,"waiting":N}
                         (waiting: long polls waiting for messages now)
"""
import argparse
import json
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Store:
    def __init__(self, msgs):
        self.msgs = msgs            # key k is msgs[k - 1]
        self.first = 1              # keys below were deleted
        self.cond = threading.Condition()
        self.faults = []
        self.requests = 0
        self.waiting = 0            # long polls waiting for messages
        self.cache = {}             # (first index, count) -> joined bytes

    def batch(self, key, count, size):
        """Messages from key on: (first key, list slice bounds)."""
        if key == 0 or key < self.first:
            key = self.first
        i = key - 1
        j = i
        total = 0
        while j < len(self.msgs) and j - i < count:
            n = len(self.msgs[j]) + 1
            if j > i and total + n > size:
                break
            total += n
            j += 1
        return key, i, j


def spread(raw):
    """Pretty-print one message without touching its values."""
    out = []
    instr = esc = False
    for ch in raw.decode("utf-8"):
        if instr:
            out.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                instr = False
        elif ch == '"':
            instr = True
            out.append(ch)
        elif ch == "{":
            out.append("{\n      ")
        elif ch == "}":
            out.append("\n    }")
        elif ch == ",":
            out.append(",\n      ")
        elif ch == ":":
            out.append(" : ")
        else:
            out.append(ch)
    return "".join(out).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flespi-standin"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle and
        # delayed ACKs add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="application/json", length=None,
              headers=()):
        self.send_response(status)
        for h, v in headers:
            self.send_header(h, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length",
                         str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, reason, headers=()):
        body = json.dumps({"errors": [{"code": status, "reason": reason}]})
        self.reply(status, body.encode(), headers=headers)

    def do_POST(self):
        st = self.server.store
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.path == "/control/append":
            lines = [l.rstrip(b"\r") for l in data.split(b"\n")]
            with st.cond:
                st.msgs.extend(l for l in lines if l)
                st.cond.notify_all()
                last = len(st.msgs)
            self.reply(200, json.dumps({"last": last}).encode())
        elif self.path == "/control/faults":
            with st.cond:
                st.faults = parse_faults(data.decode())
            self.reply(200, b"{}")
        else:
            self.error(404, "no such control endpoint")

    def do_GET(self):
        st = self.server.store
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/control/state":
            with st.cond:
                s = {"first": st.first, "last": len(st.msgs),
                     "requests": st.requests, "waiting": st.waiting}
            self.reply(200, json.dumps(s).encode())
            return
        parts = u.path.split("/")
        if (len(parts) != 5 or parts[1] != "gw" or parts[2] != "channels"
                or parts[4] != "messages"):
            self.error(404, "no such endpoint")
            return
        sel = urllib.parse.unquote(parts[3])
        try:
            q = json.loads(urllib.parse.parse_qs(u.query)["data"][0])
        except (KeyError, ValueError):
            q = {}
        rec = {"channel": sel, "curr_key": q.get("curr_key", 0),
               "limit_count": q.get("limit_count"),
               "limit_size": q.get("limit_size"),
               "timeout": q.get("timeout", 0),
               "delete": bool(q.get("delete", False)),
               "app": self.headers.get("x-flespi-app"),
               "cid": self.headers.get("x-flespi-cid")}
        with st.cond:
            st.requests += 1
            rec["n"] = st.requests
            fault = st.faults.pop(0) if st.faults else "ok"
        rec["fault"] = fault
        try:
            self.answer(st, sel, q, rec, fault)
        finally:
            self.server.log(rec)

    def answer(self, st, sel, q, rec, fault):
        opts = self.server.opts
        if opts.delay:
            time.sleep(opts.delay)
        if fault in ("500", "429", "503"):
            rec["status"] = int(fault)
            self.error(int(fault), "injected fault")
            return
        if fault.startswith("429:"):
            rec["status"] = 429
            self.error(429, "injected fault", [("Retry-After", fault[4:])])
            return
        if fault.startswith("stall:"):
            time.sleep(float(fault[6:]))
            rec["status"] = 0
            self.close_connection = True
            return
        if fault == "close":
            rec["status"] = 0
            self.close_connection = True
            return
        if fault == "evil":
            rec["status"] = 400
            self.error(400, "bad\x1b[2J\x07\nflespi-recv: forged line")
            return
        if fault in ("rewind", "nokey", "fractional"):
            rec["status"] = 200
            body = {"rewind": b'{"result":[],"next_key":0}',
                    "nokey": b'{"result":[]}',
                    "fractional": b'{"result":[],"next_key":1.5}'}[fault]
            self.reply(200, body)
            return
        if fault == "nonobj":
            rec["status"] = 200
            k = int(q.get("curr_key", 0))
            self.reply(200, b'{"result":[1,"x",null,[1],true],'
                       b'"next_key":%d}' % (k + 5))
            return
        if fault == "garbage":
            rec["status"] = 200
            self.reply(200, b"<html><body>502 Bad Gateway</body></html>",
                       "text/html")
            return
        if self.headers.get("Authorization") != "FlespiToken " + opts.token:
            rec["status"] = 401
            self.error(401, "invalid token")
            return
        for ch in sel.split(","):
            if ch in opts.forbidden:
                rec["status"] = 403
                self.error(403, "access to channel %s forbidden" % ch)
                return
            if ch not in opts.channels:
                rec["status"] = 404
                self.error(404, "channel %s not found" % ch)
                return
        key = int(q.get("curr_key", 0))
        count = int(q.get("limit_count", 1000))
        if opts.max_count and count > opts.max_count:
            rec["status"] = 400
            self.error(400, "limit_count: value is too large (max %d)"
                       % opts.max_count)
            return
        size = int(q.get("limit_size", 8 << 20))
        timeout = float(q.get("timeout", 0))
        if fault == "extra":
            count += 1
        deadline = time.monotonic() + timeout
        with st.cond:
            if q.get("delete") and key > st.first:
                st.first = min(key, len(st.msgs) + 1)
            if q.get("delete"):
                # What is deleted now: every key before this one.
                rec["deleted_before"] = st.first
            while True:
                k, i, j = st.batch(key, count, size)
                left = deadline - time.monotonic()
                if j > i or left <= 0:
                    break
                st.waiting += 1
                st.cond.wait(left)
                st.waiting -= 1
            msgs = st.msgs
        ck = (i, j)
        body = st.cache.get(ck) if not opts.pretty else None
        if body is None:
            if opts.pretty:
                body = (b'{\n  "next_key" : %d,\n  "result" : [\n    '
                        % (k + j - i) +
                        b",\n    ".join(spread(m) for m in msgs[i:j]) +
                        b'\n  ]\n}\n')
            else:
                body = (b'{"result":[' + b",".join(msgs[i:j]) +
                        b'],"next_key":%d}' % (k + j - i))
                if len(st.cache) > 1000 and not opts.prebuild:
                    st.cache.clear()
                st.cache[ck] = body
        rec.update(status=200, count=j - i, next_key=k + j - i)
        if fault == "truncate":
            body = body[:len(body) // 2]
        if fault == "stuck":
            # Messages, but a next_key that does not move on.
            body = body[:body.rindex(b":") + 1] + b"%d}" % key
        if fault == "notes":
            body = (body[:-1] + b',"errors":[{"code":7,"reason":'
                    b'"id 9 not found\\u001b[31m"}],"warnings":['
                    b'"deprecated\\nflespi-recv: forged",'
                    b'{"code":1,"reason":"old API"}]}')
        if fault == "huge":
            # Valid, but padded past any sane limit (2 MiB of spaces).
            body = body[:-1] + b" " * (2 << 20) + body[-1:]
        if fault == "cut":
            # Promise the whole body, send half, hang up.
            self.reply(200, body[:len(body) // 2], length=len(body))
            self.close_connection = True
            return
        self.reply(200, body)


def parse_faults(s):
    out = []
    for f in s.replace("\n", ",").split(","):
        f = f.strip()
        if "*" in f:
            f, n = f.split("*")
            out.extend([f] * int(n))
        elif f:
            out.append(f)
    return out


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, opts, store):
        super().__init__(("127.0.0.1", 0), Handler)
        self.opts = opts
        self.store = store
        self.loglock = threading.Lock()
        self.logf = open(opts.log, "a") if opts.log else None

    def log(self, rec):
        if self.logf:
            with self.loglock:
                self.logf.write(json.dumps(rec) + "\n")
                self.logf.flush()

    def handle_error(self, request, client_address):
        # A client that hung up on a stall or a cut is expected.
        if not isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--messages")
    ap.add_argument("--token", default="test-token")
    ap.add_argument("--channels", default="1")
    ap.add_argument("--forbidden", default="")
    ap.add_argument("--faults", default="")
    ap.add_argument("--pretty", action="store_true")
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--max-count", type=int, default=0)
    ap.add_argument("--prebuild", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--tls")
    o = ap.parse_args()
    o.channels = set(o.channels.split(",")) | set(o.forbidden.split(","))
    o.forbidden = set(x for x in o.forbidden.split(",") if x)
    msgs = []
    if o.messages:
        with open(o.messages, "rb") as f:
            msgs = [l.rstrip(b"\r\n") for l in f if l.strip()]
    store = Store(msgs)
    store.faults = parse_faults(o.faults)
    for i in range(0, len(msgs), o.prebuild) if o.prebuild > 0 else ():
        j = min(i + o.prebuild, len(msgs))
        store.cache[(i, j)] = (b'{"result":[' + b",".join(msgs[i:j]) +
                               b'],"next_key":%d}' % (j + 1))
    srv = Server(o, store)
    if o.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*o.tls.split(":"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = o.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(tmp, o.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
