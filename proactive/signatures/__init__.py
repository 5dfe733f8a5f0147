"""Signature schemes for incoming webhooks (DESIGN.md §4, Webhook).

Usage from the webhook view::

    scheme = get_scheme(webhook.signature_scheme)()
    try:
        verified = scheme.verify(secret=secret, body=request.body, headers=request.headers)
    except SignatureError as exc:
        ...  # store the delivery with exc.reason, answer 401

Every scheme verifies over the raw body bytes with ``hmac.compare_digest``; see
``base.py`` for the order of checks and the ``reason`` values.
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from .base import REASONS, SignatureError, SignatureScheme, Verified

SCHEMES: dict[str, str] = {
    "standard_webhooks": "proactive.signatures.standard_webhooks.StandardWebhooksScheme",
    "github": "proactive.signatures.github.GitHubScheme",
    "stripe": "proactive.signatures.stripe.StripeScheme",
    "slack": "proactive.signatures.slack.SlackScheme",
    "hmac_sha256": "proactive.signatures.hmac_sha256.HmacSha256Scheme",
    "none": "proactive.signatures.none.NoSignatureScheme",
}


def get_scheme(name: str) -> type[SignatureScheme]:
    """The scheme class registered as ``name``; KeyError naming the known ones otherwise."""
    try:
        path = SCHEMES[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown signature scheme {name!r}; known schemes: {', '.join(SCHEMES)}")
    return import_string(path)


SCHEME_CHOICES: list[tuple[str, str]] = [(name, get_scheme(name).label) for name in SCHEMES]

__all__ = [
    "REASONS",
    "SCHEMES",
    "SCHEME_CHOICES",
    "SignatureError",
    "SignatureScheme",
    "Verified",
    "get_scheme",
]
