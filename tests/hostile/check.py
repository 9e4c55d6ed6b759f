#!/usr/bin/env python3
"""Check a forwarder's run over hostile input (see gen.py); TAP lines out.

check.py PROG DIR EXPECT STDERR DELIVERED [LABEL]

EXPECT names DIR/EXPECT.bad and DIR/EXPECT.good; DELIVERED holds the seq
of every delivered message, one a line.  Checks: every bad line reported
on STDERR as "PROG: <stdin>:N: ..." and no other line number reported;
every good seq delivered exactly once and nothing else delivered; lines
in (non-empty) = delivered + rejected.  Exit 1 when anything failed.
"""
import re
import sys


def main():
    prog, d, exp, errf, delf = sys.argv[1:6]
    label = sys.argv[6] if len(sys.argv) > 6 else prog
    bad = [int(x) for x in open("%s/%s.bad" % (d, exp))]
    good = [int(x) for x in open("%s/%s.good" % (d, exp))]
    nlines = int(open(d + "/lines.count").read()) if exp in (
        "wialon", "aws") else len(bad) + len(good)
    pat = re.compile(r"^%s: <stdin>:(\d+): " % re.escape(prog))
    reported = []
    for l in open(errf, errors="replace"):
        m = pat.match(l)
        if m:
            reported.append(int(m.group(1)))
    delivered = [int(x) for x in open(delf) if x.strip()]
    failed = 0

    def tap(ok, desc, *detail):
        nonlocal failed
        print("%s - %s: %s" % ("ok" if ok else "not ok", label, desc))
        if not ok:
            failed += 1
            for x in detail:
                print("#   %s" % x)

    tap(sorted(reported) == sorted(bad),
        "each of the %d bad lines reported once with its line number"
        % len(bad),
        "missing: %s" % sorted(set(bad) - set(reported)),
        "unexpected: %s" % sorted(set(reported) - set(bad)),
        "repeated: %s" % sorted(n for n in set(reported)
                                if reported.count(n) > 1))
    tap(sorted(delivered) == sorted(good),
        "each of the %d good lines delivered exactly once" % len(good),
        "missing: %s" % sorted(set(good) - set(delivered)),
        "unexpected or repeated: %s" % sorted(
            n for n in set(delivered)
            if n not in good or delivered.count(n) > 1))
    tap(nlines == len(delivered) + len(reported),
        "lines in %d = delivered %d + rejected %d"
        % (nlines, len(delivered), len(reported)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
