"""What every transport is: a config serializer, the secret fields of that config, and
`send(message)`, which returns a TransportResult or raises TransportError."""

from __future__ import annotations

import email.utils
import ipaddress
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from rest_framework import serializers

from gradent.lib import safehttp
from gradent.lib.redact import redact
from notifications.conf import setting

ANSWER_LIMIT = 2000
# Peers answer with a few hundred bytes; more than this is not a notification service.
MAX_ANSWER_BYTES = 256 * 1024


class TransportError(Exception):
    """A send did not go through.

    `permanent`: the same message will not go through later either (no retry).
    `disable`: the channel itself is broken (unknown webhook, revoked token, refused
    address…) and is switched off with this message as the reason; defaults to `permanent`.
    `retry_after`: seconds the peer asked us to wait (429 Retry-After).
    The message and the peer's answer are redacted (gradent.lib.redact): they are stored in
    the notification log, shown to viewers and in test answers.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        answer: str = "",
        disable: bool | None = None,
    ):
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status
        self.answer = redact(answer[:ANSWER_LIMIT])[:ANSWER_LIMIT]
        self.disable = permanent if disable is None else disable


@dataclass
class TransportResult:
    status: int | None = None
    answer: str = ""
    detail: str = ""


@dataclass
class Message:
    """One rendered notification, ready for a transport."""

    event: str
    title: str
    body: str
    payload: Any
    level: str = "info"
    notification_id: int | None = None
    url: str = ""
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


class Transport:
    """One kind of channel. Subclasses set `kind`, a ConfigSerializer (validation of the
    channel's config, secrets included), `secret_fields` and `template_ext`, and implement
    send()."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""  # for people (the kind's choice in forms); the kind when empty
    # The config keys stored encrypted and never shown again.
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # The per-kind template: notifications/<kind>/<event>.<ext>, else .../default.<ext>.
    template_ext: ClassVar[str] = "txt"

    class ConfigSerializer(serializers.Serializer):
        pass

    def __init__(self, config: dict):
        self.config = config

    def send(self, message: Message) -> TransportResult:
        raise NotImplementedError

    def scrub(self, error: TransportError) -> TransportError:
        """``error`` with this channel's secret values taken out of its text too."""
        secrets = [str(self.config[name]) for name in self.secret_fields if self.config.get(name)]
        error.message = redact(error.message, secrets)
        error.answer = redact(error.answer, secrets)
        error.args = (error.message,)
        return error

    @classmethod
    def describe(cls, config: dict) -> str:
        """Where messages go, in words safe to show (no secrets)."""
        return cls.kind

    @classmethod
    def validate_config(cls, config: dict) -> dict:
        serializer = cls.ConfigSerializer(data=config)
        serializer.is_valid(raise_exception=True)
        return {key: value for key, value in serializer.validated_data.items() if value is not None}


class HTTPTransport(Transport):
    """A transport that POSTs through the safe HTTP client and reads the peer's status."""

    # Statuses that say the channel is gone or its credentials are refused.
    disabling_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404, 410})
    # Client errors that are worth another try.
    retryable_statuses: ClassVar[frozenset[int]] = frozenset({408, 409, 425, 429})
    service_name: ClassVar[str] = "the peer"

    def post(
        self,
        url: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> safehttp.SafeResponse:
        total = float(setting("GRADENT_NOTIFY_TIMEOUT"))
        try:
            return safehttp.request(
                "POST",
                url,
                json=json,
                data=data,
                headers=headers,
                timeout=(min(5.0, total), total),
                max_bytes=MAX_ANSWER_BYTES,
                # A notification endpoint that redirects is misconfigured; following a POST
                # redirect would also turn it into a GET.
                follow_redirects=False,
                purpose=safehttp.CHANNELS,
            )
        except safehttp.UnsafeURLError as exc:
            raise TransportError(f"Refused: {exc}", permanent=True) from None
        except safehttp.ResponseTooLarge as exc:
            raise TransportError(f"{self.service_name} answered with too much data: {exc}", permanent=True) from None
        except requests.exceptions.Timeout as exc:
            raise TransportError(f"{self.service_name} did not answer in time: {exc}") from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"Could not reach {self.service_name}: {exc}") from None

    def check(self, response: safehttp.SafeResponse, *, reason: str = "") -> TransportResult:
        """Turn the peer's answer into a result, or raise the matching TransportError."""
        status = response.status_code
        answer = response.text[:ANSWER_LIMIT]
        if 200 <= status < 300:
            return TransportResult(status=status, answer=answer, detail=answer or f"HTTP {status}")
        what = f"{self.service_name} answered HTTP {status}" + (f" ({reason})" if reason else "")
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise TransportError(
                f"{what}: it redirects to {location or 'another address'}; use the final URL",
                permanent=True,
                status=status,
                answer=answer,
            )
        if status == 429:
            raise TransportError(
                f"{what}: rate limited", retry_after=parse_retry_after(response), status=status, answer=answer
            )
        if status in self.retryable_statuses or status >= 500:
            raise TransportError(what, status=status, answer=answer, retry_after=parse_retry_after(response))
        raise TransportError(
            what, permanent=True, disable=status in self.disabling_statuses, status=status, answer=answer
        )


def parse_retry_after(response: safehttp.SafeResponse) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def join_base(base: str, path: str, query: str = "") -> str:
    return base.rstrip("/") + path + (f"?{query}" if query else "")


def refuse_private_literal(url: str) -> None:
    """Early feedback at save time: an IP-literal host that the outbound policy refuses.

    Names are resolved (and checked again, with every address) at send time by the safe
    client; this only catches what can be known without DNS.
    """
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host in ("localhost", "localhost.localdomain") and not safehttp.is_private_allowed(
            host, "127.0.0.1", safehttp.CHANNELS
        ):
            raise serializers.ValidationError(
                "localhost is not a public address (allow it with GRADENT_ALLOW_PRIVATE_URLS_CHANNELS)"
            ) from None
        return
    if not safehttp.ip_is_public(host) and not safehttp.is_private_allowed(host, host, safehttp.CHANNELS):
        raise serializers.ValidationError(
            f"{host} is not a public address (allow it with the GRADENT_ALLOW_PRIVATE_URLS_CHANNELS setting)"
        )


class HTTPURLField(serializers.CharField):
    """An http(s) URL with a host that the outbound policy does not refuse outright.

    More lenient than URLField on purpose: a self-hosted ntfy or receiver on the LAN may
    have a single-label name (``http://ntfy:8080``).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2000)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip()
        if any(ch.isspace() for ch in value):
            raise serializers.ValidationError("Enter a URL without spaces.")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - validates the port
        except ValueError as exc:
            raise serializers.ValidationError(f"Enter a valid URL: {exc}.") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise serializers.ValidationError("Only http and https URLs are allowed.")
        if not parts.hostname:
            raise serializers.ValidationError("Enter a URL with a host.")
        refuse_private_literal(value)
        return value
