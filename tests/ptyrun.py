#!/usr/bin/env python3
"""Run a command with some of its standard descriptors on a terminal.

ptyrun.py [options] -- COMMAND [ARG...]

  --stdin  pty|null|FILE     (default pty)
  --stdout pty|pipe|FILE     (default pty; pipe: read here, kept in --pipe-out)
  --stderr pty|FILE          (default pty)
  --type TEXT                typed on the terminal at the start (\\n ends lines)
  --wait-for TEXT            before Ctrl-C: wait until TEXT shows in FILE
  --wait-file FILE           (the file --wait-for looks in; default: the
                             terminal's output)
  --intr N                   press Ctrl-C N times (0.3 s apart), after
                             --wait-for, or after --delay
  --delay SECS               without --wait-for: wait this long (0.5)
  --term-out FILE            everything written to the terminal
  --pipe-out FILE            everything written to the stdout pipe
  --timeout SECS             kill the command after this long (default 20)

The command is a session leader with the terminal as its controlling
terminal, so Ctrl-C (a ^C byte typed) reaches it as SIGINT from the line
discipline, as at a keyboard.  Prints "status N seconds S" on stdout: the
exit status (128+signal when killed) and the time from the first Ctrl-C
(or from the start, without --intr) to the exit.
"""
import argparse
import fcntl
import os
import select
import signal
import sys
import termios
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdin", default="pty")
    ap.add_argument("--stdout", default="pty")
    ap.add_argument("--stderr", default="pty")
    ap.add_argument("--type", default="")
    ap.add_argument("--wait-for", default=None)
    ap.add_argument("--wait-file", default=None)
    ap.add_argument("--intr", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--term-out", default=None)
    ap.add_argument("--pipe-out", default=None)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

    master, slave = os.openpty()
    rpipe = wpipe = -1
    if a.stdout == "pipe":
        rpipe, wpipe = os.pipe()

    def target(spec, mode):
        if spec == "pty":
            return slave
        if spec == "null":
            return os.open(os.devnull, mode)
        if spec == "pipe":
            return wpipe
        return os.open(spec, mode | os.O_CREAT, 0o644)

    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        fds = [target(a.stdin, os.O_RDONLY),
               target(a.stdout, os.O_WRONLY | os.O_TRUNC),
               target(a.stderr, os.O_WRONLY | os.O_TRUNC)]
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
        os.closerange(3, 1024)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvp(cmd[0], cmd)
    os.close(slave)
    if wpipe != -1:
        os.close(wpipe)

    term, piped = bytearray(), bytearray()
    if a.type:
        os.write(master, a.type.encode().decode("unicode_escape").encode())
    start = time.monotonic()
    t0 = start
    intr_left = a.intr
    next_intr = None if a.wait_for else start + a.delay
    status = None
    while status is None:
        now = time.monotonic()
        if now - start > a.timeout:
            os.kill(pid, signal.SIGKILL)
        if next_intr is None and a.wait_for:
            if a.wait_file:
                try:
                    with open(a.wait_file, "rb") as f:
                        seen = a.wait_for.encode() in f.read()
                except OSError:
                    seen = False
            else:
                seen = a.wait_for.encode() in term
            if seen:
                next_intr = now
        if intr_left > 0 and next_intr is not None and now >= next_intr:
            if intr_left == a.intr:
                t0 = now
            os.write(master, b"\x03")
            intr_left -= 1
            next_intr = now + 0.3
        fds = [master] + ([rpipe] if rpipe != -1 else [])
        r, _, _ = select.select(fds, [], [], 0.02)
        for fd in r:
            try:
                b = os.read(fd, 65536)
            except OSError:
                b = b""
            if fd == master:
                term += b
            elif b:
                piped += b
            else:
                os.close(rpipe)
                rpipe = -1
        p, st = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            status = st
    end = time.monotonic()
    # What the command wrote just before it ended.
    while True:
        r, _, _ = select.select([master], [], [], 0.05)
        if not r:
            break
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        term += b
    if a.term_out:
        with open(a.term_out, "wb") as f:
            f.write(term)
    if a.pipe_out:
        with open(a.pipe_out, "wb") as f:
            f.write(piped)
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
    else:
        code = 128 + os.WTERMSIG(status)
    print("status %d seconds %.2f" % (code, end - t0))


main()
