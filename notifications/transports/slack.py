"""Slack: an incoming webhook (https://hooks.slack.com/services/T…/B…/…).

POST a JSON body with `text` (the notification fallback) and `blocks`. Slack answers
200 `ok`; errors are a status with a short text body: 400 `invalid_payload`, 403
`invalid_token` / `action_prohibited`, 404 `no_service` / `channel_not_found`, 410
`channel_is_archived`, 429 with Retry-After, 500 `rollup_error`.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit

from rest_framework import serializers

from notifications.conf import setting
from notifications.transports.base import HTTPTransport, Message, TransportResult, join_base

WEBHOOK_PATH = re.compile(r"^/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{8,300}$")

# What Slack's short error strings mean, for the channel's disabled reason.
ERRORS = {
    "no_service": "the webhook was removed or its app uninstalled",
    "no_team": "the workspace no longer exists",
    "team_disabled": "the workspace is disabled",
    "channel_not_found": "the channel no longer exists",
    "channel_is_archived": "the channel is archived",
    "invalid_token": "the webhook's token is invalid",
    "action_prohibited": "an admin restriction prevents posting",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "invalid_payload": "Slack could not read the message",
}


def webhook_path(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or parts.hostname != "hooks.slack.com" or parts.port not in (None, 443):
        raise ValueError(url)
    if parts.query or not WEBHOOK_PATH.match(parts.path):
        raise ValueError(url)
    return parts.path


class SlackTransport(HTTPTransport):
    kind = "slack"
    label = "Slack incoming webhook"
    secret_fields = ("url",)
    template_ext = "json"
    service_name = "Slack"
    disabling_statuses: ClassVar[frozenset[int]] = frozenset({401, 403, 404, 410})

    class ConfigSerializer(serializers.Serializer):
        url = serializers.CharField(
            max_length=500, help_text="The incoming webhook URL: https://hooks.slack.com/services/T…/B…/…"
        )

        def validate_url(self, value: str) -> str:
            try:
                webhook_path(value)
            except ValueError:
                raise serializers.ValidationError(
                    "Enter a Slack incoming webhook URL: https://hooks.slack.com/services/…"
                ) from None
            return value.strip()

    @classmethod
    def describe(cls, config: dict) -> str:
        return "Slack incoming webhook"

    def send(self, message: Message) -> TransportResult:
        url = join_base(setting("GRADENT_NOTIFY_SLACK_BASE"), webhook_path(self.config["url"]))
        response = self.post(url, json=message.payload)
        code = response.text.strip()[:100]
        reason = f"{code}: {ERRORS[code]}" if code in ERRORS else code
        return self.check(response, reason=reason)
