"""Slack ("Verifying requests from Slack", docs.slack.dev/authentication).

- ``X-Slack-Request-Timestamp: <unix seconds>`` and
  ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">``, keyed with the
  signing secret's UTF-8 bytes (the secret is not hex- or base64-decoded).
- Requests more than 5 minutes from now (either direction) are rejected.
- If the signature header carries several comma-separated values, any match passes.
- ``delivery_id``: the Events API's ``event_id`` from a JSON body (Slack keeps it across
  retries; ``X-Slack-Retry-Num``/``X-Slack-Retry-Reason`` only count retries and are not
  ids). Slash commands and interactivity payloads are form-encoded and have no stable id,
  so it is ``None`` for them.
- ``event_type``: for an ``event_callback`` the inner ``event.type`` (``app_mention``,
  ``message``, …), otherwise the top-level ``type`` (``url_verification``, …).
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
    split_list,
    unix_seconds,
)

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"


class SlackScheme(SignatureScheme):
    name = "slack"
    label = "Slack (X-Slack-Signature)"
    has_timestamp = True

    def check_signature(
        self, *, key: bytes, body: bytes, headers: dict[str, str], now: datetime | None, tolerance_seconds: int
    ) -> Verified:
        raw_timestamp = require_header(headers, TIMESTAMP_HEADER)
        raw_signature = require_header(headers, SIGNATURE_HEADER)

        timestamp = parse_unix_seconds(raw_timestamp, TIMESTAMP_HEADER)
        candidates = []
        for value in split_list(raw_signature):
            version, sep, digest_hex = value.partition("=")
            if not sep or version != VERSION:
                continue
            digest = decode_hex_sha256(digest_hex)
            if digest is not None:
                candidates.append(digest)
        if not candidates:
            raise SignatureError(f"the {SIGNATURE_HEADER} header is not v0=<64 hex digits>", reason="malformed_header")

        require_match(key, f"{VERSION}:{raw_timestamp}:".encode() + body, candidates, version=VERSION)

        signed_at = check_tolerance(timestamp, now=now, tolerance_seconds=tolerance_seconds)
        payload = json_object(body) or {}
        event_type = payload.get("type")
        event = payload.get("event")
        if event_type == "event_callback" and isinstance(event, dict) and clean_id(event.get("type")):
            event_type = event.get("type")
        return Verified(
            delivery_id=clean_id(payload.get("event_id")), event_type=clean_id(event_type), timestamp=signed_at
        )

    def signature_headers(
        self, *, key: bytes, body: bytes, now: datetime | None, msg_id: str | None, event_type: str | None
    ) -> dict[str, str]:
        timestamp = str(unix_seconds(now))
        signature = hmac_sha256(key, f"{VERSION}:{timestamp}:".encode() + body).hex()
        return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: f"{VERSION}={signature}"}
