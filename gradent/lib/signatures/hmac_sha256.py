"""Plain HMAC-SHA256 of the raw body, for senders with no named scheme.

- ``X-Signature`` (or ``X-Signature-256``) carries the hex digest, bare or as
  ``sha256=<hex>`` (hex in either case), keyed with the secret's UTF-8 bytes. Several
  comma-separated values, or both headers, may be sent; any match passes.
- No timestamp is signed, so there is no tolerance check and no replay protection beyond
  de-duplication: prefer Standard Webhooks when the sender can do it.
- ``delivery_id``/``event_type`` come from headers named when the scheme is built
  (``HmacSha256Scheme(delivery_id_header="X-Request-Id", event_type_header="X-Event")``);
  by default there is no delivery id, and the event type is the JSON body's ``type``.
  These headers are not signed: they are only as trustworthy as the sender's transport.
"""

from __future__ import annotations

from datetime import datetime

from .base import (
    SignatureError,
    SignatureScheme,
    Verified,
    clean_id,
    decode_hex_sha256,
    hmac_sha256,
    json_object,
    require_match,
    split_list,
)

SIGNATURE_HEADERS = ("X-Signature", "X-Signature-256")
PREFIX = "sha256="


class HmacSha256Scheme(SignatureScheme):
    name = "hmac_sha256"
    label = "Plain HMAC-SHA256 (X-Signature)"

    def __init__(self, *, delivery_id_header: str | None = None, event_type_header: str | None = None):
        self.delivery_id_header = delivery_id_header
        self.event_type_header = event_type_header

    def check_signature(
        self, *, key: bytes, body: bytes, headers: dict[str, str], now: datetime | None, tolerance_seconds: int
    ) -> Verified:
        values = [headers[name.lower()] for name in SIGNATURE_HEADERS if headers.get(name.lower())]
        if not values:
            raise SignatureError(f"the {' or '.join(SIGNATURE_HEADERS)} header is missing", reason="missing_header")

        candidates = []
        for value in (item for raw in values for item in split_list(raw)):
            if value[: len(PREFIX)].lower() == PREFIX:
                value = value[len(PREFIX) :]
            digest = decode_hex_sha256(value)
            if digest is not None:
                candidates.append(digest)
        if not candidates:
            raise SignatureError(
                "the signature header is not <64 hex digits> or sha256=<64 hex digits>", reason="malformed_header"
            )
        require_match(key, body, candidates, version="sha256")

        delivery_id = clean_id(headers.get(self.delivery_id_header.lower())) if self.delivery_id_header else None
        if self.event_type_header:
            event_type = clean_id(headers.get(self.event_type_header.lower()))
        else:
            event_type = clean_id((json_object(body) or {}).get("type"))
        return Verified(delivery_id=delivery_id, event_type=event_type, timestamp=None)

    def signature_headers(
        self, *, key: bytes, body: bytes, now: datetime | None, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        headers = {SIGNATURE_HEADERS[0]: PREFIX + hmac_sha256(key, body).hex()}
        if self.delivery_id_header and msg_id:
            headers[self.delivery_id_header] = msg_id
        if self.event_type_header and event_type:
            headers[self.event_type_header] = event_type
        return headers
