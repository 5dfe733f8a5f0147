"""Stripe ("Verify webhook signatures manually", docs.stripe.com/webhooks).

- ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]``: comma-separated
  ``key=value`` elements; ``t`` is the timestamp, every ``v1`` is a candidate signature
  (several during secret rotation; any match passes); other schemes (``v0``) are ignored.
- Signed payload: ``{t}.{raw body}``, HMAC-SHA256 keyed with the endpoint secret's UTF-8
  bytes (the whole ``whsec_…`` string, not base64-decoded).
- Tolerance (default 300 s, Stripe's default) is enforced in both directions; Stripe's own
  libraries only reject old timestamps.
- ``delivery_id`` is the event id (``evt_…``, the JSON body's ``id``, the same on every
  retry) and ``event_type`` the body's ``type``.
"""

from __future__ import annotations

from datetime import datetime

from .base import (
    SignatureError,
    SignatureScheme,
    Verified,
    check_tolerance,
    clean_id,
    decode_hex_sha256,
    hmac_sha256,
    json_object,
    parse_unix_seconds,
    require_header,
    require_match,
    unix_seconds,
)

SIGNATURE_HEADER = "Stripe-Signature"
SCHEME = "v1"


class StripeScheme(SignatureScheme):
    name = "stripe"
    label = "Stripe (Stripe-Signature)"
    has_timestamp = True

    def check_signature(
        self, *, key: bytes, body: bytes, headers: dict[str, str], now: datetime | None, tolerance_seconds: int
    ) -> Verified:
        raw = require_header(headers, SIGNATURE_HEADER)

        timestamps: list[str] = []
        candidates: list[bytes] = []
        for element in raw.split(","):
            prefix, sep, value = element.strip().partition("=")
            if not sep:
                raise SignatureError(
                    f"the {SIGNATURE_HEADER} header is not a list of key=value elements", reason="malformed_header"
                )
            if prefix == "t":
                timestamps.append(value.strip())
            elif prefix == SCHEME:
                digest = decode_hex_sha256(value.strip())
                if digest is not None:
                    candidates.append(digest)
        if len(timestamps) != 1:
            raise SignatureError(
                f"the {SIGNATURE_HEADER} header must carry exactly one t=<timestamp>", reason="malformed_header"
            )
        raw_timestamp = timestamps[0]
        timestamp = parse_unix_seconds(raw_timestamp, SIGNATURE_HEADER)
        if not candidates:
            raise SignatureError(
                f"the {SIGNATURE_HEADER} header has no v1=<64 hex digits> signature", reason="malformed_header"
            )

        require_match(key, f"{raw_timestamp}.".encode() + body, candidates, version=SCHEME)

        signed_at = check_tolerance(timestamp, now=now, tolerance_seconds=tolerance_seconds)
        payload = json_object(body) or {}
        return Verified(
            delivery_id=clean_id(payload.get("id")), event_type=clean_id(payload.get("type")), timestamp=signed_at
        )

    def signature_headers(
        self, *, key: bytes, body: bytes, now: datetime | None, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        timestamp = str(unix_seconds(now))
        signature = hmac_sha256(key, f"{timestamp}.".encode() + body).hex()
        return {SIGNATURE_HEADER: f"t={timestamp},{SCHEME}={signature}"}
