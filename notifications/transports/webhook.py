"""A generic webhook: the notification as JSON, POSTed to any URL.

Body: ``{"type": <event>, "timestamp": <ISO 8601>, "data": {...}}`` (the Standard Webhooks
payload shape). With a signing secret (``whsec_…``), the Standard Webhooks headers
``webhook-id`` (the same on every retry of one notification: the receiver's idempotency
key), ``webhook-timestamp`` and ``webhook-signature`` let the receiver verify us with any
Standard Webhooks library.
"""

from __future__ import annotations

import json
from typing import ClassVar
from urllib.parse import urlsplit

from rest_framework import serializers

from gradent.lib.signatures.base import SignatureError
from gradent.lib.signatures.standard_webhooks import StandardWebhooksScheme, decode_secret
from notifications.transports.base import HTTPTransport, HTTPURLField, Message, TransportResult


class WebhookTransport(HTTPTransport):
    kind = "webhook"
    label = "Webhook (JSON POST, Standard Webhooks signature)"
    # The URL is secret too: receivers often put a token in the path or the query.
    secret_fields = ("url", "signing_secret")
    template_ext = "json"
    service_name = "the webhook receiver"
    disabling_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404, 410})

    class ConfigSerializer(serializers.Serializer):
        url = HTTPURLField(help_text="Where the JSON is POSTed.")
        signing_secret = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            help_text="Standard Webhooks secret (whsec_ + base64) to sign each request; empty sends unsigned.",
        )

        def validate_signing_secret(self, value: str) -> str:
            if not value:
                return value
            try:
                decode_secret(value)
            except SignatureError as exc:
                raise serializers.ValidationError(str(exc)) from None
            return value.strip()

    @classmethod
    def describe(cls, config: dict) -> str:
        parts = urlsplit(config.get("url", ""))
        signed = ", signed" if config.get("signing_secret") else ""
        return f"POST {parts.scheme}://{parts.netloc}/…{signed}" if parts.netloc else "webhook"

    @staticmethod
    def message_id(message: Message) -> str:
        return f"msg_gradent_{message.notification_id}" if message.notification_id else ""

    def send(self, message: Message) -> TransportResult:
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "Gradent-Notifications"}
        if self.config.get("signing_secret"):
            headers.update(
                StandardWebhooksScheme().sign(
                    secret=self.config["signing_secret"],
                    body=body,
                    msg_id=self.message_id(message) or None,
                )
            )
        response = self.post(self.config["url"], data=body, headers=headers)
        return self.check(response)
