"""Shared pieces of the incoming-webhook signature schemes.

Every scheme verifies an HMAC-SHA256 over the RAW request body bytes (never a re-serialised
JSON), compares with ``hmac.compare_digest`` and raises :class:`SignatureError` with a
machine-readable ``reason`` the webhook view stores on the delivery.

Order of checks, for every scheme: required headers present (``missing_header``) → headers
parse (``malformed_header``) → signature matches (``bad_signature``) → timestamp within
tolerance (``timestamp_out_of_tolerance``). The signature is checked before the timestamp on
purpose: ``timestamp_out_of_tolerance`` then always means "authentic but stale or from the
future" (a replay, or a sender with a wrong clock), which is what a person reading the
delivery log needs to know; a forged old request is reported as ``bad_signature``.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, ClassVar

REASONS = (
    "missing_header",
    "bad_signature",
    "timestamp_out_of_tolerance",
    "malformed_header",
    "bad_secret",
)

# Unix seconds as a plain decimal integer. 1–12 digits keeps every accepted value inside
# the range ``datetime`` can represent (year 9999 is ~2.5e11).
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Ids and event types longer than this are not trusted as de-duplication keys.
MAX_ID_LENGTH = 255


class SignatureError(Exception):
    """A delivery failed verification. ``reason`` is one of :data:`REASONS`.

    Messages never contain the secret or the expected signature.
    """

    def __init__(self, message: str, *, reason: str):
        if reason not in REASONS:
            raise ValueError(f"unknown SignatureError reason {reason!r}; expected one of {REASONS}")
        super().__init__(message)
        self.message = message
        self.reason = reason

    def __repr__(self) -> str:
        return f"SignatureError({self.message!r}, reason={self.reason!r})"

    def __reduce__(self):
        # Keyword-only ``reason`` would otherwise be lost when pickled (e.g. through django-q).
        return (_rebuild_signature_error, (self.message, self.reason))


def _rebuild_signature_error(message: str, reason: str) -> SignatureError:
    return SignatureError(message, reason=reason)


@dataclass(frozen=True)
class Verified:
    """What a successful verification learned about the delivery.

    ``delivery_id`` is the sender's idempotency key (the same on every retry of one event),
    used to de-duplicate; ``None`` when the scheme has none. ``timestamp`` is the signed
    send time (aware, UTC) for schemes that sign one, else ``None``.
    """

    delivery_id: str | None = None
    event_type: str | None = None
    timestamp: datetime | None = None


class SignatureScheme:
    """Base class. Subclasses set ``name``/``label`` and implement ``check_signature`` and
    ``signature_headers`` (and ``key`` when the secret is not used as its UTF-8 bytes);
    ``verify`` and ``sign`` do the shared preamble and call them.

    ``headers`` may be any mapping of HTTP header names to values (e.g. Django's
    ``request.headers``, or a plain dict in any letter case): names are compared
    case-insensitively. ``now`` defaults to the current time; a naive ``now`` is taken as
    UTC. Pass the original receive time as ``now`` to re-verify a stored delivery.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # True for schemes whose signature covers a timestamp (tolerance applies).
    has_timestamp: ClassVar[bool] = False

    def verify(
        self,
        *,
        secret: str,
        body: bytes,
        headers: Mapping[str, str],
        now: datetime | None = None,
        tolerance_seconds: int = 300,
    ) -> Verified:
        """What the delivery says about itself, or :class:`SignatureError`. The preamble every
        scheme shares (raw body bytes, a usable key, header names in lower case) is done here;
        the scheme's own part is :meth:`check_signature`."""
        body = require_bytes(body)
        key = self.key(secret)
        return self.check_signature(
            key=key, body=body, headers=normalise_headers(headers), now=now, tolerance_seconds=tolerance_seconds
        )

    @classmethod
    def key(cls, secret: str | None) -> bytes:
        """The HMAC key: the secret's UTF-8 bytes unless the scheme encodes it otherwise."""
        return require_secret(secret).encode()

    def check_signature(
        self, *, key: bytes, body: bytes, headers: dict[str, str], now: datetime | None, tolerance_seconds: int
    ) -> Verified:
        """Verify ``body`` against ``headers`` (names already lower-cased) with ``key``."""
        raise NotImplementedError

    def sign(
        self,
        *,
        secret: str,
        body: bytes,
        now: datetime | None = None,
        msg_id: str | None = None,
        event_type: str | None = None,
    ) -> dict[str, str]:
        """The headers a sender would add to deliver ``body`` (tests, "send test delivery",
        replay dry-runs). ``event_type`` is used only where the scheme carries it in a header.
        The preamble is shared, as :meth:`verify`'s; the scheme's own part is
        :meth:`signature_headers`."""
        return self.signature_headers(
            key=self.key(secret), body=require_bytes(body), now=now, msg_id=msg_id, event_type=event_type
        )

    def signature_headers(
        self, *, key: bytes, body: bytes, now: datetime | None, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        raise NotImplementedError

    @classmethod
    def generate_secret(cls) -> str:
        return secrets.token_urlsafe(32)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# --- helpers shared by the schemes -------------------------------------------------------


def normalise_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case header names; values are stripped of surrounding whitespace."""
    return {str(key).lower(): str(value).strip() for key, value in headers.items()}


def require_header(headers: dict[str, str], name: str) -> str:
    value = headers.get(name.lower(), "")
    if not value:
        raise SignatureError(f"the {name} header is missing", reason="missing_header")
    return value


def require_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    raise TypeError(f"body must be the raw request bytes, not {type(body).__name__}")


def require_secret(secret: str | None) -> str:
    if not isinstance(secret, str) or not secret:
        raise SignatureError("no signing secret is configured", reason="bad_secret")
    return secret


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, sha256).digest()


def require_match(key: bytes, message: bytes, candidates: Iterable[bytes], *, version: str) -> None:
    """Raise ``bad_signature`` unless a candidate is the HMAC-SHA256 of ``message``."""
    if not any_digest_matches(hmac_sha256(key, message), candidates):
        raise SignatureError(f"no {version} signature matches the body and secret", reason="bad_signature")


def any_digest_matches(expected: bytes, candidates: Iterable[bytes]) -> bool:
    """Constant-time compare against every candidate (no early exit on a match)."""
    matched = False
    for candidate in candidates:
        # Non-short-circuiting: every candidate is compared.
        matched = hmac.compare_digest(expected, candidate) | matched
    return matched


def decode_hex_sha256(value: str) -> bytes | None:
    if not _HEX_SHA256.fullmatch(value):
        return None
    return bytes.fromhex(value)


def split_list(value: str) -> list[str]:
    """Split a header that may carry several values, comma-separated (RFC 9110 combines a
    repeated header that way) and/or space-separated."""
    return [part for part in re.split(r"[\s,]+", value) if part]


def utcnow(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now


def parse_unix_seconds(value: str, header: str) -> int:
    if not _UNIX_SECONDS.fullmatch(value):
        raise SignatureError(f"the {header} timestamp is not a Unix time in whole seconds", reason="malformed_header")
    return int(value)


def check_tolerance(timestamp: int, *, now: datetime | None, tolerance_seconds: int) -> datetime:
    """Raise unless ``timestamp`` is within ±``tolerance_seconds`` of ``now`` (the boundary
    itself passes); return it as an aware UTC datetime."""
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must be >= 0")
    current = int(utcnow(now).timestamp())
    skew = timestamp - current
    if skew < -tolerance_seconds:
        raise SignatureError(
            f"the signed timestamp is {-skew} s old; at most {tolerance_seconds} s is accepted",
            reason="timestamp_out_of_tolerance",
        )
    if skew > tolerance_seconds:
        raise SignatureError(
            f"the signed timestamp is {skew} s in the future; at most {tolerance_seconds} s is accepted",
            reason="timestamp_out_of_tolerance",
        )
    return datetime.fromtimestamp(timestamp, UTC)


def unix_seconds(now: datetime | None) -> int:
    return int(utcnow(now).timestamp())


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None if it is not one. Only called after the signature
    has been verified."""
    if not body.lstrip()[:1] == b"{":
        return None
    try:
        value = json.loads(body)
    except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
        return None
    return value if isinstance(value, dict) else None


def clean_id(value: Any) -> str | None:
    """A usable id/event type: a non-empty string (or integer) of at most MAX_ID_LENGTH chars."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_ID_LENGTH:
        return None
    return value
