"""Standard Webhooks (https://www.standardwebhooks.com, spec/standard-webhooks.md v1.0.0).

- Headers ``webhook-id``, ``webhook-timestamp`` (integer Unix seconds), ``webhook-signature``.
- Signed content: ``{webhook-id}.{webhook-timestamp}.{raw body}``, HMAC-SHA256.
- ``webhook-signature`` is a space-delimited list of ``<version>,<base64 signature>``; several
  are sent during secret rotation and any ``v1`` match passes. Other versions (``v1a`` is the
  asymmetric ed25519 scheme) are ignored.
- Secrets are serialised as ``whsec_`` + base64 of the key bytes (24–64 random bytes). The
  prefix is optional on input, as in the official libraries: the rest is base64 either way
  (a secret that is not valid base64 is rejected as ``bad_secret``, where the official Python
  library would silently drop the invalid characters).
- The timestamp must be within the tolerance (default 5 minutes) in both directions.
- ``delivery_id`` is ``webhook-id`` (the same on retries: the spec's idempotency key);
  ``event_type`` is the JSON body's ``type``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime

from .base import (
    SignatureError,
    SignatureScheme,
    Verified,
    check_tolerance,
    clean_id,
    hmac_sha256,
    json_object,
    parse_unix_seconds,
    require_header,
    require_match,
    require_secret,
    unix_seconds,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the serialisation prefix, not a secret
SIGNATURE_VERSION = "v1"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def _b64decode(value: str) -> bytes:
    """Strict standard base64; missing padding is tolerated."""
    value = value.rstrip("=")
    return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)


def decode_secret(secret: str) -> bytes:
    secret = require_secret(secret).strip()
    if secret.startswith(SECRET_PREFIX):
        secret = secret[len(SECRET_PREFIX) :]
    try:
        key = _b64decode(secret)
    except (binascii.Error, ValueError):
        raise SignatureError(
            "the Standard Webhooks secret must be base64 (optionally prefixed with whsec_)", reason="bad_secret"
        )
    if not key:
        raise SignatureError("the Standard Webhooks secret is empty", reason="bad_secret")
    return key


class StandardWebhooksScheme(SignatureScheme):
    name = "standard_webhooks"
    label = "Standard Webhooks (webhook-signature)"
    has_timestamp = True

    @classmethod
    def key(cls, secret: str | None) -> bytes:
        return decode_secret(secret)

    def check_signature(
        self, *, key: bytes, body: bytes, headers: dict[str, str], now: datetime | None, tolerance_seconds: int
    ) -> Verified:
        msg_id = require_header(headers, ID_HEADER)
        raw_timestamp = require_header(headers, TIMESTAMP_HEADER)
        raw_signatures = require_header(headers, SIGNATURE_HEADER)

        timestamp = parse_unix_seconds(raw_timestamp, TIMESTAMP_HEADER)
        candidates = []
        for entry in raw_signatures.split():
            version, sep, value = entry.partition(",")
            if not sep or version != SIGNATURE_VERSION:
                continue
            try:
                candidates.append(_b64decode(value))
            except (binascii.Error, ValueError):
                continue
        if not candidates:
            raise SignatureError(
                f"the {SIGNATURE_HEADER} header has no v1,<base64> signature", reason="malformed_header"
            )

        require_match(key, f"{msg_id}.{raw_timestamp}.".encode() + body, candidates, version=SIGNATURE_VERSION)

        signed_at = check_tolerance(timestamp, now=now, tolerance_seconds=tolerance_seconds)
        payload = json_object(body) or {}
        return Verified(delivery_id=clean_id(msg_id), event_type=clean_id(payload.get("type")), timestamp=signed_at)

    def signature_headers(
        self, *, key: bytes, body: bytes, now: datetime | None, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        msg_id = msg_id or f"msg_{secrets.token_urlsafe(18)}"
        timestamp = str(unix_seconds(now))
        signature = base64.b64encode(hmac_sha256(key, f"{msg_id}.{timestamp}.".encode() + body)).decode()
        return {
            ID_HEADER: msg_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: f"{SIGNATURE_VERSION},{signature}",
        }

    @classmethod
    def generate_secret(cls) -> str:
        return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
