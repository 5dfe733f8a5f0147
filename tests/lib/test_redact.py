from __future__ import annotations

import json
import socket

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


@pytest.mark.django_db
def test_a_model_endpoint_error_keeps_its_key_out_of_the_run(allow_loopback, run_inline):
    from agents.models import Run
    from agents.services import start_run
    from tests.helpers import make_agent

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    agent = make_agent(
        provider="openai",
        model="m",
        max_attempts=1,
        provider_settings={"base_url": f"http://127.0.0.1:{port}/v1?key=AIzaModelKey"},
    )
    with run_inline(execute=True):
        run = start_run(agent)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed" and f"127.0.0.1:{port}" in (run.error + run.reason)
    assert "AIzaModelKey" not in run.error + run.reason + json.dumps(list(run.steps.values("error", "output")))


@pytest.mark.django_db
def test_a_tool_error_keeps_the_path_token_out_of_the_step(allow_loopback):
    from agents.executor import execute_run
    from agents.services import start_run
    from tests.helpers import make_agent

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/hooks/ToolPathToken9?sig=ToolQuerySig9"
    agent = make_agent(
        provider_settings={"steps": [{"tool": "http_request", "args": {"url": url}}], "answer": "x"},
        allowed_tools=["http_request"],
    )
    run = start_run(agent)
    execute_run(run.pk)
    step = run.steps.get()
    assert step.status == "error" and "Connection refused" in step.error
    assert "ToolPathToken9" not in step.error and "ToolQuerySig9" not in step.error
