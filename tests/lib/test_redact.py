from __future__ import annotations

import pytest
import requests

from gradent.lib import safehttp
from gradent.lib.redact import redact


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (
            "Max retries exceeded with url: /api/webhooks/123/tok_Discord?wait=true (Caused by ...)",
            ["url: /api/webhooks/", "wait="],
            ["tok_Discord", "123", "true"],
        ),
        (
            "https://hooks.slack.com/services/T0AB/B0CD/slackSecret9",
            ["https://hooks.slack.com/services/"],
            ["slackSecret9", "T0AB"],
        ),
        ("ntfy at http://ntfy.lan:8080/my-private-topic failed", ["http://ntfy.lan:8080/"], ["my-private-topic"]),
        (
            "https://user:pa55word@example.com/x?key=AIzaKey&v=1#frag",
            ["example.com", "key=", "v="],
            ["pa55word", "user", "AIzaKey", "frag"],
        ),
        ("could not connect to OpenAI at http://127.0.0.1:1/v1/chat/completions", ["/v1/chat/completions"], []),
    ],
)
def test_it_keeps_where_and_removes_the_credentials(text, kept, gone):
    clean = redact(text)
    for part in kept:
        assert part in clean
    for part in gone:
        assert part not in clean


def test_it_removes_known_secret_values_anywhere():
    assert redact("header said Bearer tk_abcdef", ["tk_abcdef"]) == "header said Bearer [redacted]"


def test_safehttp_errors_carry_no_path_or_query_but_keep_the_cause(allow_loopback):
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        safehttp.request("POST", "http://127.0.0.1:9/api/webhooks/1/SeCrEtToKeN?token=QuErY")
    text = str(caught.value)
    assert "SeCrEtToKeN" not in text and "QuErY" not in text and "127.0.0.1" in text
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
