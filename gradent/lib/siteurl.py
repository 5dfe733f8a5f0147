"""The address people reach Gradent at, for URLs shown on pages (webhook URLs, curl lines).

SITE_URL wins when it is set. Otherwise a page shows the address its own request came to
(the Host header, which ALLOWED_HOSTS has already checked), so a server started with
`up --port 9000` or reached through a proxy shows URLs that work; code with no request at
hand (messages sent by workers) uses settings.SITE_URL, which then holds `up`'s
--host/--port or http://localhost:8000.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site_url(request: HttpRequest | None = None) -> str:
    """The site's base URL without a trailing slash."""
    if not settings.SITE_URL_SET and request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return settings.SITE_URL.rstrip("/")
