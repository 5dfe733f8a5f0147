"""GitHub webhooks ("Validating webhook deliveries", docs.github.com).

- ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``, keyed with the secret's
  UTF-8 bytes. No timestamp is signed, so there is no tolerance check: replays are stopped
  by de-duplicating on ``X-GitHub-Delivery``.
- The legacy SHA-1 ``X-Hub-Signature`` is not accepted.
- If the signature header carries several comma-separated values (a repeated header
  combined by a proxy), any match passes.
- ``delivery_id`` is ``X-GitHub-Delivery`` (a GUID, the same when a delivery is redelivered);
  ``event_type`` is ``X-GitHub-Event`` (``push``, ``ping``, …).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from .base import (
    SignatureError,
    SignatureScheme,
    Verified,
    clean_id,
    decode_hex_sha256,
    hmac_sha256,
    require_header,
    require_match,
    split_list,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-GitHub-Delivery"
EVENT_HEADER = "X-GitHub-Event"
PREFIX = "sha256="


class GitHubScheme(SignatureScheme):
    name = "github"
    label = "GitHub (X-Hub-Signature-256)"

    def check_signature(
        self, *, key: bytes, body: bytes, headers: dict[str, str], now: datetime | None, tolerance_seconds: int
    ) -> Verified:
        raw = require_header(headers, SIGNATURE_HEADER)

        candidates = []
        for value in split_list(raw):
            if value[: len(PREFIX)].lower() != PREFIX:
                continue
            digest = decode_hex_sha256(value[len(PREFIX) :])
            if digest is not None:
                candidates.append(digest)
        if not candidates:
            raise SignatureError(
                f"the {SIGNATURE_HEADER} header is not sha256=<64 hex digits>", reason="malformed_header"
            )
        require_match(key, body, candidates, version="sha256")
        return Verified(
            delivery_id=clean_id(headers.get(DELIVERY_HEADER.lower())),
            event_type=clean_id(headers.get(EVENT_HEADER.lower())),
            timestamp=None,
        )

    def signature_headers(
        self, *, key: bytes, body: bytes, now: datetime | None, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        return {
            SIGNATURE_HEADER: PREFIX + hmac_sha256(key, body).hex(),
            DELIVERY_HEADER: msg_id or str(uuid.uuid4()),
            EVENT_HEADER: event_type or "ping",
        }
