"""Email, through Django's mail settings (EMAIL_BACKEND, EMAIL_HOST…, DEFAULT_FROM_EMAIL)."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from rest_framework import serializers

from notifications.conf import setting
from notifications.transports.base import Message, Transport, TransportError, TransportResult


class EmailTransport(Transport):
    kind = "email"
    label = "Email"
    template_ext = "txt"

    class ConfigSerializer(serializers.Serializer):
        to = serializers.ListField(
            child=serializers.EmailField(),
            min_length=1,
            max_length=20,
            help_text="Addresses that receive the messages.",
        )

    @classmethod
    def describe(cls, config: dict) -> str:
        return "email to " + ", ".join(config.get("to", []))

    def send(self, message: Message) -> TransportResult:
        # The SMTP backend has no timeout unless given one: a hanging server would hold the worker.
        timeout = getattr(settings, "EMAIL_TIMEOUT", None) or float(setting("GRADENT_NOTIFY_TIMEOUT"))
        body = message.payload if isinstance(message.payload, str) else message.body
        subject = " ".join(message.title.split())[:200] or "Gradent"
        try:
            connection = get_connection(timeout=timeout)
            email = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, self.config["to"], connection=connection)
            sent = email.send()
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise TransportError(f"The mail server refused the recipients: {refused}", permanent=True) from None
        except smtplib.SMTPAuthenticationError as exc:
            # The server's credentials are the operator's, not the channel's: retry, do not disable.
            raise TransportError(f"The mail server refused our login: {exc}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"Could not send the email: {exc}") from None
        if not sent:
            raise TransportError("The mail backend sent nothing")
        return TransportResult(detail=f"Email handed to the mail server for {len(self.config['to'])} recipient(s)")
