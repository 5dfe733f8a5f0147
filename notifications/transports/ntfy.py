"""ntfy: publish to a topic on ntfy.sh or a self-hosted server.

POST <server>/<topic> with the message as the body and the Title, Priority (1–5) and Tags
(comma-separated) headers; `Authorization: Bearer <token>` for protected topics. ntfy
answers 200 with the message as JSON, errors as JSON `{"code", "http", "error"}`
(401/403 for a refused token, 429 when the visitor's limits are reached). Header values
outside ASCII are sent as RFC 2047 encoded-words, which ntfy decodes.
"""

from __future__ import annotations

import json
from email.header import Header
from urllib.parse import quote, urlsplit

from rest_framework import serializers

from notifications.transports.base import HTTPTransport, HTTPURLField, Message, TransportResult

DEFAULT_SERVER = "https://ntfy.sh"
TOPIC_PATTERN = r"^[-_A-Za-z0-9]{1,64}$"
LEVEL_PRIORITY = {"error": 4, "warning": 4, "success": 3, "info": 3}
LEVEL_TAG = {"error": "rotating_light", "warning": "warning", "success": "white_check_mark", "info": "bell"}
# ntfy turns longer messages into attachments.
MAX_BODY_BYTES = 4096


def header_value(text: str) -> str:
    text = " ".join(str(text).split())  # no newlines in a header
    if text.isascii():
        return text
    # Encoded-words are folded at 76 characters; a newline is not allowed in an HTTP header,
    # and decoders ignore the whitespace between adjacent encoded-words.
    return Header(text, "utf-8").encode(linesep=" ")


def _truncate_utf8(text: str, limit: int) -> bytes:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[: limit - 3].decode("utf-8", errors="ignore").encode("utf-8") + b"..."


class NtfyTransport(HTTPTransport):
    kind = "ntfy"
    label = "ntfy topic"
    secret_fields = ("token",)
    template_ext = "txt"
    service_name = "ntfy"

    class ConfigSerializer(serializers.Serializer):
        server = HTTPURLField(
            required=False, default=DEFAULT_SERVER, help_text="The public ntfy.sh, or your own server's URL."
        )
        topic = serializers.RegexField(
            TOPIC_PATTERN,
            error_messages={"invalid": "A topic is 1–64 letters, digits, '-' or '_'."},
            help_text="Letters, digits, - and _ (at most 64). On ntfy.sh anyone who knows it can read it.",
        )
        token = serializers.CharField(
            max_length=200, required=False, allow_blank=True, help_text="Access token (tk_…) for protected topics."
        )
        priority = serializers.IntegerField(
            min_value=1, max_value=5, required=False, help_text="1 (min) … 5 (max); empty: by the event's severity."
        )
        tags = serializers.ListField(
            child=serializers.RegexField(r"^[^,\r\n]{1,50}$"),
            required=False,
            max_length=10,
            help_text="Tags or emoji short codes, e.g. robot, warning.",
        )

        def validate_server(self, value: str) -> str:
            parts = urlsplit(value)
            if parts.query or parts.fragment:
                raise serializers.ValidationError("Enter the server's base URL, without a query.")
            return value.rstrip("/")

        def validate_token(self, value: str) -> str:
            if any(ch.isspace() for ch in value) or not value.isascii():
                raise serializers.ValidationError("An access token has no spaces.")
            return value

    @classmethod
    def describe(cls, config: dict) -> str:
        server = config.get("server", DEFAULT_SERVER).split("://", 1)[-1]
        return f"ntfy {server}/{config.get('topic', '')}"

    def send(self, message: Message) -> TransportResult:
        server = self.config.get("server") or DEFAULT_SERVER
        url = f"{server.rstrip('/')}/{quote(self.config['topic'])}"
        priority = self.config.get("priority") or LEVEL_PRIORITY.get(message.level, 3)
        tags = [*(self.config.get("tags") or []), LEVEL_TAG.get(message.level, "bell")]
        headers = {
            "Title": header_value(message.title[:250] or "Gradent"),
            "Priority": str(priority),
            "Tags": header_value(",".join(dict.fromkeys(tags))),
            "Content-Type": "text/plain; charset=utf-8",
        }
        if message.url:
            headers["Click"] = message.url
        if self.config.get("token"):
            headers["Authorization"] = f"Bearer {self.config['token']}"
        text = message.payload if isinstance(message.payload, str) else message.body
        response = self.post(url, data=_truncate_utf8(text, MAX_BODY_BYTES), headers=headers)
        reason = ""
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            reason = str(answer.get("error", ""))
        result = self.check(response, reason=reason)
        if isinstance(answer, dict) and answer.get("id"):
            result.detail = f"ntfy published message {answer['id']} to {answer.get('topic', self.config['topic'])}"
        return result
