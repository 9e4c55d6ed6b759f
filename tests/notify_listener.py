#!/usr/bin/env python3
"""A stand-in for systemd's notification socket (sd_notify(3)).

Binds a datagram socket at NAME (a path, or an abstract name when it
starts with '@'), creates READY_FILE once bound, and appends every
datagram it receives to OUT as one line (its newlines shown as '|'),
until SECS pass without a datagram.  It also checks what a sender
must not do: a datagram that holds no VAR=VALUE assignment is written
as "BAD <bytes>".
"""
import argparse
import re
import socket

ap = argparse.ArgumentParser()
ap.add_argument("name")
ap.add_argument("ready_file")
ap.add_argument("out")
ap.add_argument("--idle", type=float, default=60)
a = ap.parse_args()

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + a.name[1:] if a.name.startswith("@") else a.name)
s.settimeout(a.idle)
open(a.ready_file, "w").close()
assign = re.compile(r"^[A-Z_]+=[^\n]*$")
with open(a.out, "a") as out:
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        text = d.decode("utf-8", "replace")
        lines = text.split("\n")
        if all(assign.match(l) for l in lines):
            out.write("|".join(lines) + "\n")
        else:
            out.write("BAD %r\n" % d)
        out.flush()
