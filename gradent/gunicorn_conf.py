"""gunicorn settings Gradent's web server runs with (`up` passes them; elsewhere:
`gunicorn -c python:gradent.gunicorn_conf gradent.wsgi:application …`).

gunicorn writes `Server: gunicorn` on every answer and has no setting to leave it out
(27.0); telling everyone which server and so which exploits to try helps nobody, so its
response's default headers lose that line. tests/test_gunicorn.py checks it against a real
gunicorn, so an upgrade that changes the internals fails there, not silently.
"""

from __future__ import annotations

from gunicorn.http import wsgi

_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(self) -> list[str]:
    return [line for line in _default_headers(self) if not line.startswith("Server:")]


wsgi.Response.default_headers = _default_headers_without_server

worker_class = "gthread"
threads = 4
graceful_timeout = 10
control_socket_disable = True
