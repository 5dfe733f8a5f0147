"""Take secrets out of text that may name a URL, before it is stored, logged or shown.

Webhook URLs carry their credentials in the path (Discord ``/api/webhooks/<id>/<token>``,
Slack ``/services/T…/B…/<token>``), an ntfy topic is a password on a public server, query
strings carry ``?token=`` and ``?key=``, and ``user:password@`` rides in the authority. Error
texts of HTTP libraries repeat the URL (urllib3: ``Max retries exceeded with url:
/api/webhooks/1/abc?wait=true``). :func:`redact` keeps what helps a person find the fault —
the scheme, host and port, the names of query parameters, and path segments that are common
API words (``api``, ``v1``, ``webhooks``, ``chat``, ``completions``…) — and replaces the rest
with ``[redacted]``. Known secret values given by the caller are replaced wherever they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[redacted]"

# Path segments shown as they are: words of public APIs, never a credential.
_PUBLIC_SEGMENTS = frozenset(
    {
        "api",
        "apis",
        "hooks",
        "webhook",
        "webhooks",
        "services",
        "chat",
        "completions",
        "messages",
        "models",
        "embeddings",
        "responses",
        "healthz",
        "health",
        "status",
        "schema",
        "json",
        "send",
        "publish",
        "notify",
        "events",
        "v",
    }
)
_VERSION = re.compile(r"^v\d{1,2}(?:beta\d?|alpha\d?)?$", re.IGNORECASE)

# scheme://authority[path][?query][#fragment], up to a space, a quote or a closing parenthesis
# (brackets are part of URLs: IPv6 hosts, and the mask itself, so redacting twice is harmless).
_URL = re.compile(r"""(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,15})://(?P<rest>[^\s"'<>`)]*)""")
# A request target without its origin, as urllib3 and http.client print it.
_BARE_PATH = re.compile(
    r"""(?P<lead>\b(?:url|path|target):\s*|\b(?:GET|POST|PUT|PATCH|DELETE|HEAD)\s+)(?P<path>/[^\s"'<>`)]*)"""
)


def _segment(segment: str) -> str:
    if not segment:
        return segment
    if segment.lower() in _PUBLIC_SEGMENTS or _VERSION.match(segment):
        return segment
    return MASK


def _path_and_rest(text: str) -> str:
    """A path with its query and fragment, secrets replaced."""
    fragment = ""
    if "#" in text:
        text, fragment = text.split("#", 1)
        fragment = "#" + MASK if fragment else "#"
    query = None
    if "?" in text:
        text, query = text.split("?", 1)
    path = "/".join(_segment(part) for part in text.split("/"))
    if query is not None:
        pairs = []
        for pair in query.split("&"):
            if not pair:
                continue
            name, sep, value = pair.partition("=")
            pairs.append(f"{name}={MASK}" if sep and value else pair if not sep else f"{name}=")
        path += "?" + "&".join(pairs)
    return path + fragment


def _redact_url(match: re.Match[str]) -> str:
    rest = match["rest"]
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:  # userinfo
        authority = MASK + "@" + authority.rsplit("@", 1)[1]
    return f"{match['scheme']}://{authority}{_path_and_rest(tail)}"


def _redact_bare(match: re.Match[str]) -> str:
    return match["lead"] + _path_and_rest(match["path"])


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """``text`` (made a string) with URL credentials and the given secret values replaced.

    Secrets shorter than 4 characters are ignored (replacing them would mangle the text
    without hiding anything worth hiding).
    """
    result = str(text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        result = result.replace(secret, MASK)
    result = _URL.sub(_redact_url, result)
    return _BARE_PATH.sub(_redact_bare, result)
