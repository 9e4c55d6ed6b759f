#!/usr/bin/env python3
"""A strict Wialon Retranslator 1.0 receiver for the tests.

wialon_receiver.py [--port P] [--port-file F] [--out F] [--drop-every N]
                   [--stall-after N] [--wrong-ack-after N] [--double-ack]
wialon_receiver.py --decode-hex < HEXLINES

Listens on 127.0.0.1 (port 0 unless --port; SO_REUSEADDR so a test can
kill it and start it again on the same port) and writes the port to
--port-file.  Every packet is decoded strictly per
shared/spec/wialon-retranslator.md; a correct one is recorded as one JSON
line in --out (uid, time, flags, posinfo, params as [name, type, value])
and acknowledged with 0x11.  A malformed one is logged on stderr ("bad
packet: why") and the connection closed without an ack.  Connections are
served concurrently, one thread each.

Faults, counted over all packets received (N >= 1):
  --drop-every N      record packet N, 2N, ... but close the connection
                      instead of acknowledging it (it and what followed it
                      unacknowledged)
  --stall-after N     after acknowledging packet N, stop reading and
                      acking that connection (once); later connections
                      are served normally
  --wrong-ack-after N send 0x00 instead of 0x11 for packet N (once), and
                      ignore the rest of that connection
  --double-ack        a broken peer: acknowledge every packet twice

--decode-hex decodes hex packets (one per line, as flespi-to-wialon --dump
prints them) from stdin and prints the records on stdout; exit 1 on the
first malformed one.
"""
import argparse
import json
import os
import re
import socket
import struct
import sys
import threading
import time

NAME_RE = re.compile(rb"[a-z0-9_]{1,37}\Z")
UID_RE = re.compile(rb"[\x20-\x7e]+\Z")
# The hidden blocks (attr 1) and the flag each one sets.
RESERVED = {b"posinfo": 0x01, b"avl_inputs": 0x02, b"avl_outputs": 0x04,
            b"avl_driver": 0x20}
MAXPKT = 16 << 20
S_TF = struct.Struct(">iI")
S_U32BE = struct.Struct(">I")
S_U32LE = struct.Struct("<I")
S_3D = struct.Struct("<ddd")
S_HHB = struct.Struct(">HHB")
S_I = struct.Struct(">i")
S_D = struct.Struct("<d")
S_Q = struct.Struct(">q")


class Bad(Exception):
    pass


def decode(body):
    """One packet body (after the size prefix) -> record dict, or Bad."""
    i = body.find(b"\0")
    if i < 0:
        raise Bad("uid not NUL-terminated")
    uid = body[:i]
    if not UID_RE.match(uid):
        raise Bad("uid %r empty or not printable ASCII" % uid)
    if len(body) < i + 9:
        raise Bad("packet ends inside time/flags")
    t, flags = S_TF.unpack_from(body, i + 1)
    p = i + 9
    end = len(body)
    params = []
    rec = {"uid": uid.decode(), "time": t, "flags": flags}
    names = set()
    have = 0
    while p < end:
        if end - p < 6:
            raise Bad("truncated block header at %d" % p)
        if body[p] != 0x0B or body[p + 1] != 0xBB:
            raise Bad("block marker %02X%02X at %d" % (body[p], body[p + 1], p))
        (sz,) = S_U32BE.unpack_from(body, p + 2)
        if sz > end - p - 6:
            raise Bad("block size %d past the packet end at %d" % (sz, p))
        if sz < 4:
            raise Bad("block size %d too small" % sz)
        attr = body[p + 6]
        typ = body[p + 7]
        j = body.find(b"\0", p + 8, p + 6 + sz)
        if j < 0:
            raise Bad("block name not NUL-terminated at %d" % p)
        name = body[p + 8:j]
        val = body[j + 1:p + 6 + sz]
        p += 6 + sz
        if not NAME_RE.match(name):
            raise Bad("name %r outside [a-z0-9_]{1,37}" % name)
        if name in names:
            raise Bad("duplicate name %r" % name)
        names.add(name)
        want_attr = 1 if name in RESERVED else 0
        if attr != want_attr:
            raise Bad("%s: attr %d, want %d" % (name.decode(), attr, want_attr))
        have |= RESERVED.get(name, 0)
        n = name.decode()
        if name == b"posinfo":
            if typ != 2 or len(val) != 29:
                raise Bad("posinfo: type %d, %d value bytes" % (typ, len(val)))
            if "posinfo" in rec or params:
                raise Bad("posinfo not the first block")
            lon, lat, alt = S_3D.unpack_from(val, 0)
            speed, course, sats = S_HHB.unpack_from(val, 24)
            rec["posinfo"] = [lon, lat, alt, speed, course, sats]
            continue
        if typ == 1:
            if not val or val[-1] != 0 or val.find(b"\0") != len(val) - 1:
                raise Bad("%s: text not ending at its only NUL" % n)
            try:
                v = val[:-1].decode("utf-8", "strict")
            except UnicodeDecodeError as e:
                raise Bad("%s: text not UTF-8: %s" % (n, e))
        elif typ == 3:
            if len(val) != 4:
                raise Bad("%s: int with %d bytes" % (n, len(val)))
            (v,) = S_I.unpack(val)
        elif typ == 4:
            if len(val) != 8:
                raise Bad("%s: double with %d bytes" % (n, len(val)))
            (v,) = S_D.unpack(val)
            if v != v or v in (float("inf"), float("-inf")):
                raise Bad("%s: double %r" % (n, v))
        elif typ == 5:
            if len(val) != 8:
                raise Bad("%s: long with %d bytes" % (n, len(val)))
            (v,) = S_Q.unpack(val)
        else:
            raise Bad("%s: type %d not allowed for a parameter" % (n, typ))
        if name in (b"avl_inputs", b"avl_outputs") and typ != 3:
            raise Bad("%s: type %d, want 3" % (n, typ))
        if name == b"avl_driver" and typ != 1:
            raise Bad("avl_driver: type %d, want 1" % typ)
        params.append([n, typ, v])
    if flags != have:
        raise Bad("flags 0x%X but the blocks present say 0x%X" % (flags, have))
    rec["params"] = params
    return rec


def log(msg):
    sys.stderr.write("wialon_receiver: %s\n" % msg)
    sys.stderr.flush()


class Server:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.count = 0
        self.stalled = False
        self.wronged = False
        self.out = open(a.out, "a") if a.out else None

    def record(self, recs):
        if self.out and recs:
            with self.lock:
                self.out.write("".join(json.dumps(r, ensure_ascii=False) +
                                       "\n" for r in recs))
                self.out.flush()

    def handle(self, conn, peer):
        a = self.a
        buf = bytearray()
        cid = "%s:%d" % peer[:2]
        log("connection from %s" % cid)
        try:
            while True:
                data = conn.recv(1 << 18)
                if not data:
                    log("%s closed" % cid)
                    return
                buf += data
                off = 0
                acks = bytearray()
                recs = []
                action = None
                while len(buf) - off >= 4:
                    (n,) = S_U32LE.unpack_from(buf, off)
                    if n > MAXPKT:
                        log("bad packet: size %d" % n)
                        action = "close"
                        break
                    if len(buf) - off - 4 < n:
                        break
                    body = bytes(buf[off + 4:off + 4 + n])
                    off += 4 + n
                    try:
                        rec = decode(body)
                    except Bad as e:
                        log("bad packet: %s" % e)
                        action = "close"
                        break
                    with self.lock:
                        self.count += 1
                        k = self.count
                        wrong = (a.wrong_ack_after and not self.wronged and
                                 k >= a.wrong_ack_after)
                        if wrong:
                            self.wronged = True
                        stall = (a.stall_after and not self.stalled and
                                 k >= a.stall_after)
                        if stall:
                            self.stalled = True
                    recs.append(rec)
                    if a.drop_every and k % a.drop_every == 0:
                        action = "close"
                        break
                    if wrong:
                        acks.append(0x00)
                        action = "wrong"
                        break
                    acks.append(0x11)
                    if a.double_ack:
                        acks.append(0x11)
                    if stall:
                        action = "stall"
                        break
                del buf[:off]
                self.record(recs)
                if acks:
                    conn.sendall(acks)
                if action == "close":
                    log("%s: closing after %d packets" % (cid, self.count))
                    return
                if action == "stall":
                    log("%s: stalling after %d packets" % (cid, self.count))
                    while True:
                        time.sleep(3600)
                if action == "wrong":
                    # Nothing more on this connection counts: the sender
                    # must drop it and send again.  (Framing on after the
                    # rest of this read was cleared recorded packets of a
                    # dead connection beside the new one's, out of order.)
                    log("%s: sent a wrong ack for packet %d" % (cid, self.count))
                    while conn.recv(65536):
                        pass
                    return
        except OSError as e:
            log("%s: %s" % (cid, e))
        finally:
            conn.close()

    def serve(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.a.port))
        s.listen(16)
        if self.a.port_file:
            tmp = self.a.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % s.getsockname()[1])
            os.rename(tmp, self.a.port_file)
        while True:
            conn, peer = s.accept()
            threading.Thread(target=self.handle, args=(conn, peer),
                             daemon=True).start()


def decode_hex():
    for lineno, line in enumerate(sys.stdin, 1):
        line = line.strip()
        if not line:
            continue
        try:
            pkt = bytes.fromhex(line)
        except ValueError:
            log("line %d: not hex" % lineno)
            return 1
        try:
            if len(pkt) < 4:
                raise Bad("no size prefix")
            (n,) = S_U32LE.unpack_from(pkt, 0)
            if n != len(pkt) - 4:
                raise Bad("size prefix %d, body %d bytes" % (n, len(pkt) - 4))
            rec = decode(pkt[4:])
        except Bad as e:
            log("line %d: bad packet: %s" % (lineno, e))
            return 1
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--out")
    ap.add_argument("--drop-every", type=int, default=0)
    ap.add_argument("--stall-after", type=int, default=0)
    ap.add_argument("--wrong-ack-after", type=int, default=0)
    ap.add_argument("--double-ack", action="store_true")
    ap.add_argument("--decode-hex", action="store_true")
    a = ap.parse_args()
    if a.decode_hex:
        return decode_hex()
    Server(a).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
