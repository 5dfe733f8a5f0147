"""No signature: every delivery is accepted. Only for webhooks a person explicitly made
unsigned (the URL path is then the only secret). Nothing is extracted: ``Verified`` is all
``None``, so such deliveries are never de-duplicated."""

from __future__ import annotations

from datetime import datetime

from .base import SignatureScheme, Verified


class NoSignatureScheme(SignatureScheme):
    name = "none"
    label = "None (unsigned: anyone with the URL can deliver)"

    @classmethod
    def key(cls, secret: str | None) -> bytes:
        return b""  # no secret to check

    def check_signature(
        self, *, key: bytes, body: bytes, headers: dict[str, str], now: datetime | None, tolerance_seconds: int
    ) -> Verified:
        return Verified(delivery_id=None, event_type=None, timestamp=None)

    def signature_headers(
        self, *, key: bytes, body: bytes, now: datetime | None, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        return {}
