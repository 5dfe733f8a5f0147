"""Provider interface shared by every LLM backend, plus common HTTP plumbing.

The executor talks to providers only through :class:`Provider.complete`, using a
neutral message format (see module docs of :mod:`agents.providers`). Each
provider converts that format to its wire protocol and back, and reports every
failure as a :class:`ProviderError` whose ``retryable`` flag tells the executor
whether trying again later can help.
"""

from __future__ import annotations

import copy
import email.utils
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
from django.core.exceptions import ValidationError

from gradent.lib import safehttp
from gradent.lib.redact import redact

__all__ = [
    "STOP_END",
    "STOP_LENGTH",
    "STOP_TOOL_CALLS",
    "HTTPProvider",
    "Provider",
    "ProviderError",
    "ProviderResponse",
    "RunContext",
    "ToolCall",
    "Usage",
    "parse_retry_after",
]

# Loosely normalised stop reasons, so run history reads the same whichever
# provider produced it. Unknown provider values are passed through unchanged.
STOP_END = "end_turn"
STOP_TOOL_CALLS = "tool_use"
STOP_LENGTH = "max_tokens"

# Cap on a provider response body; a chat completion is far below this, so
# anything bigger is a misbehaving endpoint rather than a real answer.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Longest API error text copied into a ProviderError message.
_MAX_ERROR_TEXT = 500
# Header names whose values are treated as secrets when redacting messages.
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "password")
# Statuses worth retrying: request timeout, conflict, rate limit, and any
# server-side failure (5xx, including Anthropic's 529 "overloaded").
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass
class ToolCall:
    """One tool invocation requested by the model."""

    id: str
    name: str
    arguments: dict  # parsed JSON arguments


@dataclass
class Usage:
    """Token counts reported by the provider for one completion."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class ProviderResponse:
    """Normalised result of one ``Provider.complete`` call."""

    text: str  # assistant text ('' if none)
    tool_calls: list[ToolCall]
    usage: Usage
    stop_reason: str  # provider's finish/stop reason, normalised loosely
    request: dict  # the request body as sent MINUS secrets (for the RunStep "input")
    raw: dict  # the response body (for the RunStep "output")


class ProviderError(Exception):
    """A completion failed; ``retryable`` says whether a later retry may succeed.

    ``retry_after`` is the delay in seconds the provider asked for (429/529),
    ``status`` the HTTP status when there was a response.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, retryable={self.retryable}, "
            f"retry_after={self.retry_after}, status={self.status})"
        )


@dataclass
class RunContext:
    """Run state a provider may use (only the scripted provider does today)."""

    input: dict  # run input (e.g. {"task": "..."} plus user keys)
    payload: dict = field(default_factory=dict)  # event payload (webhook body etc.), may be {}
    step_outputs: list = field(default_factory=list)  # outputs of earlier tool calls, in order
    step_outputs_by_id: dict = field(default_factory=dict)  # same, keyed by scripted step id


class Provider:
    """Base class for LLM providers.

    Subclasses set ``name``, implement :meth:`complete` and, when they take
    settings, override :meth:`validate_settings`. Instances are cheap and hold
    no connection state, so the executor can create one per run.
    """

    name: ClassVar[str] = ""
    # What the agent form shows in its provider choices.
    verbose_name: ClassVar[str] = ""

    def __init__(self, *, model: str, settings: dict | None, api_key: str | None) -> None:
        self.model = model or ""
        self.api_key = api_key or None
        try:
            self.settings = self.validate_settings(dict(settings or {}))
        except ValidationError as exc:
            # The executor handles ProviderError; bad stored settings are a
            # permanent failure for this run, not something to retry.
            raise ProviderError(
                f"invalid {self.name or 'provider'} settings: {_validation_text(exc)}", retryable=False
            ) from exc

    def complete(
        self,
        *,
        system: str,
        messages: list[dict],
        tools: list[dict],
        context: RunContext,
    ) -> ProviderResponse:
        """Ask the model for the next turn given the conversation so far."""
        raise NotImplementedError

    def tool_failed(self, call: ToolCall, error: str) -> str | None:
        """What a tool call that failed (a ``ToolError``) means for the run. ``None``, the
        default: the error goes back to the model as the tool's result and it may try
        something else. A reason: the run ends failed with it (the scripted provider, whose
        steps cannot react)."""
        return None

    @classmethod
    def validate_settings(cls, settings: dict) -> dict:
        """Check ``settings`` and return a cleaned copy with defaults filled in.

        Raises ``ValidationError({"provider_settings": "..."})`` naming the problem.
        """
        if not isinstance(settings, dict):
            raise settings_error("settings must be a JSON object")
        return dict(settings)


def settings_error(message: str) -> ValidationError:
    """The ValidationError shape the agent form/serializer expects."""
    return ValidationError({"provider_settings": message})


def _validation_text(exc: ValidationError) -> str:
    """Flatten a ValidationError into one readable line."""
    if hasattr(exc, "message_dict"):
        return "; ".join(msg for msgs in exc.message_dict.values() for msg in msgs)
    return "; ".join(exc.messages)


# --------------------------------------------------------------------------
# Settings helpers shared by the HTTP providers


def check_allowed_keys(settings: dict, allowed: set[str]) -> None:
    """Reject unknown keys so a typo ("max_token") does not silently do nothing."""
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise settings_error(f"unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def clean_base_url(value: Any, default: str) -> str:
    """Validate an http(s) base URL and strip a trailing slash."""
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise settings_error("base_url must be an http:// or https:// URL")
    if any(ch.isspace() for ch in value):
        raise settings_error("base_url must not contain whitespace")
    return value.rstrip("/")


def clean_number(
    settings: dict,
    key: str,
    *,
    default: float | None,
    minimum: float,
    maximum: float,
    integer: bool = False,
    exclusive_minimum: bool = False,
) -> float | int | None:
    """Validate an optional numeric setting within bounds."""
    value = settings.get(key)
    if value is None:
        return default
    kind = "an integer" if integer else "a number"
    # bool is an int subclass; true/false is never a meaningful number here.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise settings_error(f"{key} must be {kind}")
    if integer and not float(value).is_integer():
        raise settings_error(f"{key} must be {kind}")
    if not math.isfinite(value):
        raise settings_error(f"{key} must be a finite number")
    too_low = value <= minimum if exclusive_minimum else value < minimum
    if too_low or value > maximum:
        low = f"greater than {minimum:g}" if exclusive_minimum else f"at least {minimum:g}"
        raise settings_error(f"{key} must be {low} and at most {maximum:g}")
    return int(value) if integer else value


def clean_headers(value: Any) -> dict[str, str]:
    """Validate the ``extra_headers`` setting (string names and values only)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise settings_error("extra_headers must be an object of header name to string value")
    for name, header_value in value.items():
        if not isinstance(name, str) or not name or any(ch in name for ch in " :\r\n"):
            raise settings_error(f"extra_headers: invalid header name {name!r}")
        if not isinstance(header_value, str) or "\r" in header_value or "\n" in header_value:
            raise settings_error(f"extra_headers: value for {name!r} must be a single-line string")
    return dict(value)


# --------------------------------------------------------------------------
# HTTP plumbing shared by the OpenAI and Anthropic providers


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts too."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to the response headers, or None.

    Understands ``retry-after-ms`` (sent by OpenAI), and ``Retry-After`` as
    either delta-seconds or an HTTP-date (RFC 9110).
    """
    millis = _header(headers, "retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = _header(headers, "retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def api_error_fields(body: Any) -> tuple[str, str, str]:
    """(message, type, code) from an error body in either provider's shape.

    OpenAI: ``{"error": {"message", "type", "code"}}``; Anthropic:
    ``{"type": "error", "error": {"type", "message", "details"?}}``; Ollama and
    some proxies: ``{"error": "text"}`` or ``{"message": "text"}``.
    """
    if not isinstance(body, dict):
        return "", "", ""
    error = body.get("error")
    if isinstance(error, str):
        return error, "", ""
    if isinstance(error, dict):
        message = error.get("message")
        err_type = error.get("type")
        code = error.get("code")
        details = error.get("details")
        if not code and isinstance(details, dict):
            code = details.get("error_code")
        return (
            message if isinstance(message, str) else (json.dumps(message) if message is not None else ""),
            err_type if isinstance(err_type, str) else "",
            code if isinstance(code, str) else "",
        )
    message = body.get("message") or body.get("detail")
    return (message if isinstance(message, str) else ""), "", ""


# Error codes that share 429 with rate limiting but will not clear by waiting:
# the account is out of credit or over a spend cap.
_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
        "enforced_spend_limit_reached",
    }
)


class HTTPProvider(Provider):
    """Common request/response handling for providers spoken to over HTTPS."""

    label: ClassVar[str] = "provider"
    default_timeout: ClassVar[float] = 60.0

    # -- hooks -------------------------------------------------------------

    def endpoint_url(self) -> str:
        """Full URL the completion request is POSTed to."""
        raise NotImplementedError

    def request_headers(self) -> dict[str, str]:
        """Headers for the request, including credentials."""
        raise NotImplementedError

    def build_body(self, *, system: str, messages: list[dict], tools: list[dict]) -> dict:
        """The wire request body for a neutral conversation."""
        raise NotImplementedError

    def error_in_body(self, data: dict) -> ProviderError | None:
        """An error object some proxies deliver with a 2xx status, or None."""
        return None

    def parse_reply(self, data: dict) -> tuple[str, list[ToolCall], Any]:
        """``(text, tool calls, the wire stop reason)`` of a decoded 2xx response."""
        raise NotImplementedError

    def parse_usage(self, usage: dict) -> Usage:
        """Token counts from the response's ``usage`` object (``{}`` when it has none)."""
        raise NotImplementedError

    # Wire stop reasons -> the loosely normalised ones; unknown values pass through.
    stop_reasons: ClassVar[dict[str, str]] = {}

    def complete(
        self,
        *,
        system: str,
        messages: list[dict],
        tools: list[dict],
        context: RunContext,
    ) -> ProviderResponse:
        """Send one request (failures classified by :meth:`post`) and normalise the reply."""
        body = self.build_body(system=system, messages=messages, tools=tools)
        data = self.post(body)
        error = self.error_in_body(data)
        if error is not None:
            raise error
        text, tool_calls, stop = self.parse_reply(data)
        usage = data.get("usage")
        stop_reason = self.stop_reasons.get(stop, stop) if isinstance(stop, str) else ""
        if not stop_reason:
            stop_reason = STOP_TOOL_CALLS if tool_calls else STOP_END
        return ProviderResponse(
            text=text,
            tool_calls=tool_calls,
            usage=self.parse_usage(usage if isinstance(usage, dict) else {}),
            stop_reason=stop_reason,
            request=deep_copy_json(body),
            raw=data,
        )

    # -- shared machinery -----------------------------------------------------

    def redact(self, text: str) -> str:
        """Remove credentials from text that may be shown to users or stored.

        Covers the API key and credential-looking ``extra_headers`` values
        (some gateways authenticate with e.g. an ``api-key`` header instead).
        """
        secrets = [self.api_key] if self.api_key else []
        for name, value in (self.settings.get("extra_headers") or {}).items():
            if any(word in name.lower() for word in _SECRET_HEADER_WORDS):
                secrets.append(value)
        # URL path tokens, query values and userinfo too (a base_url may carry ?key=).
        return redact(text, secrets)

    def post(self, body: dict) -> dict:
        """POST ``body`` as JSON and return the decoded 2xx JSON object.

        Every failure is turned into a classified :class:`ProviderError`.
        """
        total = float(self.settings.get("timeout") or self.default_timeout)
        # Connecting should be quick even when generation is slow.
        timeout = (min(10.0, total), total)
        url = self.endpoint_url()
        try:
            response = safehttp.request(
                "POST",
                url,
                headers=self.request_headers(),
                json=body,
                timeout=timeout,
                max_bytes=MAX_RESPONSE_BYTES,
                # A redirected POST is usually silently turned into a GET by
                # HTTP clients; better to tell the user to fix base_url.
                follow_redirects=False,
                purpose=safehttp.MODELS,
            )
        except safehttp.UnsafeURLError as exc:
            raise ProviderError(
                self.redact(f"{self.label} URL refused by the outbound URL policy: {exc}"), retryable=False
            ) from exc
        except safehttp.ResponseTooLarge as exc:
            raise ProviderError(
                f"{self.label} response too large (over {MAX_RESPONSE_BYTES} bytes)", retryable=False
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise ProviderError(f"{self.label} request timed out after {total:g}s", retryable=True) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise ProviderError(
                self.redact(f"could not connect to {self.label} at {_display_url(url)}: {_short(exc)}"),
                retryable=True,
            ) from exc
        except requests.exceptions.RequestException as exc:
            # Invalid URL, bad schema and similar: retrying cannot help.
            raise ProviderError(self.redact(f"{self.label} request failed: {_short(exc)}"), retryable=False) from exc

        status = int(response.status_code)
        if status >= 300:
            raise self.http_error(status, response)
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProviderError(
                f"malformed response from provider: {self.label} returned non-JSON body "
                f"({self.redact(_snippet(response.content))[:200]!r})",
                retryable=False,
                status=status,
            ) from exc
        if not isinstance(data, dict):
            raise self.malformed("top-level JSON is not an object", status=status)
        return data

    def http_error(self, status: int, response: Any) -> ProviderError:
        """Classify a non-2xx response."""
        headers = getattr(response, "headers", None)
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError, TypeError):
            body = None
        message, err_type, code = api_error_fields(body)
        if not message:
            message = _snippet(getattr(response, "content", b"")) or "no error message"
        # Redact before truncating so a cut can never leave part of a key.
        message = self.redact(message)[:_MAX_ERROR_TEXT]
        detail = f" ({err_type})" if err_type and err_type not in message else ""

        if 300 <= status < 400:
            location = _header(headers, "location") or "?"
            return ProviderError(
                self.redact(f"{self.label} API redirected ({status}) to {location}; check base_url"),
                retryable=False,
                status=status,
            )
        retryable = status in _RETRYABLE_STATUSES or status >= 500
        if status == 429 and (code in _QUOTA_CODES or err_type in _QUOTA_CODES):
            # Same status as rate limiting, but waiting will not restore access.
            retryable = False
        retry_after = parse_retry_after(headers) if retryable else None
        return ProviderError(
            f"{self.label} API error {status}{detail}: {message}",
            retryable=retryable,
            retry_after=retry_after,
            status=status,
        )

    def malformed(self, what: str, *, status: int | None = None) -> ProviderError:
        """A 2xx response that is not the shape the protocol promises."""
        return ProviderError(f"malformed response from provider: {self.label} {what}", retryable=False, status=status)


def _display_url(url: str) -> str:
    """URL without userinfo or query, which may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _short(exc: BaseException) -> str:
    """A one-line description of a transport exception."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:_MAX_ERROR_TEXT]


def _snippet(content: bytes | str | None) -> str:
    """Start of a response body, whitespace collapsed, for error messages.

    Callers redact the result and then cut it to length; it is deliberately
    longer than what is shown so redaction never sees half a secret.
    """
    if not content:
        return ""
    head = content[:4000]
    if isinstance(head, bytes):
        head = head.decode("utf-8", errors="replace")
    return " ".join(head.split())


def deep_copy_json(value: Any) -> Any:
    """Independent copy of a JSON-able structure (request bodies are recorded)."""
    return copy.deepcopy(value)


def as_int(value: Any) -> int:
    """Token counts from the wire; tolerate null, floats and numeric strings."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and math.isfinite(value):
        return max(0, int(value))
    if isinstance(value, str):
        try:
            return max(0, int(float(value)))
        except ValueError:
            return 0
    return 0
