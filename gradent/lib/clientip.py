"""The address a request came from, as far as this deployment can know it.

Directly exposed, that is REMOTE_ADDR. Behind proxies (GRADENT_BEHIND_PROXY) every request
comes from the proxy, so REMOTE_ADDR would put all clients behind one address; each proxy
appends the address it saw to X-Forwarded-For, so with GRADENT_PROXY_COUNT proxies the
client is that many entries from the right. Entries further left were written by the
client itself and are never believed.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    if not settings.GRADENT_BEHIND_PROXY:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    count = settings.GRADENT_PROXY_COUNT
    if len(forwarded) < count:
        # Fewer hops than proxies: the request did not come through all of them.
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
