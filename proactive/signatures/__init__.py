"""The signature schemes an incoming webhook may use (DESIGN.md §4, Webhook): the built-ins,
whose code lives in ``gradent.lib.signatures`` (the notifications app signs with it too),
plus users' own :class:`SignatureScheme` subclasses listed in
``GRADENT_EXTRA_SIGNATURE_SCHEMES``. Resolved lazily; the ``proactive.E002`` system check
imports them all.

Usage from the webhook view::

    scheme = get_scheme(webhook.scheme)()
    try:
        verified = scheme.verify(secret=secret, body=request.body, headers=request.headers)
    except SignatureError as exc:
        ...  # store the delivery with exc.reason, answer 401
"""

from __future__ import annotations

from gradent.lib.registry import Registry
from gradent.lib.signatures import REASONS, SignatureError, SignatureScheme, Verified

SCHEMES = Registry(
    "signature scheme",
    setting="GRADENT_EXTRA_SIGNATURE_SCHEMES",
    builtins=[
        "gradent.lib.signatures.standard_webhooks.StandardWebhooksScheme",
        "gradent.lib.signatures.github.GitHubScheme",
        "gradent.lib.signatures.stripe.StripeScheme",
        "gradent.lib.signatures.slack.SlackScheme",
        "gradent.lib.signatures.hmac_sha256.HmacSha256Scheme",
        "gradent.lib.signatures.none.NoSignatureScheme",
    ],
    base=SignatureScheme,
    check_id="proactive.E002",
)


def get_scheme(name: str) -> type[SignatureScheme]:
    """The scheme class registered as ``name``; KeyError naming the known ones otherwise."""
    try:
        return SCHEMES.get(name)
    except KeyError:
        raise KeyError(f"unknown signature scheme {name!r}; known schemes: {', '.join(SCHEMES)}") from None


def scheme_choices() -> list[tuple[str, str]]:
    """``(name, label)`` of every registered scheme, for forms."""
    return SCHEMES.choices()


__all__ = [
    "REASONS",
    "SCHEMES",
    "SignatureError",
    "SignatureScheme",
    "Verified",
    "get_scheme",
    "scheme_choices",
]
