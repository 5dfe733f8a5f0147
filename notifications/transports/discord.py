"""Discord: execute a channel webhook with an embed.

POST https://discord.com/api/webhooks/<id>/<token>?wait=true with a JSON body
(`content`, `username`, `embeds`, `allowed_mentions`). With `wait=true` Discord answers
200 with the created message; a rate limit is 429 with a JSON body whose `retry_after`
is in seconds (and a Retry-After header); a deleted webhook is 404 `Unknown Webhook`
(code 10015), a wrong token 401.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from rest_framework import serializers

from notifications.conf import setting
from notifications.transports.base import (
    HTTPTransport,
    Message,
    TransportError,
    TransportResult,
    join_base,
)

WEBHOOK_URL = re.compile(
    r"^https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com/api(?:/v\d{1,2})?/webhooks/(?P<id>\d{1,30})/(?P<token>[A-Za-z0-9._-]{1,200})/?$"
)


def parse_webhook_url(url: str) -> tuple[str, str, str]:
    """(id, token, thread_id) of a Discord webhook URL, or ValueError."""
    parts = urlsplit(url.strip())
    match = WEBHOOK_URL.match(f"{parts.scheme}://{parts.netloc}{parts.path}")
    if not match:
        raise ValueError(url)
    thread_id = (parse_qs(parts.query).get("thread_id") or [""])[0]
    if thread_id and not thread_id.isdigit():
        raise ValueError(url)
    return match["id"], match["token"], thread_id


class DiscordTransport(HTTPTransport):
    kind = "discord"
    label = "Discord webhook"
    secret_fields = ("url",)
    template_ext = "json"
    service_name = "Discord"
    disabling_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404})

    class ConfigSerializer(serializers.Serializer):
        url = serializers.CharField(
            max_length=500,
            help_text="The webhook URL: https://discord.com/api/webhooks/<id>/<token> (Integrations → Webhooks).",
        )
        username = serializers.CharField(
            max_length=80, required=False, allow_blank=True, help_text="Overrides the webhook's name."
        )

        def validate_url(self, value: str) -> str:
            try:
                parse_webhook_url(value)
            except ValueError:
                raise serializers.ValidationError(
                    "Enter a Discord webhook URL: https://discord.com/api/webhooks/<id>/<token>."
                ) from None
            return value.strip()

    @classmethod
    def describe(cls, config: dict) -> str:
        try:
            webhook_id, _, _ = parse_webhook_url(config.get("url", ""))
        except ValueError:
            return "Discord webhook"
        return f"Discord webhook {webhook_id}"

    def send(self, message: Message) -> TransportResult:
        webhook_id, token, thread_id = parse_webhook_url(self.config["url"])
        query = {"wait": "true"}
        if thread_id:
            query["thread_id"] = thread_id
        url = join_base(setting("GRADENT_NOTIFY_DISCORD_BASE"), f"/api/webhooks/{webhook_id}/{token}", urlencode(query))
        body: dict[str, Any] = dict(message.payload or {})
        # Agent output must never ping @everyone or a role.
        body.setdefault("allowed_mentions", {"parse": []})
        if self.config.get("username"):
            body.setdefault("username", self.config["username"])
        response = self.post(url, json=body)
        answer = _json(response.content)
        answer = answer if isinstance(answer, dict) else {}
        reason = str(answer.get("message", ""))
        if response.status_code == 404:
            reason = f"{reason or 'Unknown Webhook'}: the webhook was deleted; create a new one and update the channel"
        try:
            result = self.check(response, reason=reason)
        except TransportError as exc:
            if response.status_code == 429:
                # The body's retry_after (seconds, with decimals) is the precise one.
                exc.retry_after = max(_seconds(answer.get("retry_after")), exc.retry_after or 0.0) or None
            raise
        if answer.get("id"):
            result.detail = f"Discord posted message {answer['id']}"
        return result


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    return seconds if 0 <= seconds < float("inf") else 0.0


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None
