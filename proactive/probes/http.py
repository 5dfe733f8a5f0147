"""HTTP probe: one request through the safe client; status, latency, body, and a value.

Config::

    {"url": "https://api.example.com/quote", "method": "GET", "headers": {...}, "body": "",
     "timeout": 10, "json_path": "data.price"}        # or "regex": "price: ([0-9.]+)"

Values: ``status``, ``latency_ms``, ``ok`` (2xx), ``body`` (text, first 64 KB), ``json``
(the parsed body, or null), ``value`` (extracted with ``json_path`` or ``regex``, numeric
strings turned into floats, null when not found or not configured) and ``error`` (null).

When no response comes back (connection refused, DNS failure, timeout, too many redirects),
the check still *succeeds* with ``status`` null, ``ok`` false and ``error`` saying why, and
``latency_ms`` the time spent until the failure (a timeout reads as the whole timeout).  An
unreachable site is a measurement, not a broken probe: ``status != 200`` or ``not ok`` is
then true and the monitor flips down, which is what a person watching a site wants.
A URL refused by the outbound policy (private address) and a body over
:data:`MAX_RESPONSE_BYTES` are configuration problems and raise :class:`ProbeError`.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

import requests
from rest_framework import serializers

from gradent.lib import paths, safehttp
from proactive.conditions.regex import RegexProblem, compile_regex
from proactive.probes.base import Probe, ProbeContext, ProbeError, ProbeResult

__all__ = ["HttpProbe", "extract_json_path", "to_number"]

MAX_TIMEOUT = 60
DEFAULT_TIMEOUT = 10
CONNECT_TIMEOUT = 5
MAX_BODY_CHARS = 64 * 1024  # body text the condition sees
MAX_RESPONSE_BYTES = 2 * 1024 * 1024  # downloaded (JSON is parsed from the whole of it)
MAX_REGEX_LENGTH = 500
MAX_HEADERS = 30
_METHODS = ("GET", "HEAD", "POST")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_NUMERIC = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_JSON_PATH = re.compile(r"^[^.\s]+(?:\.[^.\s]+)*$")


def to_number(value: Any) -> Any:
    """A numeric string (``"151.20"``, ``" 3e2 "``) as a float; anything else unchanged."""
    if isinstance(value, str) and _NUMERIC.match(value.strip()):
        try:
            return float(value.strip())
        except ValueError:  # pragma: no cover - the pattern only matches floats
            return value
    return value


_MISSING = object()


def extract_json_path(document: Any, path: str) -> Any:
    """Walk ``data.items.0.price`` through objects (keys) and lists (indexes, ``-1`` the last),
    by :func:`gradent.lib.paths.walk`'s rules; ``_MISSING`` if absent."""
    return paths.walk(document, path, default=_MISSING)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_failure(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    # requests wraps urllib3 wraps OSError: the innermost reason reads best.
    reason: BaseException = exc
    seen = 0
    while seen < 10:
        inner = reason.__cause__ or reason.__context__
        if inner is None and reason.args and isinstance(reason.args[0], BaseException):
            inner = reason.args[0]
        if inner is None:
            break
        reason = inner
        seen += 1
    reason = getattr(reason, "reason", reason)
    text = str(reason)
    if isinstance(reason, OSError) and reason.strerror:
        text = reason.strerror
    prefix = "connection failed" if isinstance(exc, requests.exceptions.ConnectionError) else "request failed"
    return _short(f"{prefix}: {text}")


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(_short(value, 40))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return type(value).__name__  # an object or a list from json_path


class HttpProbe(Probe):
    kind: ClassVar[str] = "http"
    label: ClassVar[str] = "HTTP check"
    names: ClassVar[tuple[str, ...]] = ("status", "ok", "latency_ms", "body", "json", "value", "error")

    class ConfigSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=2000, help_text="http(s) URL to request.")
        method = serializers.CharField(default="GET", help_text="GET, HEAD or POST.")
        headers = serializers.DictField(
            child=serializers.CharField(allow_blank=True, max_length=4000, trim_whitespace=False),
            default=dict,
            help_text="Request headers.",
        )
        body = serializers.CharField(
            default="", allow_blank=True, max_length=64 * 1024, trim_whitespace=False, help_text="POST body."
        )
        timeout = serializers.FloatField(
            default=DEFAULT_TIMEOUT, min_value=0.1, max_value=MAX_TIMEOUT, help_text="Total seconds (at most 60)."
        )
        json_path = serializers.CharField(
            default="", allow_blank=True, max_length=500, help_text="Dotted path into the JSON body → value."
        )
        regex = serializers.CharField(
            default="",
            allow_blank=True,
            max_length=MAX_REGEX_LENGTH,
            trim_whitespace=False,
            help_text="First group (or whole match) in the body → value.",
        )

        def validate_url(self, value: str) -> str:
            if not value.lower().startswith(("http://", "https://")):
                raise serializers.ValidationError("Only http and https URLs can be checked.")
            return value

        def validate_method(self, value: str) -> str:
            method = value.strip().upper()
            if method not in _METHODS:
                raise serializers.ValidationError(f"Choose one of {', '.join(_METHODS)}.")
            return method

        def validate_headers(self, value: dict) -> dict:
            if len(value) > MAX_HEADERS:
                raise serializers.ValidationError(f"At most {MAX_HEADERS} headers.")
            for name, header_value in value.items():
                if not _HEADER_NAME.match(name):
                    raise serializers.ValidationError(f"{name!r} is not a valid header name.")
                if "\r" in header_value or "\n" in header_value:
                    raise serializers.ValidationError(f"The value of {name} contains a line break.")
            return value

        def validate_json_path(self, value: str) -> str:
            if value and not _JSON_PATH.match(value):
                raise serializers.ValidationError("Use a dotted path like data.price or items.0.value.")
            return value

        def validate_regex(self, value: str) -> str:
            # RE2, as matches() in conditions: the body comes from the remote server, and RE2
            # searches it in linear time whatever the pattern.
            if value:
                try:
                    compile_regex(value)
                except RegexProblem as exc:
                    problem = str(exc)
                    raise serializers.ValidationError(problem[0].upper() + problem[1:] + ".") from None
            return value

        def validate(self, attrs: dict) -> dict:
            if attrs.get("json_path") and attrs.get("regex"):
                raise serializers.ValidationError({"regex": "Give json_path or regex, not both."})
            if attrs.get("body") and attrs.get("method", "GET") != "POST":
                raise serializers.ValidationError({"body": "A body is only sent with POST."})
            return attrs

    def check(self, *, context: ProbeContext) -> ProbeResult:
        config = self.config
        timeout = float(config["timeout"])
        started = time.monotonic()
        try:
            response = safehttp.request(
                config["method"],
                config["url"],
                headers=dict(config["headers"]),
                data=config["body"] or None,
                timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
                max_bytes=MAX_RESPONSE_BYTES,
                purpose=safehttp.PROBES,
            )
        except safehttp.UnsafeURLError as exc:
            raise ProbeError(f"URL refused by the outbound URL policy: {exc}") from exc
        except safehttp.ResponseTooLarge as exc:
            raise ProbeError(f"response larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB: {exc}") from exc
        except requests.RequestException as exc:
            latency_ms = int((time.monotonic() - started) * 1000)
            error = _describe_failure(exc, timeout)
            values = {
                "status": None,
                "ok": False,
                "latency_ms": latency_ms,
                "body": "",
                "json": None,
                "value": None,
                "error": error,
            }
            return ProbeResult(values=values, summary=f"no response after {latency_ms} ms: {error}")
        return self._result(response)

    def _result(self, response: safehttp.SafeResponse) -> ProbeResult:
        config = self.config
        status = int(response.status_code)
        body = response.content[: MAX_BODY_CHARS * 4].decode(response.encoding, errors="replace")[:MAX_BODY_CHARS]
        document: Any = None
        if response.content.strip():
            try:
                document = response.json()
            except (ValueError, RecursionError):
                document = None
        value: Any = None
        found = True
        if config["json_path"]:
            extracted = extract_json_path(document, config["json_path"]) if document is not None else _MISSING
            found = extracted is not _MISSING
            value = to_number(extracted) if found else None
        elif config["regex"]:
            pattern = compile_regex(config["regex"])
            match = pattern.search(body)
            found = match is not None
            if match is not None:
                value = to_number(match.group(1) if pattern.groups else match.group(0))
        values = {
            "status": status,
            "ok": 200 <= status < 300,
            "latency_ms": int(response.elapsed_ms),
            "body": body,
            "json": document,
            "value": value,
            "error": None,
        }
        summary = f"{status} in {values['latency_ms']} ms"
        if config["json_path"] or config["regex"]:
            if found:
                summary += f", value={_format_value(value)}"
            else:
                where = f"json_path {config['json_path']}" if config["json_path"] else "regex"
                summary += f", no value ({where} not found)"
        return ProbeResult(values=values, summary=summary)
