"""Webhook signature schemes, shared by the apps that receive signed webhooks (proactive:
the incoming-webhook view verifies) and those that send them (notifications: the webhook
transport signs). One module per scheme; the registry of names lives with the app that
offers a choice of them (``proactive.signatures``).

Verifying a delivery::

    scheme = get_scheme(webhook.scheme)()
    try:
        verified = scheme.verify(secret=secret, body=request.body, headers=request.headers)
    except SignatureError as exc:
        ...  # store the delivery with exc.reason, answer 401

Every scheme verifies over the raw body bytes with ``hmac.compare_digest``; see
``base.py`` for the order of checks and the ``reason`` values.
"""

from __future__ import annotations

from .base import REASONS, SignatureError, SignatureScheme, Verified

__all__ = ["REASONS", "SignatureError", "SignatureScheme", "Verified"]
