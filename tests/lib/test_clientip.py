"""The client's address: REMOTE_ADDR directly exposed; behind N proxies, the N-th
X-Forwarded-For entry from the right (what the client wrote itself is never believed)."""

from __future__ import annotations

from django.test import RequestFactory

from gradent.lib.clientip import client_ip


def request(forwarded: str | None = None, remote: str = "127.0.0.1"):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_it_ignores_forwarded_for_when_not_behind_a_proxy(settings):
    settings.GRADENT_BEHIND_PROXY = False
    assert client_ip(request("203.0.113.7")) == "127.0.0.1"


def test_it_takes_the_entry_the_outermost_proxy_wrote(settings):
    settings.GRADENT_BEHIND_PROXY = True
    settings.GRADENT_PROXY_COUNT = 1
    assert client_ip(request("1.1.1.1, 203.0.113.7")) == "203.0.113.7"
    settings.GRADENT_PROXY_COUNT = 2
    assert client_ip(request("1.1.1.1, 203.0.113.7, 10.0.0.2")) == "203.0.113.7"


def test_it_falls_back_to_the_peer_on_a_short_or_bad_header(settings):
    settings.GRADENT_BEHIND_PROXY = True
    settings.GRADENT_PROXY_COUNT = 2
    assert client_ip(request("203.0.113.7")) == "127.0.0.1"
    assert client_ip(request()) == "127.0.0.1"
    settings.GRADENT_PROXY_COUNT = 1
    assert client_ip(request("not-an-address")) == "127.0.0.1"
    assert client_ip(request("2001:db8::1")) == "2001:db8::1"
