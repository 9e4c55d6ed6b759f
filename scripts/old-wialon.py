#!/usr/bin/env python3
"""old-wialon.py HOST PORT: what the 2017 Python module's Wialon handler
did, for scripts/bench-wan: one Retranslator 1.0 packet per NDJSON line on
stdin (uid from ident, time from timestamp, posinfo from position.*, every
other scalar as a parameter), written to one TCP connection; it never
reads the 0x11 acknowledgements (it only reads to the end of stream
after its last packet, see below).  Its integer bug (every int sent as a
32-bit int) is fixed: ints outside int32 go as long."""
import json
import socket
import struct
import sys

def block(name, typ, value):
    rest = b"\x00" + bytes([typ]) + name.encode() + b"\x00" + value
    return b"\x0b\xbb" + struct.pack(">I", len(rest)) + rest

def packet(m):
    flags, blocks = 0, []
    lat, lon = m.get("position.latitude"), m.get("position.longitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        flags |= 1
        v = struct.pack("<ddd", lon, lat, float(m.get("position.altitude", 0)))
        v += struct.pack(">HHB", int(m.get("position.speed", 0)),
                         int(m.get("position.direction", 0)) % 360,
                         int(m.get("position.satellites", 0)))
        rest = b"\x01\x02posinfo\x00" + v
        blocks.append(b"\x0b\xbb" + struct.pack(">I", len(rest)) + rest)
    for k, v in m.items():
        if k in ("ident", "timestamp") or k.startswith("position."):
            continue
        if isinstance(v, bool):
            blocks.append(block(k, 3, struct.pack(">i", int(v))))
        elif isinstance(v, int):
            if -2**31 <= v < 2**31:
                blocks.append(block(k, 3, struct.pack(">i", v)))
            elif -2**63 <= v < 2**63:
                blocks.append(block(k, 5, struct.pack(">q", v)))
        elif isinstance(v, float):
            blocks.append(block(k, 4, struct.pack("<d", v)))
        elif isinstance(v, str):
            blocks.append(block(k, 1, v.encode() + b"\x00"))
    body = (str(m["ident"]).encode() + b"\x00" +
            struct.pack(">iI", int(m["timestamp"]), flags) + b"".join(blocks))
    return struct.pack("<I", len(body)) + body

s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
for line in sys.stdin:
    s.sendall(packet(json.loads(line)))
s.shutdown(socket.SHUT_WR)
# Not the old module's: it closed at once, and the acks it never read made
# the kernel reset the connection, losing the packets still in flight.
# Read to the end so that the benchmark counts every packet.
while s.recv(65536):
    pass
s.close()
