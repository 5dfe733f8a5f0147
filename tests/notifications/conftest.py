from __future__ import annotations

import pytest

from tests.notifications import fakes


@pytest.fixture
def notify_settings(settings):
    """Loopback allowed, a short total timeout, quick backoff, three attempts."""
    settings.GRADENT_ALLOW_PRIVATE_URLS_CHANNELS = ["127.0.0.0/8"]
    settings.GRADENT_NOTIFY_TIMEOUT = 1.0
    settings.GRADENT_NOTIFY_MAX_ATTEMPTS = 3
    settings.GRADENT_NOTIFY_RETRY_BASE_SECONDS = 1.0
    settings.GRADENT_NOTIFY_RETRY_MAX_SECONDS = 4.0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


def _peer(behaviour):
    peer = fakes.FakePeer(behaviour).start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def discord_peer(notify_settings):
    for peer in _peer(fakes.discord):
        notify_settings.GRADENT_NOTIFY_DISCORD_BASE = peer.base_url
        yield peer


@pytest.fixture
def slack_peer(notify_settings):
    for peer in _peer(fakes.slack):
        notify_settings.GRADENT_NOTIFY_SLACK_BASE = peer.base_url
        yield peer


@pytest.fixture
def ntfy_peer(notify_settings):
    yield from _peer(fakes.ntfy)


@pytest.fixture
def receiver_peer(notify_settings):
    yield from _peer(fakes.receiver)
