"""gradent.lib.safehttp against real HTTP servers on loopback (no network mocks)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gradent.lib import safehttp
from gradent.lib.safehttp import ResponseTooLarge, UnsafeURLError, ip_is_public, is_private_allowed

BIG = 2 * 1024 * 1024
ONE_MB = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited bodies are possible

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain", length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _trickle(self, data: bytes, stop: threading.Event) -> None:
        # One byte every 0.2 s until the client goes away (bounded so nothing leaks).
        for _ in range(150):
            if stop.is_set():
                return
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.2)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        path = parts.path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        stop: threading.Event = self.server.stop_event  # type: ignore[attr-defined]

        if path == "/ok":
            self._send(200, b"hello")
        elif path == "/echo":
            payload = {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "x_api_key": self.headers.get("X-Api-Key"),
                "content_type": self.headers.get("Content-Type"),
                "body": body.decode("utf-8", "replace"),
            }
            self._send(200, json.dumps(payload).encode(), "application/json")
        elif path == "/json":
            self._send(200, json.dumps({"answer": 42, "name": "gradent"}).encode(), "application/json")
        elif path == "/garbage-json":
            self._send(200, b"<html>not json</html>", "application/json")
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=ISO-8859-1")
        elif path == "/utf8-nocharset":
            self._send(200, "naïve ☃".encode(), "text/plain")
        elif path == "/bad-bytes":
            self._send(200, b"ok \xff\xfe end", "text/plain; charset=utf-8")
        elif path == "/unknown-charset":
            self._send(200, "é".encode(), "text/plain; charset=no-such-charset")
        elif path.startswith("/chain/"):
            remaining = int(path.rsplit("/", 1)[1])
            if remaining == 0:
                self._send(200, b"end of chain")
            else:
                self._redirect(302, f"/chain/{remaining - 1}")
        elif path == "/redirect":
            self._redirect(int(query.get("code", "302")), query["to"])
        elif path == "/big":
            data = b"x" * BIG
            if query.get("length") == "1":
                self._send(200, data)
            else:
                self._send(200, data, length=False)
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            if query.get("length") == "1":
                self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.flush()
            self._trickle(b"x", stop)
        elif path == "/slow-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            self._trickle(b"a", stop)
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_HEAD = _handle


@pytest.fixture
def start_server() -> Iterator[Callable[..., str]]:
    """Start a real HTTP server on ``host`` port 0; returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(host: str = "127.0.0.1") -> str:
        httpd = ThreadingHTTPServer((host, 0), _Handler)
        httpd.stop_event = threading.Event()  # type: ignore[attr-defined]
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        return f"http://{host}:{httpd.server_port}"

    yield start
    for httpd in servers:
        httpd.stop_event.set()  # type: ignore[attr-defined]
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(start_server: Callable[..., str]) -> str:
    return start_server()


@pytest.fixture(autouse=True)
def _no_private_by_default(settings):
    settings.GRADENT_ALLOW_PRIVATE_URLS_TOOLS = []
    return settings


@pytest.fixture
def allow(settings) -> Callable[..., None]:
    def set_entries(*entries: str) -> None:
        settings.GRADENT_ALLOW_PRIVATE_URLS_TOOLS = list(entries)

    return set_entries


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


# ------------------------------------------------------------------------- address policy


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "192.0.2.1",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "2002:7f00:0001::1",
        "2002:a9fe:a9fe::1",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "64:ff9b:1::a00:1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "[::1]",
        "not-an-ip",
        "",
    ],
)
def test_it_refuses_non_public_addresses(ip: str) -> None:
    assert ip_is_public(ip) is False


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        # IPv4-mapped addresses are judged by their IPv4 address: this one reaches 8.8.8.8.
        "::ffff:8.8.8.8",
        "2002:0808:0808::1",  # 6to4 of 8.8.8.8
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, client 8.8.8.8
    ],
)
def test_it_accepts_public_addresses(ip: str) -> None:
    assert ip_is_public(ip) is True


def test_it_reads_the_allow_list_at_call_time(allow) -> None:
    assert is_private_allowed("example.lan", "192.168.1.7") is False
    allow("192.168.1.0/24")
    assert is_private_allowed("example.lan", "192.168.1.7") is True
    assert is_private_allowed("example.lan", "192.168.2.7") is False
    assert is_private_allowed("x", "::ffff:192.168.1.7") is True  # mapped form of an allowed IPv4


def test_it_matches_allow_list_entries_by_kind(allow) -> None:
    allow("10.0.0.5", "OLLAMA.lan", "::1")
    assert is_private_allowed("anything", "10.0.0.5") is True
    assert is_private_allowed("anything", "10.0.0.6") is False
    assert is_private_allowed("ollama.LAN", "192.168.9.9") is True
    assert is_private_allowed("ollama.lan.", "192.168.9.9") is True
    assert is_private_allowed("other.lan", "192.168.9.9") is False
    assert is_private_allowed("sub.ollama.lan", "192.168.9.9") is False
    assert is_private_allowed("[::1]", "::1") is True
    allow("*")
    assert is_private_allowed("whatever", "169.254.169.254") is True


# ------------------------------------------------------------------------- loopback policy


def test_it_refuses_loopback_by_default(server: str) -> None:
    with pytest.raises(UnsafeURLError, match="127.0.0.1"):
        safehttp.request("GET", f"{server}/ok")


def test_it_allows_loopback_with_a_cidr_entry(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("GET", f"{server}/ok")
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.url == f"{server}/ok"
    assert response.elapsed_ms >= 0


def test_it_allows_everything_with_a_star_entry(server: str, allow) -> None:
    allow("*")
    assert safehttp.request("GET", f"{server}/ok").text == "hello"


def test_it_allows_a_host_entry_only_for_that_host(server: str, allow) -> None:
    allow("localhost")
    local = f"http://localhost:{_port(server)}/ok"
    assert safehttp.request("GET", local).text == "hello"
    with pytest.raises(UnsafeURLError):
        safehttp.request("GET", f"{server}/ok")  # same server, named by IP: not allowed


def test_it_refuses_a_host_name_that_resolves_to_loopback(server: str) -> None:
    with pytest.raises(UnsafeURLError, match="localhost resolves to"):
        safehttp.request("GET", f"http://localhost:{_port(server)}/ok")


def test_it_lets_allow_private_override_the_setting(server: str, allow) -> None:
    assert safehttp.request("GET", f"{server}/ok", allow_private=True).status_code == 200
    allow("*")
    with pytest.raises(UnsafeURLError):
        safehttp.request("GET", f"{server}/ok", allow_private=False)


def test_it_checks_the_resolved_address_not_the_name(server: str, monkeypatch, allow) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def fake_dns(host, *args, **kwargs):
        if host == "public.example.com":
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    url = f"http://public.example.com:{_port(server)}/ok"
    with pytest.raises(UnsafeURLError, match="127.0.0.1"):
        safehttp.request("GET", url)
    # Proof that the name really led to the loopback server once allowed.
    allow("127.0.0.0/8")
    assert safehttp.request("GET", url).text == "hello"


def test_it_checks_the_connected_peer_even_when_resolution_looked_public(server: str, monkeypatch) -> None:
    # The name resolves to a public address, but the socket ends up connected to
    # 127.0.0.1 (as with DNS rebinding between look-ups): the peer check refuses it.
    real_getaddrinfo = socket.getaddrinfo
    port = _port(server)

    def rebinding_dns(host, *args, **kwargs):
        if host == "rebind.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        if host == "93.184.216.34":
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    with pytest.raises(UnsafeURLError, match="127.0.0.1"):
        safehttp.request("GET", f"http://rebind.example.com:{port}/ok")


def test_it_closes_and_refuses_a_socket_connected_to_a_refused_peer(server: str, allow) -> None:
    sock = socket.create_connection(("127.0.0.1", _port(server)))
    with pytest.raises(UnsafeURLError):
        safehttp._verify_peer(sock, "public.example.com", None)
    assert sock.fileno() == -1  # closed
    allow("127.0.0.1")
    sock = socket.create_connection(("127.0.0.1", _port(server)))
    try:
        safehttp._verify_peer(sock, "public.example.com", None)
        assert sock.fileno() != -1
    finally:
        sock.close()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTPS server on loopback with a self-signed (so untrusted) certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.stop_event = threading.Event()  # type: ignore[attr-defined]
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_it_guards_https_connections_too(tls_server: str) -> None:
    with pytest.raises(UnsafeURLError, match="127.0.0.1"):
        safehttp.request("GET", f"{tls_server}/ok")


def test_it_verifies_certificates_over_the_guarded_connection(tls_server: str, allow) -> None:
    allow("127.0.0.0/8")
    with pytest.raises(requests.exceptions.SSLError):
        safehttp.request("GET", f"{tls_server}/ok", timeout=5.0)


# ------------------------------------------------------------------------- URL validation


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/file", "file:///etc/passwd", "http:///nohost", "gopher://x", "example.com/path", ""],
)
def test_it_refuses_unsupported_urls(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        safehttp.request("GET", url, allow_private=True)


# ------------------------------------------------------------------------- redirects


def test_it_follows_up_to_three_redirects(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("GET", f"{server}/chain/3")
    assert response.status_code == 200
    assert response.text == "end of chain"
    assert response.url == f"{server}/chain/0"


def test_it_refuses_a_fourth_redirect(server: str, allow) -> None:
    allow("127.0.0.0/8")
    with pytest.raises(requests.exceptions.TooManyRedirects):
        safehttp.request("GET", f"{server}/chain/4")


def test_it_returns_the_redirect_when_not_following(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("GET", f"{server}/chain/1", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/chain/0"


def test_it_rechecks_every_redirect_hop(start_server, allow) -> None:
    first = start_server("127.0.0.1")
    second = start_server("127.0.0.2")
    url = f"{first}/redirect?to={second}/ok"
    allow("127.0.0.1")
    with pytest.raises(UnsafeURLError, match="127.0.0.2"):
        safehttp.request("GET", url)
    allow("127.0.0.0/8")  # control: the hop itself works once allowed
    response = safehttp.request("GET", url)
    assert response.text == "hello"
    assert response.url == f"{second}/ok"


def test_it_refuses_a_redirect_to_another_scheme(server: str, allow) -> None:
    allow("*")
    with pytest.raises(UnsafeURLError, match="scheme"):
        safehttp.request("GET", f"{server}/redirect?to=file:///etc/passwd")


def test_it_turns_post_into_get_on_303(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("POST", f"{server}/redirect?code=303&to=/echo", json={"a": 1})
    echoed = response.json()
    assert echoed["method"] == "GET"
    assert echoed["body"] == ""
    assert echoed["content_type"] is None


def test_it_turns_post_into_get_on_302(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("POST", f"{server}/redirect?code=302&to=/echo", data=b"payload")
    assert response.json()["method"] == "GET"


def test_it_keeps_method_and_body_on_307(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("POST", f"{server}/redirect?code=307&to=/echo", json={"a": 1})
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert json.loads(echoed["body"]) == {"a": 1}


def test_it_drops_credentials_on_a_cross_host_redirect(server: str, allow) -> None:
    allow("*")
    target = f"http://localhost:{_port(server)}/echo"
    headers = {"Authorization": "Bearer secret", "X-Api-Key": "k"}
    echoed = safehttp.request("GET", f"{server}/redirect?to={target}", headers=headers).json()
    assert echoed["authorization"] is None
    assert echoed["x_api_key"] is None


def test_it_keeps_credentials_on_a_same_host_redirect(server: str, allow) -> None:
    allow("127.0.0.0/8")
    headers = {"Authorization": "Bearer secret"}
    echoed = safehttp.request("GET", f"{server}/redirect?to=/echo", headers=headers).json()
    assert echoed["authorization"] == "Bearer secret"


# ------------------------------------------------------------------------- body cap


@pytest.mark.parametrize("with_length", [True, False])
def test_it_caps_the_body(server: str, allow, with_length: bool) -> None:
    allow("127.0.0.0/8")
    url = f"{server}/big?length={int(with_length)}"
    with pytest.raises(ResponseTooLarge):
        safehttp.request("GET", url, max_bytes=ONE_MB)
    assert len(safehttp.request("GET", url, max_bytes=3 * ONE_MB).content) == BIG


def test_it_ignores_content_length_of_head_responses(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("HEAD", f"{server}/big?length=1", max_bytes=ONE_MB)
    assert response.status_code == 200
    assert response.content == b""


# ------------------------------------------------------------------------- timeouts and failures


@pytest.mark.parametrize("path", ["/trickle?length=1", "/trickle", "/slow-headers"])
def test_it_cuts_off_a_trickling_server_at_the_total_timeout(server: str, allow, path: str) -> None:
    allow("127.0.0.0/8")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        safehttp.request("GET", f"{server}{path}", timeout=(1.0, 1.0))
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 5.0


def test_a_forked_child_cuts_off_a_trickling_server_though_the_parent_held_the_watchdog(server: str, allow) -> None:
    """`up` forks its children while its own threads may be using the safe client: the
    child gets a copy of the watchdog's lock, held or not, and must start its own."""
    allow("127.0.0.0/8")
    safehttp.request("GET", f"{server}/json", timeout=5.0)  # the parent's watchdog thread runs
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with safehttp._watchdog._cond:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    holding.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: cut off in time, or a non-zero exit code
        code = 1
        try:
            started = time.monotonic()
            try:
                safehttp.request("GET", f"{server}/trickle", timeout=(1.0, 1.0))
            except requests.exceptions.Timeout:
                code = 0 if time.monotonic() - started < 5 else 2
        finally:
            os._exit(code)
    release.set()
    holder.join()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the watchdog's lock")
    assert os.waitstatus_to_exitcode(status) == 0


def test_it_raises_connection_error_when_refused(allow) -> None:
    allow("127.0.0.0/8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(requests.exceptions.ConnectionError):
        safehttp.request("GET", f"http://127.0.0.1:{port}/", timeout=2.0)


def test_it_raises_connect_timeout_when_nobody_answers(allow) -> None:
    allow("127.0.0.0/8")
    # A listener that never accepts, with its backlog full: new SYNs are dropped.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        time.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ConnectionError) as raised:
            safehttp.request("GET", f"http://127.0.0.1:{port}/", timeout=(0.5, 10.0))
        assert isinstance(raised.value, requests.exceptions.Timeout)
        assert time.monotonic() - started < 5.0
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_it_ignores_proxies_from_the_environment(server: str, allow, monkeypatch) -> None:
    allow("127.0.0.0/8")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert safehttp.request("GET", f"{server}/ok").text == "hello"


# ------------------------------------------------------------------------- decoding and sending


def test_it_decodes_json(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("GET", f"{server}/json")
    assert response.json() == {"answer": 42, "name": "gradent"}
    assert response.headers["content-type"] == "application/json"


def test_it_raises_value_error_on_garbage_json(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("GET", f"{server}/garbage-json")
    with pytest.raises(ValueError):
        response.json()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/latin1", "café"),
        ("/utf8-nocharset", "naïve ☃"),
        ("/bad-bytes", "ok \ufffd\ufffd end"),
        ("/unknown-charset", "é"),
    ],
)
def test_it_decodes_text_with_the_response_charset(server: str, allow, path: str, expected: str) -> None:
    allow("127.0.0.0/8")
    assert safehttp.request("GET", f"{server}{path}").text == expected


def test_it_sends_json_params_and_form_data(server: str, allow) -> None:
    allow("127.0.0.0/8")
    echoed = safehttp.request("PUT", f"{server}/echo", json={"k": "v"}, params={"q": "1 2"}).json()
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/echo?q=1+2"
    assert json.loads(echoed["body"]) == {"k": "v"}
    assert echoed["content_type"] == "application/json"
    echoed = safehttp.request("POST", f"{server}/echo", data={"a": "b"}).json()
    assert echoed["body"] == "a=b"
    echoed = safehttp.request("POST", f"{server}/echo", data="é").json()
    assert echoed["body"] == "é"


def test_it_returns_error_statuses_instead_of_raising(server: str, allow) -> None:
    allow("127.0.0.0/8")
    response = safehttp.request("GET", f"{server}/missing")
    assert response.status_code == 404
    assert response.ok is False
    assert response.text == "not found"


def test_a_yes_in_an_allow_list_is_reported_by_the_system_check(settings) -> None:
    """`GRADENT_ALLOW_PRIVATE_URLS_CHANNELS=1` reads like "allowed" and allows nothing."""
    from django.core.checks import run_checks

    def warnings() -> list[str]:
        return [message.msg for message in run_checks() if message.id == "gradent.W003"]

    settings.GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = ["127.0.0.1", "192.168.0.0/16", "ollama.lan", "*"]
    settings.GRADENT_ALLOW_PRIVATE_URLS_TOOLS = []
    assert warnings() == []
    settings.GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = ["1"]
    settings.GRADENT_ALLOW_PRIVATE_URLS_TOOLS = "10.0.0.5, True"
    assert warnings() == [
        "GRADENT_ALLOW_PRIVATE_URLS_TOOLS holds 'True', which allows no address.",
        "GRADENT_ALLOW_PRIVATE_URLS_CHANNELS holds '1', which allows no address.",
    ]
    assert not is_private_allowed("localhost", "127.0.0.1", safehttp.CHANNELS)  # as the check says
