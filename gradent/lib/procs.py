"""Process helpers for `manage.py up`: children that die with their parent, and who holds
a TCP port. Linux answers both through prctl and /proc; elsewhere they do nothing."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1
TCP_LISTEN = "0A"


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn that has the kernel send `signum` to the child when the thread that
    started it ends (PR_SET_PDEATHSIG): a `kill -9` of the parent leaves no orphan behind.

    Call it, and start the child, from a thread that lives as long as the parent (its main
    thread). The function is resolved before the fork: the child only makes the call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signum)
        # The parent may have died between the fork and the prctl: nobody would tell us.
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return preexec


def port_in_use(host: str, port: int) -> bool:
    """Whether binding host:port would fail because something already listens there.

    SO_REUSEADDR as gunicorn sets it, so a connection of the last run in TIME_WAIT does not
    count as taken."""
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
                raise
    return False


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connection to host:port is accepted (a wildcard host means this machine)."""
    target = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    try:
        with socket.create_connection((target, port), timeout=timeout):
            return True
    except OSError:
        return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def port_owner(port: int) -> str:
    """ "pid 123: gunicorn gradent.wsgi…" for the process listening on `port`, or "" when
    /proc cannot tell (another OS, or another user's process)."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return ""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    if len(cmdline) > 160:
                        cmdline = cmdline[:159] + "…"
                    return f"pid {proc.name}: {cmdline}"
        except OSError:
            continue
    return ""
