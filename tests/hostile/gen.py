#!/usr/bin/env python3
"""Hostile NDJSON input for the forwarders, with what each tool must do.

gen.py OUTDIR [--big MB]

Writes into OUTDIR:
  input.ndjson   good flespi messages (each with a unique "seq") mixed with
                 hostile lines: invalid UTF-8, NUL bytes, binary garbage,
                 deeply nested JSON, 1e400, NaN/Infinity as text, lone
                 surrogates, missing or wrong ident/timestamp, CRLF endings,
                 empty lines, a small oversize line (> 8192 bytes: run the
                 tools with --max-line 8192), and no final newline.
  recv.ndjson    only the messages that are valid JSON however odd (-0,
                 2^63, 2^64, duplicate keys, escapes, 100 levels of
                 nesting): what flespi-recv must pass through byte for byte.
  recvbad.ndjson messages a flespi answer must never carry (one a line):
                 an answer holding any of them must be refused and retried.
  For TOOL in wialon, aws:
    TOOL.bad     the line numbers (1-based, physical lines) TOOL must reject
    TOOL.good    the seq of every line TOOL must deliver
  lines.count    non-empty lines in input.ndjson (= good + bad for each tool)
With --big MB: big.ndjson, a good line, a MB-megabyte line, a good line
(its expectations in big.bad / big.good; for --max-line below MB).

A line is good for a tool when it is a JSON object with a usable ident and
timestamp; the Wialon encoder also needs a printable-ASCII ident and a
timestamp that fits 32 bits; flespi-to-aws with --topic 'h/{ident}' needs
an ident that makes a valid topic (no '+', '#', empty level).
"""
import os
import random
import sys

MAXLINE = 8192


def msg(seq, ident="h1", extra=b""):
    return (b'{"ident":"%s","timestamp":1700000000.5,"seq":%d%s}'
            % (ident.encode(), seq, extra))


def main():
    out = sys.argv[1]
    big = 0
    if len(sys.argv) > 3 and sys.argv[2] == "--big":
        big = int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(5)
    lines = []          # (bytes, ending, kind) kind: good/bad/wbad/abad/empty
    seq = [0]

    def good(extra=b"", ident="h1", ending=b"\n", kind="good"):
        seq[0] += 1
        lines.append((msg(seq[0], ident, extra), ending, kind, seq[0]))

    def bad(b, ending=b"\n", kind="bad"):
        lines.append((b, ending, kind, None))

    def empty(b=b""):
        lines.append((b, b"\n", "empty", None))

    good()
    bad(b'{"ident":"h1","timestamp":1,"s":"\xff\xfe bad utf-8"}')
    good(b',"neg0":-0,"negr":-0.0')
    bad(b'{"ident":"h1","timestamp":1,"x":1\x00}')        # NUL after a number
    bad(b'{"ident":"h1",\x00"timestamp":1}')
    good(b',"i63":9223372036854775808,"i64":18446744073709551616,'
         b'"m63":-9223372036854775808')
    bad(b'{"ident":"h1","timestamp":1,"x":1e400}')
    good(b',"dup":1,"dup":2,"seq2":"x"', ending=b"\r\n")
    bad(b'{"ident":"h1","timestamp":1,"x":NaN}')
    bad(b'{"ident":"h1","timestamp":1,"x":Infinity}')
    good(b',"nan":"NaN","inf":"-Infinity"')
    empty()
    bad(b'{"ident":"h1","timestamp":1,"deep":' + b"[" * 3000 + b"]" * 3000
        + b"}")
    good(b',"deep":' + b"[" * 100 + b"1" + b"]" * 100)
    bad(bytes(rnd.randrange(256) for _ in range(300)).replace(b"\n", b"x"))
    empty(b"\r")
    bad(b'{"ident":"h1","timestamp":1,"s":"\\ud800"}')   # lone surrogate
    good(b',"u":"\\u00e9\\u4e2d\\ud83d\\ude00","esc":"a\\"b\\\\c\\/d\\n"')
    bad(b'{"ident":"h1","timestamp":1')                   # truncated
    bad(b'[1,2,3]')
    bad(b'"just a string"')
    bad(b'12345')
    bad(b'{"timestamp":1,"seq":0}')                       # no ident
    bad(b'{"ident":"h1","seq":0}')                        # no timestamp
    bad(b'{"ident":"h1","timestamp":"1700000000"}')
    bad(b'{"ident":"h1","timestamp":-1}')
    bad(b'{"ident":"","timestamp":1}')
    bad(b'{"ident":null,"timestamp":1}')
    bad(b'{"ident":"a\\u0000b","timestamp":1}')
    bad(b'   ')
    bad(b'{"ident":"h1","timestamp":1,"s":"' + b"x" * (MAXLINE + 100)
        + b'"}')                                          # oversize
    good(b',"big":"' + b"y" * (MAXLINE - 200) + b'"')     # just under
    # Good for one tool, not the other.
    good(ident="\\u00e9t\\u00e9", kind="wbad")            # not ASCII
    good(ident="a+b", kind="abad")                         # MQTT wildcard
    good(ident="x/", kind="abad")                          # empty level
    lines.append((b'{"ident":"h1","timestamp":99999999999,"seq":%d}'
                  % (seq[0] + 1), b"\n", "wbad", seq[0] + 1))
    seq[0] += 1
    good(ending=b"")                                       # no final newline

    with open(os.path.join(out, "input.ndjson"), "wb") as f:
        for b, e, _, _ in lines:
            f.write(b + e)
    exp = {"wialon": ([], []), "aws": ([], [])}
    nonempty = 0
    for n, (b, e, kind, s) in enumerate(lines, 1):
        if kind == "empty":
            continue
        nonempty += 1
        for tool, (badl, goodl) in exp.items():
            if (kind == "bad" or (kind == "wbad" and tool == "wialon") or
                    (kind == "abad" and tool == "aws")):
                badl.append(n)
            else:
                goodl.append(s)
    for tool, (badl, goodl) in exp.items():
        with open(os.path.join(out, tool + ".bad"), "w") as f:
            f.write("".join("%d\n" % n for n in badl))
        with open(os.path.join(out, tool + ".good"), "w") as f:
            f.write("".join("%d\n" % s for s in goodl))
    with open(os.path.join(out, "lines.count"), "w") as f:
        f.write("%d\n" % nonempty)

    # flespi-recv: odd but valid messages pass through exactly; these
    # carry no whitespace outside strings, so "exactly" means byte for byte.
    with open(os.path.join(out, "recv.ndjson"), "wb") as f:
        for b, e, kind, s in lines:
            if kind in ("good", "wbad", "abad") and len(b) < MAXLINE:
                f.write(b + b"\n")
    with open(os.path.join(out, "recvbad.ndjson"), "wb") as f:
        for b in (lines[1][0], lines[3][0], lines[6][0], lines[8][0],
                  lines[12][0], lines[16][0], lines[18][0]):
            f.write(b + b"\n")

    if big:
        with open(os.path.join(out, "big.ndjson"), "wb") as f:
            f.write(msg(1) + b"\n")
            f.write(b'{"ident":"h1","timestamp":1,"s":"')
            chunk = b"z" * (1 << 20)
            for _ in range(big):
                f.write(chunk)
            f.write(b'"}\n')
            f.write(msg(2) + b"\n")
        with open(os.path.join(out, "big.bad"), "w") as f:
            f.write("2\n")
        with open(os.path.join(out, "big.good"), "w") as f:
            f.write("1\n2\n")


if __name__ == "__main__":
    main()
