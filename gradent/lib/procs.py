"""Process helpers for `manage.py up`: children forked from it that die with it, and who
holds a TCP port. Linux answers both through prctl and /proc; elsewhere they do nothing."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import setproctitle

PR_SET_PDEATHSIG = 1
TCP_LISTEN = "0A"


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A function for the child to call right after the fork, that has the kernel send
    `signum` to it when the thread that forked it ends (PR_SET_PDEATHSIG): a `kill -9` of
    the parent leaves no orphan behind.

    Get it, and fork, from a thread that lives as long as the parent (its main thread). It
    is resolved before the fork: the child only makes the call."""
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


M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = 2) -> None:
    """What MALLOC_ARENA_MAX=2 does, for this process and the children it forks (glibc
    reads the variable only as a process starts). glibc gives threads arenas of their own
    (up to 8 per core), which keep freed memory: a worker holding many runs on threads
    spends ~100 MB more with them. An operator's own MALLOC_ARENA_MAX wins."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas)


class ForkedChild:
    """A child `fork_child` started: the part of subprocess.Popen the supervisor uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def wait(self) -> int:
        return self._reap(0)

    def _reap(self, flags: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


def fork_child(main: Callable[[], object], *, title: str) -> ForkedChild:
    """Run `main()` in a forked child and return at once.

    The child shares the pages this process loaded (Django, the apps, their libraries)
    until one side writes them, instead of loading its own copy as a new interpreter
    would: a third less memory for `up` (bench/run_throughput.py, idle PSS). It leads a
    session of its own (its own children are stopped together, and a terminal's Ctrl-C
    reaches it only through us), gets one SIGTERM when the forking thread ends
    (PR_SET_PDEATHSIG: a `kill -9` of the parent leaves no orphan), and starts with
    the default SIGINT and SIGTERM handlers. Its exit code is main()'s SystemExit code,
    0 when main() returns, 1 when it raises.

    Fork from the main thread, with no other thread of this process holding a lock the
    child will need (`up` pauses its dispatcher thread), and with no database connection
    open: the child must open its own."""
    gc.collect()
    gc.freeze()  # the collector would otherwise write to every shared object's header
    # The kernel sends the death signal each time a thread of ours that is the child's
    # parent ends, and as the group dies it passes the child from thread to thread: one
    # SIGTERM per thread. django-q2's handler, entered a second time while the first is
    # inside its stop, deadlocks on its own lock and the cluster outlives us. So the
    # kernel sends a signal of our own, turned into one SIGTERM.
    deathsig = die_with_parent(PARENT_DIED)
    _flush_stdio()  # or the child writes what is still buffered a second time
    pid = os.fork()
    if pid:
        return ForkedChild(pid)
    code = 1
    try:
        os.setsid()
        # The default handlers first: the death signal may come at once (the parent is
        # gone already), and the parent's handlers would only take note of it.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(PARENT_DIED, _terminate_once())
        if deathsig is not None:
            deathsig()
        set_title(title)
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        _flush_stdio()
        os._exit(code)  # never back into the parent's stack


PARENT_DIED = signal.SIGRTMIN  # no library we run uses it


def _terminate_once() -> Callable[[int, object], None]:
    sent = False

    def handler(signum: int, frame: object) -> None:
        nonlocal sent
        if not sent:
            sent = True
            os.kill(os.getpid(), signal.SIGTERM)

    return handler


def _flush_stdio() -> None:
    """Flush stdout and stderr; a closed pipe must not raise (in a forked child it would
    carry the child back into the parent's code)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: S110
            pass


def set_title(title: str) -> None:
    """The process's name in ps and top (gunicorn and django-q2 name theirs the same way)."""
    setproctitle.setproctitle(title)


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
