"""The one outbound HTTP client of Gradent: every request leaving the product goes through here.

What it guarantees, for LLM providers, the ``http_request`` agent tool and anything else:

* only ``http`` and ``https`` URLs with a host;
* the address actually connected to is public (see :func:`ip_is_public`), unless the
  allow-list of the request's *purpose* (``models``, ``tools``, ``probes``, ``channels``:
  the ``GRADENT_ALLOW_PRIVATE_URLS_<PURPOSE>`` settings), or ``allow_private=True``, says
  otherwise;
* tools, probes and channels never connect to Gradent's own web server
  (``GRADENT_WEB_ADDRESSES``), allowed or not.  The checks run inside the urllib3
  connection: the host name is resolved once, refused addresses are never connected to, and
  the connected socket's peer address is checked again, so DNS rebinding and every redirect
  hop go through the same policy;
* a connect timeout and a *total* deadline covering connect, redirects, headers and the whole
  body (a watchdog shuts the sockets down when it expires, so a server trickling bytes cannot
  hold a worker);
* a cap on the (decoded) body size;
* at most :data:`MAX_REDIRECTS` redirects, followed by hand; credentials are not forwarded
  to another origin;
* environment proxies and ``.netrc`` are ignored (``trust_env = False``), so the connected
  address is the target's.

Network failures surface as ``requests.exceptions.ConnectionError`` / ``Timeout`` (retryable);
:class:`UnsafeURLError` and :class:`ResponseTooLarge` are permanent.  Headers are never logged,
and the text of every exception raised here has passed :func:`gradent.lib.redact.redact`, so
the URL's path tokens, query values and userinfo are not in it.
"""

from __future__ import annotations

import codecs
import email.message
import heapq
import ipaddress
import itertools
import json as _json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from gradent.lib.redact import redact

logger = logging.getLogger(__name__)


class _RedactingFilter(logging.Filter):
    """urllib3 logs each request line at DEBUG, with the path and query (a webhook's token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_RedactingFilter())

__all__ = [
    "CHANNELS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "MODELS",
    "PROBES",
    "PURPOSES",
    "TOOLS",
    "ResponseTooLarge",
    "SafeResponse",
    "UnsafeURLError",
    "allow_entries",
    "allow_setting",
    "ip_is_public",
    "is_own_server",
    "is_private_allowed",
    "request",
]

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, total) seconds
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 3

_ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK_SIZE = 64 * 1024
# Headers carrying credentials: not forwarded when a redirect leaves the origin.
_CREDENTIAL_HEADERS = (
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "X-Api-Key",
    "Api-Key",
    "X-Goog-Api-Key",
)
_BODY_HEADERS = ("Content-Type", "Content-Length", "Transfer-Encoding", "Content-Encoding")


class UnsafeURLError(ValueError):
    """The URL's scheme, host or address is refused by the outbound policy."""


class ResponseTooLarge(Exception):
    """The response body exceeded the allowed number of bytes."""


# --------------------------------------------------------------------------- address policy

# Explicit lists, so the policy does not depend on the Python patch release's ipaddress tables.
_V4_REFUSED = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata lives here)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including 255.255.255.255
    )
)
_V6_REFUSED = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback, deprecated IPv4-compatible
        "::ffff:0:0:0/96",  # IPv4-translated
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(ip: str) -> _IPAddress | None:
    text = str(ip).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _flags_public(addr: _IPAddress) -> bool:
    return addr.is_global and not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


def _v4_is_public(addr: ipaddress.IPv4Address) -> bool:
    if any(addr in net for net in _V4_REFUSED):
        return False
    return _flags_public(addr)


def _rfc6052_v4(addr: ipaddress.IPv6Address, prefix_len: int) -> ipaddress.IPv4Address:
    """The IPv4 address embedded in a NAT64 address using a prefix of ``prefix_len`` bits."""
    packed = addr.packed
    if prefix_len == 96:
        return ipaddress.IPv4Address(packed[12:16])
    without_u_octet = packed[:8] + packed[9:]  # bits 64..71 are always skipped
    start = prefix_len // 8
    return ipaddress.IPv4Address(without_u_octet[start : start + 4])


def _embedded_v4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """IPv4 addresses an IPv6 address leads to, or None when it is not an IPv4 transport."""
    if addr.ipv4_mapped is not None:
        return [addr.ipv4_mapped]
    if addr in _SIXTOFOUR:
        return [addr.sixtofour]
    if addr in _TEREDO:
        server, client = addr.teredo
        return [server, client]
    if addr in _NAT64_WELL_KNOWN:
        return [_rfc6052_v4(addr, 96)]
    if addr in _NAT64_LOCAL:
        # The local-use prefix may be deployed as a /48, /56, /64 or /96 and nothing in the
        # address says which: every possible reading must be public.
        return [_rfc6052_v4(addr, length) for length in (48, 56, 64, 96)]
    return None


def ip_is_public(ip: str) -> bool:
    """Whether ``ip`` is a publicly routable unicast address that may be connected to.

    Refused: loopback, private, link-local, CGNAT, multicast, reserved, unspecified,
    documentation and benchmarking ranges, in IPv4 and IPv6.  IPv6 forms that carry an IPv4
    address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, Teredo ``2001::/32``, NAT64
    ``64:ff9b::/96`` and ``64:ff9b:1::/48``) are judged by the IPv4 address they lead to: so
    ``::ffff:8.8.8.8`` is public (a dual-stack socket connecting to it reaches 8.8.8.8) and
    ``::ffff:127.0.0.1`` is not.  Anything that does not parse as an address is not public.
    """
    addr = _parse_ip(ip)
    if addr is None:
        return False
    if isinstance(addr, ipaddress.IPv4Address):
        return _v4_is_public(addr)
    embedded = _embedded_v4(addr)
    if embedded is not None:
        return all(_v4_is_public(v4) for v4 in embedded)
    if any(addr in net for net in _V6_REFUSED):
        return False
    return _flags_public(addr)


def _normalize_host(host: str) -> str:
    host = str(host).strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


# What a request is for. Each purpose has its own allow-list of private addresses
# (GRADENT_ALLOW_PRIVATE_URLS_<PURPOSE>): a local model endpoint allowed for the models does
# not open the LAN to every tenant's http_request tool.
MODELS, TOOLS, PROBES, CHANNELS = "models", "tools", "probes", "channels"
PURPOSES = (MODELS, TOOLS, PROBES, CHANNELS)
# Purposes whose URLs tenants choose and whose answers they read: never Gradent's own server.
_NEVER_SELF = frozenset({TOOLS, PROBES, CHANNELS})


def allow_setting(purpose: str) -> str:
    """The name of the setting that lists the private addresses ``purpose`` may reach."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown outbound purpose {purpose!r} (one of {', '.join(PURPOSES)})")
    return f"GRADENT_ALLOW_PRIVATE_URLS_{purpose.upper()}"


def allow_entries(purpose: str) -> list[str]:
    """The entries of ``purpose``'s allow-list setting (a list, or a comma-separated string)."""
    if not settings.configured:
        return []
    value = getattr(settings, allow_setting(purpose), None) or []
    if isinstance(value, str):
        value = value.split(",")
    return [str(entry).strip() for entry in value if str(entry).strip()]


def is_private_allowed(host: str, ip: str, purpose: str = TOOLS) -> bool:
    """Whether the non-public address ``ip`` of ``host`` is allowed for ``purpose``.

    Each entry of GRADENT_ALLOW_PRIVATE_URLS_<PURPOSE> (read at call time) is ``*``
    (everything), a network in CIDR notation (``192.168.1.0/24``), a single address
    (``10.0.0.5``, ``::1``) or a host name, compared exactly and case-insensitively with the
    URL's host (``ollama.lan``). An IPv4-mapped IPv6 address matches the entries of its IPv4
    address.
    """
    entries = allow_entries(purpose)
    if not entries:
        return False
    addr = _parse_ip(ip)
    candidates: list[_IPAddress] = []
    if addr is not None:
        candidates.append(addr)
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            candidates.append(addr.ipv4_mapped)
    wanted_host = _normalize_host(host)
    for entry in entries:
        if entry == "*":
            return True
        try:
            network = ipaddress.ip_network(_normalize_host(entry), strict=False)
        except ValueError:
            if wanted_host and _normalize_host(entry) == wanted_host:
                return True
            continue
        for candidate in candidates:
            if candidate.version == network.version and candidate in network:
                return True
    return False


# --------------------------------------------------------------------------- Gradent itself

_WILDCARD_HOSTS = ("", "*", "0.0.0.0", "::")  # noqa: S104 - compared with, never bound  # noqa: S104 - compared, never bound


def _web_addresses() -> list[tuple[str, int]]:
    """(host, port) of GRADENT_WEB_ADDRESSES: where Gradent's own web server listens."""
    value = getattr(settings, "GRADENT_WEB_ADDRESSES", None) if settings.configured else None
    if isinstance(value, str):
        value = value.split(",")
    found = []
    for entry in value or []:
        host, _, port = str(entry).strip().rpartition(":")
        if port.isdigit():
            found.append((_normalize_host(host), int(port)))
    return found


def _unmapped(addr: _IPAddress) -> _IPAddress:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _is_local_address(addr: _IPAddress) -> bool:
    """An address of this machine: loopback, unspecified (connects to the host itself) or
    one a socket can bind to (the kernel knows it as its own)."""
    if addr.is_loopback or addr.is_unspecified:
        return True
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(addr), 0))
    except OSError:
        return False
    return True


def is_own_server(ip: str, port: int) -> bool:
    """Whether ``ip:port`` is where Gradent's own web server listens (GRADENT_WEB_ADDRESSES:
    ``host:port`` entries; a wildcard host — ``0.0.0.0``, ``[::]``, ``*`` — means every
    address of this machine)."""
    addr = _parse_ip(ip)
    if addr is None:
        return False
    addr = _unmapped(addr)
    for host, listen_port in _web_addresses():
        if listen_port != port:
            continue
        if host in _WILDCARD_HOSTS:
            if _is_local_address(addr):
                return True
            continue
        listen = _parse_ip(host)
        if listen is not None:
            if _unmapped(listen) == addr or (listen.is_unspecified and _is_local_address(addr)):
                return True
            continue
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        for info in infos:
            resolved = _parse_ip(str(info[4][0]))
            if resolved is not None and _unmapped(resolved) == addr:
                return True
    return False


def _address_allowed(host: str, ip: str, port: int, guard: _Guard | None) -> bool:
    purpose = guard.purpose if guard is not None else TOOLS
    if purpose in _NEVER_SELF and is_own_server(ip, port):
        return False
    if ip_is_public(ip):
        return True
    allow_private = guard.allow_private if guard is not None else None
    if allow_private is None:
        return is_private_allowed(host, ip, purpose)
    return allow_private


def _refusal(host: str, ip: str, port: int, guard: _Guard | None) -> UnsafeURLError:
    purpose = guard.purpose if guard is not None else TOOLS
    if purpose in _NEVER_SELF and is_own_server(ip, port):
        return UnsafeURLError(f"{host} port {port} is Gradent's own web server, which {purpose} may not reach")
    return UnsafeURLError(
        f"{host} resolves to {ip}, which is not a public address (allow it for {purpose} with the "
        f"{allow_setting(purpose)} setting)"
    )


# --------------------------------------------------------------------------- per-call guard


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Guard:
    """Per-call state shared by the connections of one :func:`request`.

    Holds the address policy and the total deadline.  Every connected socket is registered
    (as a duplicate descriptor, which survives TLS wrapping and is never reused behind our
    back); when the deadline passes a watchdog shuts them all down, which unblocks whatever
    read or write the calling thread is stuck in.
    """

    def __init__(self, allow_private: bool | None, deadline: float, purpose: str = TOOLS) -> None:
        self.allow_private = allow_private
        self.purpose = purpose
        self.deadline = deadline
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._finished = False

    def start(self) -> None:
        _watchdog.watch(self)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        try:
            duplicate = sock.dup()
        except OSError:
            return
        with self._lock:
            if self._finished:
                duplicate.close()
                return
            self._sockets.append(duplicate)
            if self.expired:
                _shutdown(duplicate)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    @property
    def finished(self) -> bool:
        return self._finished

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


class _Watchdog:
    """One thread per process expires the guards whose deadline passed. (A timer thread
    per call doubled the threads of a worker that holds many runs, each waiting on a
    model.) Finished guards are dropped when they reach the front of the heap."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self._forget()
        # A forked child has no watchdog thread, and the copy of the lock may be held by
        # the parent's: it starts afresh.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Guard]] = []
        self._thread: threading.Thread | None = None

    def watch(self, guard: _Guard) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="safehttp-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (guard.deadline, next(self._count), guard))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].finished:
                        heapq.heappop(self._heap)
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        guard = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            guard._expire()


_watchdog = _Watchdog()


# --------------------------------------------------------------------------- urllib3 plumbing


def _verify_peer(sock: socket.socket, host: str, guard: _Guard | None) -> None:
    """Refuse (closing ``sock``) when the address ``sock`` is connected to is not allowed."""
    try:
        peer = sock.getpeername()
    except OSError:
        sock.close()
        raise
    if not _address_allowed(host, peer[0], peer[1], guard):
        sock.close()
        raise _refusal(host, peer[0], peer[1], guard)


class _GuardedConnectionMixin:
    """Resolve once, never connect to a refused address, and check the connected peer."""

    _gradent_guard: _Guard | None

    def __init__(self, *args: Any, gradent_guard: _Guard | None = None, **kwargs: Any) -> None:
        self._gradent_guard = gradent_guard
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        conn: Any = self  # the urllib3 connection this is mixed into
        guard = self._gradent_guard
        host = _normalize_host(conn.host)
        port = conn.port
        # Resolve the name as urllib3 would: a trailing dot, if any, is kept for DNS.
        lookup = str(getattr(conn, "_dns_host", conn.host)).strip("[]")
        try:
            infos = socket.getaddrinfo(lookup, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(conn.host, conn, exc) from exc
        except UnicodeError as exc:
            raise NewConnectionError(conn, f"Invalid host name {host!r}: {exc}") from exc

        refused_ip: str | None = None
        error: OSError | None = None
        for _family, _type, _proto, _canonname, sockaddr in infos:
            ip = str(sockaddr[0])
            if not _address_allowed(host, ip, port, guard):
                refused_ip = refused_ip or ip
                continue
            try:
                sock = urllib3_connection.create_connection(
                    (ip, port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
                _verify_peer(sock, host, guard)
            except OSError as exc:
                error = exc
                continue
            if guard is not None:
                guard.watch(sock)
            sys.audit("http.client.connect", conn, conn.host, port)
            return sock

        if error is None and refused_ip is not None:
            raise _refusal(host, refused_ip, port, guard)
        if error is None:
            raise NewConnectionError(conn, f"Failed to establish a new connection: no address for {host}")
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(
                conn, f"Connection to {host} timed out. (connect timeout={conn.timeout})"
            ) from error
        raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


class _SafeHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _SafeHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _SafeHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _SafeHTTPConnection


class _SafeHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _SafeHTTPSConnection


class _SafePoolManager(PoolManager):
    def __init__(self, guard: _Guard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gradent_guard = guard
        self.pool_classes_by_scheme = {
            "http": _SafeHTTPConnectionPool,
            "https": _SafeHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["gradent_guard"] = self._gradent_guard
        return pool


class _SafeAdapter(HTTPAdapter):
    def __init__(self, guard: _Guard) -> None:
        self._gradent_guard = guard
        super().__init__()  # no retries: callers decide

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _SafePoolManager(
            self._gradent_guard, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise UnsafeURLError("proxies are not supported by the outbound HTTP client")


# --------------------------------------------------------------------------- response


@dataclass
class SafeResponse:
    status_code: int
    headers: CaseInsensitiveDict[str]
    content: bytes
    url: str  # final URL, after redirects
    elapsed_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400

    @property
    def encoding(self) -> str:
        """The charset declared by Content-Type when Python knows it, else utf-8."""
        message = email.message.Message()
        message["Content-Type"] = self.headers.get("Content-Type", "")
        charset = message.get_content_charset()
        if charset:
            try:
                return codecs.lookup(charset).name
            except LookupError:
                pass
        return "utf-8"

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return _json.loads(self.content)


# --------------------------------------------------------------------------- request


def _check_url(url: str) -> tuple[str, str]:
    """Return (scheme, host) of an acceptable URL, or raise UnsafeURLError."""
    try:
        parts = urlsplit(str(url).strip())
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise UnsafeURLError(f"invalid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        raise UnsafeURLError(f"URL scheme {scheme or '(none)'!r} is not allowed (only http and https)")
    if not parts.hostname:
        raise UnsafeURLError("URL has no host")
    return scheme, parts.hostname


def _resolve_timeout(timeout: tuple[float, float] | float | None) -> tuple[float, float]:
    """(connect, total) seconds; a single number is the total, connect stays at most the default."""
    if timeout is None:
        connect, total = DEFAULT_TIMEOUT
    elif isinstance(timeout, tuple | list):
        if len(timeout) != 2:
            raise ValueError("timeout must be a number or a (connect, total) pair")
        connect, total = float(timeout[0]), float(timeout[1])
    else:
        total = float(timeout)
        connect = min(DEFAULT_TIMEOUT[0], total)
    if connect <= 0 or total <= 0:
        raise ValueError("timeouts must be positive")
    return min(connect, total), total


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def _should_strip_credentials(old_url: str, new_url: str) -> bool:
    old_scheme, old_host, old_port = _origin(old_url)
    new_scheme, new_host, new_port = _origin(new_url)
    if old_host != new_host:
        return True
    if old_scheme == "https" and new_scheme == "http":
        return True  # would send them in clear text
    if (old_scheme, old_port, new_scheme, new_port) == ("http", 80, "https", 443):
        return False  # same host upgraded to https
    return old_port != new_port


def _remove_headers(headers: CaseInsensitiveDict[str], names: Iterable[str]) -> None:
    for name in names:
        headers.pop(name, None)


def _without_secrets(exc: requests.exceptions.RequestException) -> requests.exceptions.RequestException:
    """The same exception with its text redacted: requests and urllib3 repeat the URL (path
    and query included: a Discord token, an ntfy topic, ``?key=``) in their messages, which
    callers store, log and show."""
    text = redact(str(exc))
    try:
        clean = type(exc)(text, response=getattr(exc, "response", None))
    except TypeError:
        clean = requests.exceptions.ConnectionError(text)
    return clean


def _root_cause(exc: BaseException) -> BaseException | None:
    """The innermost cause (usually the OSError: "Connection refused"), when its text names
    no URL; chained so callers can describe the failure without the wrapper's URL."""
    reason, seen = exc, 0
    while seen < 10:
        inner = reason.__cause__ or reason.__context__
        if inner is None and reason.args and isinstance(reason.args[0], BaseException):
            inner = reason.args[0]
        if inner is None:
            break
        reason, seen = inner, seen + 1
    reason = getattr(reason, "reason", reason)
    if reason is exc or not isinstance(reason, BaseException) or redact(str(reason)) != str(reason):
        return None
    return reason


def _timeout_error(total: float) -> requests.exceptions.Timeout:
    return requests.exceptions.Timeout(f"request exceeded its total timeout of {total:g}s")


def _read_body(response: requests.Response, max_bytes: int, guard: _Guard, total: float, method: str) -> bytes:
    if method != "HEAD" and response.status_code not in (204, 304):
        declared = response.headers.get("Content-Length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length > max_bytes:
                raise ResponseTooLarge(f"response body of {length} bytes exceeds the limit of {max_bytes}")
    body = bytearray()
    for chunk in response.iter_content(chunk_size=_CHUNK_SIZE):
        body += chunk
        if len(body) > max_bytes:
            raise ResponseTooLarge(f"response body exceeds the limit of {max_bytes} bytes")
        if guard.expired or guard.remaining() <= 0:
            raise _timeout_error(total)
    if guard.expired:  # the watchdog cut the connection: what we have is truncated
        raise _timeout_error(total)
    return bytes(body)


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json: Any = None,
    data: bytes | str | dict | None = None,
    params: dict | None = None,
    timeout: tuple[float, float] | float | None = None,
    max_bytes: int | None = None,
    allow_private: bool | None = None,
    follow_redirects: bool = True,
    purpose: str = TOOLS,
) -> SafeResponse:
    """Send one HTTP request under the outbound policy and return the fully read response.

    ``timeout`` is ``(connect, total)`` seconds or a single total (default
    :data:`DEFAULT_TIMEOUT`); the total covers redirects and the whole body.  ``max_bytes``
    caps the decoded body (default :data:`DEFAULT_MAX_BYTES`).  ``purpose`` (one of
    :data:`PURPOSES`) picks the allow-list of private addresses and whether Gradent's own
    server is refused; ``tools``, the strictest, when not given.  ``allow_private``: ``None``
    asks the purpose's GRADENT_ALLOW_PRIVATE_URLS_<PURPOSE> setting, ``True`` allows non-public
    addresses, ``False`` refuses them whatever the setting.  A ``str`` ``data`` is sent UTF-8 encoded.

    Raises :class:`UnsafeURLError`, :class:`ResponseTooLarge`,
    ``requests.exceptions.TooManyRedirects``, ``requests.exceptions.Timeout`` and
    ``requests.exceptions.ConnectionError`` (and other ``requests`` exceptions for
    protocol errors).  HTTP error statuses are returned, not raised.
    """
    method = method.upper()
    connect_timeout, total_timeout = _resolve_timeout(timeout)
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    send_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
    body_json = json
    body_data = data.encode("utf-8") if isinstance(data, str) else data
    current_url = str(url).strip()
    current_params = params
    _check_url(current_url)

    started = time.monotonic()
    allow_setting(purpose)  # an unknown purpose is a programming error: raise before sending
    guard = _Guard(allow_private, started + total_timeout, purpose)
    session = requests.Session()
    session.trust_env = False  # no environment proxies, no .netrc
    adapter = _SafeAdapter(guard)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    guard.start()
    try:
        for hop in range(MAX_REDIRECTS + 1):
            _scheme, host = _check_url(current_url)
            remaining = guard.remaining()
            if remaining <= 0:
                raise _timeout_error(total_timeout)
            response = session.request(
                method,
                current_url,
                headers=dict(send_headers),
                json=body_json,
                data=body_data,
                params=current_params,
                timeout=(min(connect_timeout, remaining), remaining),
                allow_redirects=False,
                stream=True,
            )
            try:
                if follow_redirects and response.is_redirect:
                    if hop == MAX_REDIRECTS:
                        raise requests.exceptions.TooManyRedirects(
                            f"more than {MAX_REDIRECTS} redirects", response=response
                        )
                    location = session.get_redirect_target(response) or ""
                    next_url = urljoin(response.url, location)
                    status = response.status_code
                    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
                        method = "GET"
                        body_json = body_data = None
                        _remove_headers(send_headers, _BODY_HEADERS)
                    if _should_strip_credentials(response.url, next_url):
                        _remove_headers(send_headers, _CREDENTIAL_HEADERS)
                    logger.debug("%s %s -> %s (redirect)", method, host, status)
                    current_url = next_url
                    current_params = None
                    continue
                content = _read_body(response, limit, guard, total_timeout, method)
            finally:
                response.close()
            elapsed_ms = int((time.monotonic() - started) * 1000)
            logger.debug("%s %s -> %s in %d ms", method, host, response.status_code, elapsed_ms)
            return SafeResponse(
                status_code=response.status_code,
                headers=CaseInsensitiveDict(response.headers),
                content=content,
                url=response.url,
                elapsed_ms=elapsed_ms,
            )
        raise AssertionError("unreachable")  # pragma: no cover
    except requests.exceptions.Timeout as exc:
        raise _without_secrets(exc) from _root_cause(exc)
    except (requests.exceptions.RequestException, OSError) as exc:
        if guard.expired:
            raise _timeout_error(total_timeout) from _root_cause(exc)
        if isinstance(exc, requests.exceptions.RequestException):
            raise _without_secrets(exc) from _root_cause(exc)
        raise requests.exceptions.ConnectionError(redact(str(exc))) from _root_cause(exc)
    finally:
        guard.finish()
        session.close()
