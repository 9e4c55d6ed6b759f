#!/usr/bin/env python3
"""A TLS MQTT peer that refuses, for flespi-recv --mqtt's refusal tests.

mqtt-refuser.py --cert PEM --key KEY --port-file FILE --log FILE MODE CODE

MODE connack: answer every CONNECT with CONNACK reason CODE.
MODE suback:  accept the connection, answer the SUBSCRIBE with CODE.
MODE disconnect: grant the subscription (QoS 1), then send an MQTT 5
              DISCONNECT with reason CODE.
MODE v311only: RabbitMQ 3.10's way with MQTT 5: close the connection at an
              MQTT 5 CONNECT without answering; accept MQTT 3.1.1 and
              grant its subscription (QoS 1).  CODE is not used.
MODE puback:  accept the connection and answer every QoS 1 PUBLISH with
              a PUBACK: reason CODE (MQTT 5) for a payload holding
              "refuse":true, none ever for one holding "stall":true, 0
              for the others.  --receive-maximum N puts
              that property in the CONNACK (MQTT 5); --hold-ms MS holds
              the PUBACKs until the client has sent nothing for MS and
              logs "inflight N", the publishes held each time.
Listens on 127.0.0.1, port 0 (written to --port-file); appends one line
per connection to --log: "connect LEVEL USERNAME" (LEVEL 4 = MQTT 3.1.1,
5 = MQTT 5).  MQTT 5 packets carry an empty property list.
"""
import argparse
import socket
import ssl
import threading


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def read_packet(s):
    hdr = read_exact(s, 1)[0]
    mult, length = 1, 0
    while True:
        d = read_exact(s, 1)[0]
        length += (d & 127) * mult
        mult *= 128
        if d < 128:
            break
    return hdr, read_exact(s, length)


def varint(buf, pos):
    """An MQTT variable byte integer at buf[pos]: (value, next pos)."""
    n, mult = 0, 1
    while True:
        d = buf[pos]
        pos += 1
        n += (d & 127) * mult
        mult *= 128
        if d < 128:
            return n, pos


def pubacks(conn, level, held):
    """A PUBACK for each (packet id, reason code) held, in order."""
    for pid, rc in held:
        if level == 5:
            conn.sendall(bytes([0x40, 4]) + pid + bytes([rc, 0]))
        else:
            conn.sendall(bytes([0x40, 2]) + pid)


def serve(conn, a, lock):
    try:
        hdr, body = read_packet(conn)
        if hdr >> 4 != 1:
            return
        level = body[6]
        flags = body[7]
        pos = 10
        if level == 5:
            plen, pos = varint(body, pos)
            pos += plen
        idlen = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2 + idlen
        user = ""
        if flags & 0x80:
            ulen = int.from_bytes(body[pos:pos + 2], "big")
            user = body[pos + 2:pos + 2 + ulen].decode()
        with lock:
            with open(a.log, "a") as f:
                f.write("connect %d %s\n" % (level, user))
        if a.mode == "v311only" and level == 5:
            return
        code = a.code if a.mode == "connack" else 0
        if level == 5 and a.receive_maximum and not code:
            rm = a.receive_maximum
            conn.sendall(bytes([0x20, 6, 0, 0, 3, 0x21, rm >> 8, rm & 255]))
        elif level == 5:
            conn.sendall(bytes([0x20, 3, 0, code, 0]))
        else:
            conn.sendall(bytes([0x20, 2, 0, code]))
        if code:
            conn.close()
            return
        held = []
        while True:
            if a.mode == "puback" and held and a.hold_ms:
                conn.settimeout(a.hold_ms / 1000.0)
            try:
                hdr, body = read_packet(conn)
            except socket.timeout:
                hdr, body = None, None
            conn.settimeout(None)
            if hdr is None:
                if held:
                    with lock:
                        with open(a.log, "a") as f:
                            f.write("inflight %d\n" % len(held))
                pubacks(conn, level, held)
                held = []
                continue
            if hdr >> 4 == 3 and a.mode == "puback":   # PUBLISH
                qos = (hdr >> 1) & 3
                tlen = int.from_bytes(body[0:2], "big")
                pos = 2 + tlen
                if qos:
                    pid = body[pos:pos + 2]
                    pos += 2
                if level == 5:
                    plen, pos = varint(body, pos)
                    pos += plen
                if qos and b'"stall":true' not in body[pos:]:
                    refuse = b'"refuse":true' in body[pos:]
                    held.append((pid, a.code if refuse else 0))
                if not a.hold_ms:
                    pubacks(conn, level, held)
                    held = []
            elif hdr >> 4 == 8 and a.mode == "disconnect":
                pid = body[0:2]
                conn.sendall(bytes([0x90, 4]) + pid + bytes([0, 1]))
                conn.sendall(bytes([0xE0, 2, a.code, 0]))
            elif hdr >> 4 == 8:                     # SUBSCRIBE
                pid = body[0:2]
                granted = 1 if a.mode == "v311only" else a.code
                if level == 5:
                    conn.sendall(bytes([0x90, 4]) + pid + bytes([0, granted]))
                else:
                    conn.sendall(bytes([0x90, 3]) + pid + bytes([granted]))
            elif hdr >> 4 == 12:                    # PINGREQ
                conn.sendall(bytes([0xD0, 0]))
            elif hdr >> 4 == 14:                    # DISCONNECT
                break
    except (EOFError, OSError, IndexError):
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--receive-maximum", type=int, default=0)
    ap.add_argument("--hold-ms", type=int, default=0)
    ap.add_argument("mode", choices=["connack", "suback", "disconnect",
                                     "puback", "v311only"])
    ap.add_argument("code", type=int)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    open(a.log, "a").close()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    lock = threading.Lock()
    while True:
        raw, _ = ls.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn, a, lock),
                         daemon=True).start()


if __name__ == "__main__":
    main()
