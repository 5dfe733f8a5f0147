"""A scripted step that errors fails the run, naming the step, unless the step says
``continue_on_error`` (issue 9, item 11: a refused ``http_request`` used to end
``succeeded``). A model-driven run still gets the error back as the tool's result."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents.providers.scripted import ScriptedProvider
from agents.services import start_run
from agents.tasks import execute_run
from tests.fakes.llm_servers import FakeOpenAI
from tests.helpers import make_agent

pytestmark = pytest.mark.django_db

REFUSED = "http://127.0.0.1:9/private"  # loopback: the safe client refuses it (permanent)


def run_of(agent):
    run = start_run(agent)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_a_refused_http_request_step_fails_the_run_naming_the_step():
    agent = make_agent(
        provider_settings={
            "steps": [
                {"id": "fetch", "tool": "http_request", "args": {"url": REFUSED}},
                {"tool": "remember", "args": {"key": "after", "value": "ran"}},
            ],
            "answer": "fetched {{ steps.fetch.status }}",
        },
        allowed_tools=["http_request", "remember"],
        max_attempts=3,
    )
    run = run_of(agent)
    assert run.status == "failed", run.reason
    assert run.attempt == 1  # a refused URL is permanent: not retried
    assert run.reason.startswith("Scripted step steps[0] 'fetch' (http_request) failed: refused")
    assert run.error == run.reason
    assert [(step.name, step.status) for step in run.steps.all()] == [("http_request", "error")]
    assert agent.primary_thread().agent_state == {}  # the step after it never ran


def test_invalid_arguments_fail_the_run_too():
    agent = make_agent(
        provider_settings={"steps": [{"tool": "remember", "args": {"value": 1}}]}, allowed_tools=["remember"]
    )
    run = run_of(agent)
    assert run.status == "failed"
    assert "steps[0] (remember) failed: invalid arguments for remember" in run.reason


def test_a_step_that_continues_on_error_lets_the_run_go_on():
    agent = make_agent(
        provider_settings={
            "steps": [
                {"id": "fetch", "tool": "http_request", "args": {"url": REFUSED}, "continue_on_error": True},
                {"tool": "remember", "args": {"key": "after", "value": "{{ steps.fetch.error }}"}},
            ],
            "answer": "went on",
        },
        allowed_tools=["http_request", "remember"],
    )
    run = run_of(agent)
    assert run.status == "succeeded", run.reason
    assert run.output == "went on"
    assert [step.status for step in run.steps.order_by("index")] == ["error", "ok"]
    assert agent.primary_thread().agent_state["after"].startswith("refused")


def test_a_transient_step_failure_is_retried_then_fails(allow_loopback):
    # Nothing listens on port 9: the connection is refused, which may pass (not permanent).
    agent = make_agent(
        provider_settings={"steps": [{"id": "fetch", "tool": "http_request", "args": {"url": REFUSED}}]},
        allowed_tools=["http_request"],
        max_attempts=2,
    )
    run = start_run(agent)
    assert execute_run(run.pk) == "retrying"
    run.refresh_from_db()
    assert run.status == "queued" and "steps[0] 'fetch' (http_request) failed: request failed" in run.reason
    run.not_before = None
    run.save(update_fields=["not_before"])
    assert execute_run(run.pk) == "failed"
    run.refresh_from_db()
    assert run.reason.startswith("Gave up after 2 attempts: Scripted step steps[0] 'fetch' (http_request) failed")


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_continue_on_error_must_be_a_boolean(value):
    with pytest.raises(ValidationError, match="continue_on_error"):
        ScriptedProvider.validate_settings({"steps": [{"tool": "finish", "continue_on_error": value}]})


def test_continue_on_error_is_kept_by_validation():
    cleaned = ScriptedProvider.validate_settings(
        {"steps": [{"tool": "finish", "continue_on_error": True}, {"tool": "finish", "continue_on_error": False}]}
    )
    assert cleaned["steps"] == [
        {"tool": "finish", "args": {}, "continue_on_error": True},
        {"tool": "finish", "args": {}},
    ]


def test_a_model_still_sees_a_tool_error_and_may_go_on(allow_loopback):
    with FakeOpenAI() as server:
        server.enqueue_tool_calls([("remember", {"value": 1})])
        server.enqueue_text("I could not remember that.")
        agent = make_agent(
            provider="openai", model="m", api_key="k", provider_settings={"base_url": server.base_url},
            allowed_tools=["remember"],
        )  # fmt: skip
        run = run_of(agent)
        results = server.requests[1].tool_results
    assert run.status == "succeeded", run.reason
    assert run.output == "I could not remember that."
    assert "invalid arguments for remember" in str(results)
