"""Incoming webhooks end to end: POST /api/hooks/<url_path> and the webhook API
(DESIGN.md §4, Webhook). Requests are raw bytes, signed as each sender signs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as SWWebhook

from agents.models import Agent, Run, RunStatus
from proactive.models import Trigger, Webhook, WebhookDelivery
from proactive.signatures import get_scheme
from proactive.sources import WebhookDeliverySource
from tests.helpers import auth, make_agent, make_user, token_for

pytestmark = pytest.mark.django_db

PR_TEMPLATE = "Review PR #{{ pull_request.number }}: {{ pull_request.title }}"


def pr_event(action: str = "opened", number: int = 7, title: str = "Fix the tides") -> dict:
    return {
        "action": action,
        "number": number,
        "pull_request": {"number": number, "title": title, "user": {"login": "octocat"}},
        "repository": {"full_name": "owner/repo"},
    }


def make_hook(*, scheme: str = "standard_webhooks", config=None, template: str = "Handle {{ type }}", agent=None,
              **fields) -> Webhook:  # fmt: skip
    agent = agent or make_agent()
    trigger = Trigger.objects.create(
        workspace=agent.workspace, agent=agent, name="hook trigger", config=config or {}, task_template=template
    )
    secret = get_scheme(scheme).generate_secret()
    return Webhook.objects.create(workspace=agent.workspace, trigger=trigger, scheme=scheme, secret=secret, **fields)


def send(client, hook, body: bytes, headers=None, content_type: str = "application/json", dispatch=True, **extra):
    """POST a delivery, then (as the dispatcher does within a tick) start pending runs."""
    path = hook if isinstance(hook, str) else hook.url_path
    response = client.post(f"/api/hooks/{path}", data=body, content_type=content_type, headers=headers or {}, **extra)
    if dispatch:
        WebhookDeliverySource().tick(timezone.now())
    return response


def signed(hook: Webhook, body: bytes, **kwargs) -> dict:
    return get_scheme(hook.scheme)().sign(secret=hook.secret, body=body, **kwargs)


def sw_headers(secret: str, body: bytes, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", when=None) -> dict:
    """Signed by the official Standard Webhooks library, as a real sender would."""
    when = when or datetime.now(UTC)
    signature = SWWebhook(secret).sign(msg_id, when, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())), "webhook-signature": signature}


def gh_headers(hook: Webhook, body: bytes, event: str, delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958"):
    return signed(hook, body, msg_id=delivery, event_type=event)


# --- Standard Webhooks ------------------------------------------------------------------------


def test_standard_webhooks_delivery_starts_a_run_and_redelivery_is_a_duplicate(client):
    hook = make_hook(template="Invoice {{ data.invoice }} for {{ data.customer.name }} was {{ type }}")
    event = {"type": "invoice.paid", "data": {"invoice": "in_42", "customer": {"name": "Ada"}}}
    body = json.dumps(event).encode()
    headers = sw_headers(hook.secret, body)

    response = send(client, hook, body, headers)
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["status"] == "accepted"
    delivery = WebhookDelivery.objects.get()
    assert answer["delivery"] == delivery.pk
    assert delivery.webhook == hook
    assert delivery.workspace_id == hook.workspace_id
    assert delivery.verdict == "accepted"
    assert delivery.status_code == 202
    assert bytes(delivery.body) == body
    assert delivery.body_size == len(body)
    assert delivery.headers["webhook-id"] == headers["webhook-id"]
    assert delivery.headers["webhook-signature"] == headers["webhook-signature"]
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.delivery_id == headers["webhook-id"]
    assert delivery.event_type == "invoice.paid"

    run = Run.objects.get()
    assert "run" not in answer  # answered before the run existed
    assert delivery.run == run
    assert run.source == "webhook"
    assert run.source_ref == f"trigger:{hook.trigger_id}"
    assert run.status == RunStatus.QUEUED
    assert run.input["task"] == "Invoice in_42 for Ada was invoice.paid"
    assert run.payload == event
    hook.trigger.refresh_from_db()
    assert hook.trigger.fire_count == 1

    again = send(client, hook, body, sw_headers(hook.secret, body))  # a retry: same webhook-id, fresh timestamp
    assert again.status_code == 200, again.content
    assert again.json()["status"] == "duplicate"
    assert Run.objects.count() == 1
    assert WebhookDelivery.objects.count() == 2
    duplicate = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert (duplicate.verdict, duplicate.status_code, duplicate.run) == ("duplicate", 200, None)


def test_a_new_webhook_id_is_a_new_run(client):
    hook = make_hook()
    body = b'{"type": "a"}'
    assert send(client, hook, body, sw_headers(hook.secret, body, msg_id="msg_1")).status_code == 202
    assert send(client, hook, body, sw_headers(hook.secret, body, msg_id="msg_2")).status_code == 202
    assert Run.objects.count() == 2


def test_a_very_long_delivery_id_still_deduplicates_and_fits_the_slot_key(client):
    hook = make_hook()
    body = b'{"type": "a"}'
    msg_id = "m" * 250
    assert send(client, hook, body, sw_headers(hook.secret, body, msg_id=msg_id)).status_code == 202
    run = Run.objects.get()
    assert len(run.slot_key) <= 200
    again = send(client, hook, body, sw_headers(hook.secret, body, msg_id=msg_id))
    assert again.json()["status"] == "duplicate"
    assert Run.objects.count() == 1


# --- GitHub -------------------------------------------------------------------------------------


@pytest.fixture
def gh_hook():
    return make_hook(
        scheme="github", config={"events": ["pull_request"], "match": {"action": "opened"}}, template=PR_TEMPLATE
    )


def test_github_ping_is_answered_and_stored_without_a_run(client, gh_hook):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    response = send(client, gh_hook, body, gh_headers(gh_hook, body, "ping"))
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert (delivery.verdict, delivery.event_type, delivery.reason) == ("accepted", "ping", "ping")
    assert not Run.objects.exists()
    # GitHub's "Redeliver" sends the same delivery id again: a duplicate, not a 500.
    again = send(client, gh_hook, body, gh_headers(gh_hook, body, "ping"))
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert WebhookDelivery.objects.filter(verdict="duplicate").count() == 1


def test_github_pull_request_opened_runs_the_agent(client, gh_hook):
    event = pr_event("opened", 7, "Fix the tides")
    body = json.dumps(event).encode()
    response = send(client, gh_hook, body, gh_headers(gh_hook, body, "pull_request"))
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert run.input["task"] == "Review PR #7: Fix the tides"
    assert run.input["event_type"] == "pull_request"
    assert run.payload == event
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert delivery.event_type == "pull_request"
    assert delivery.headers["x-github-event"] == "pull_request"


def test_github_pull_request_closed_is_filtered(client, gh_hook):
    body = json.dumps(pr_event("closed")).encode()
    response = send(client, gh_hook, body, gh_headers(gh_hook, body, "pull_request"))
    assert response.status_code == 202
    assert response.json()["status"] == "filtered"
    delivery = WebhookDelivery.objects.get()
    assert delivery.verdict == "filtered"
    assert "action" in delivery.reason
    assert bytes(delivery.body) == body
    assert not Run.objects.exists()


def test_github_other_event_is_filtered(client, gh_hook):
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    response = send(client, gh_hook, body, gh_headers(gh_hook, body, "push"))
    assert response.json()["status"] == "filtered"
    assert not Run.objects.exists()


def test_github_same_delivery_twice_is_one_run(client, gh_hook):
    body = json.dumps(pr_event()).encode()
    headers = gh_headers(gh_hook, body, "pull_request")
    assert send(client, gh_hook, body, headers).status_code == 202
    second = send(client, gh_hook, body, headers)
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert Run.objects.count() == 1
    other = gh_headers(gh_hook, body, "pull_request", delivery="d2")
    assert send(client, gh_hook, body, other).status_code == 202
    assert Run.objects.count() == 2


def test_github_form_encoded_payload(client, gh_hook):
    event = pr_event("opened", 9, "Form encoded")
    body = urlencode({"payload": json.dumps(event)}).encode()
    response = send(
        client,
        gh_hook,
        body,
        gh_headers(gh_hook, body, "pull_request"),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert run.input["task"] == "Review PR #9: Form encoded"
    assert run.payload == event
    assert bytes(WebhookDelivery.objects.get().body) == body


def test_github_repository_filter_from_the_original_example(client):
    hook = make_hook(
        scheme="github",
        config={"repository": "owner/repo", "event": "pull_request"},
        template="Review PR #{number}: {{ pull_request.title }}",
    )
    body = json.dumps(pr_event()).encode()
    assert send(client, hook, body, gh_headers(hook, body, "pull_request")).status_code == 202
    assert Run.objects.get().input["task"] == "Review PR #7: Fix the tides"
    other = pr_event()
    other["repository"]["full_name"] = "someone/else"
    body = json.dumps(other).encode()
    response = send(client, hook, body, gh_headers(hook, body, "pull_request", delivery="d2"))
    assert response.json()["status"] == "filtered"
    assert Run.objects.count() == 1


# --- rejections ----------------------------------------------------------------------------------


def _only_delivery(status: int, verdict: str = "rejected") -> WebhookDelivery:
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status_code, delivery.verdict) == (status, verdict)
    return delivery


def test_bad_signature_is_401_and_stored(client):
    hook = make_hook()
    body = b'{"type": "a"}'
    wrong = get_scheme("standard_webhooks").generate_secret()
    response = send(client, hook, body, sw_headers(wrong, body))
    assert response.status_code == 401
    assert response.json()["status"] == "rejected"
    delivery = _only_delivery(401)
    assert "bad_signature" in delivery.reason
    assert bytes(delivery.body) == body
    assert delivery.run is None
    assert not Run.objects.exists()


def test_missing_signature_is_401(client):
    hook = make_hook()
    response = send(client, hook, b'{"type": "a"}')
    assert response.status_code == 401
    assert "missing_header" in _only_delivery(401).reason
    assert not Run.objects.exists()


def test_tampered_body_is_401(client, gh_hook):
    body = json.dumps(pr_event()).encode()
    headers = gh_headers(gh_hook, body, "pull_request")
    tampered = body.replace(b"Fix the tides", b"rm -rf the tides")
    assert send(client, gh_hook, tampered, headers).status_code == 401
    assert "bad_signature" in _only_delivery(401).reason
    assert not Run.objects.exists()


def test_stale_timestamp_is_401_naming_the_tolerance(client):
    hook = make_hook(tolerance_seconds=300)
    body = b'{"type": "a"}'
    response = send(client, hook, body, sw_headers(hook.secret, body, when=datetime.now(UTC) - timedelta(hours=1)))
    assert response.status_code == 401
    delivery = _only_delivery(401)
    assert "tolerance" in delivery.reason
    assert "300" in delivery.reason
    assert not Run.objects.exists()


def test_unknown_path_is_404_and_stored(client):
    response = send(client, "no-such-hook", b'{"type": "a"}', {"webhook-id": "x"})
    assert response.status_code == 404
    delivery = _only_delivery(404)
    assert delivery.webhook is None
    assert delivery.workspace is None
    assert delivery.url_path == "no-such-hook"
    assert bytes(delivery.body) == b'{"type": "a"}'


def test_disabled_webhook_is_404(client):
    hook = make_hook(enabled=False)
    body = b'{"type": "a"}'
    response = send(client, hook, body, sw_headers(hook.secret, body))
    assert response.status_code == 404
    assert "disabled" in _only_delivery(404).reason
    assert not Run.objects.exists()


def test_oversized_body_is_413_and_stored(client):
    hook = make_hook(max_body_bytes=100)
    body = json.dumps({"type": "a", "padding": "x" * 500}).encode()
    response = send(client, hook, body, sw_headers(hook.secret, body))
    assert response.status_code == 413
    delivery = _only_delivery(413)
    assert delivery.webhook == hook
    assert "100" in delivery.reason
    assert not Run.objects.exists()
    small = b'{"type": "a"}'
    assert send(client, hook, small, sw_headers(hook.secret, small, msg_id="m2")).status_code == 202


def test_malformed_json_is_400_and_stored(client):
    hook = make_hook()
    body = b'{"type": "a", oops'
    response = send(client, hook, body, sw_headers(hook.secret, body))
    assert response.status_code == 400
    delivery = _only_delivery(400)
    assert "JSON" in delivery.reason
    assert bytes(delivery.body) == body
    assert not Run.objects.exists()


def test_absurdly_nested_json_is_400_not_a_crash(client):
    hook = make_hook()
    body = b"[" * 100_000
    response = send(client, hook, body, sw_headers(hook.secret, body))
    assert response.status_code == 400
    assert not Run.objects.exists()


def test_text_body_with_a_text_content_type_is_kept_as_text(client):
    hook = make_hook(template="Log: {{ body }}")
    body = b"disk full on web-1"
    response = send(client, hook, body, sw_headers(hook.secret, body), content_type="text/plain")
    assert response.status_code == 202
    assert Run.objects.get().input["task"] == "Log: disk full on web-1"


def test_rate_limit_is_429_and_stored(client):
    hook = make_hook(rate_limit_per_minute=1)
    body = b'{"type": "a"}'
    codes = [send(client, hook, body, sw_headers(hook.secret, body, msg_id=f"m{i}")).status_code for i in range(3)]
    # At most one minute boundary can fall between three quick requests: one is over the limit.
    assert 429 in codes
    limited = WebhookDelivery.objects.filter(status_code=429)
    assert limited.exists()
    assert all(d.verdict == "rejected" and "a minute" in d.reason for d in limited)
    assert Run.objects.count() == codes.count(202)


def test_get_is_405(client):
    hook = make_hook()
    assert client.get(f"/api/hooks/{hook.url_path}").status_code == 405
    assert client.put(f"/api/hooks/{hook.url_path}", data=b"{}", content_type="application/json").status_code == 405


def test_credentials_and_the_secret_are_never_stored_or_answered(client):
    hook = make_hook()
    body = b'{"type": "a"}'
    responses = [
        send(client, hook, body, sw_headers(hook.secret, body), HTTP_AUTHORIZATION="Bearer tok", HTTP_COOKIE="s=1"),
        send(client, hook, body, sw_headers("whsec_" + "A" * 32, body, msg_id="m2"), HTTP_AUTHORIZATION="Basic x"),
        send(client, hook, b"{bad", sw_headers(hook.secret, b"{bad", msg_id="m3"), HTTP_PROXY_AUTHORIZATION="Basic y"),
    ]
    assert [r.status_code for r in responses] == [202, 401, 400]
    secret = hook.secret
    key = secret.removeprefix("whsec_")
    for response in responses:
        assert secret not in response.content.decode()
        assert key not in response.content.decode()
    assert WebhookDelivery.objects.count() == 3
    for delivery in WebhookDelivery.objects.all():
        names = {name.lower() for name in delivery.headers}
        assert not names & {"authorization", "cookie", "proxy-authorization"}
        stored = json.dumps(delivery.headers) + bytes(delivery.body).decode() + delivery.reason
        assert secret not in stored
        assert key not in stored
    run = Run.objects.get()
    assert secret not in json.dumps(run.input) + json.dumps(run.payload)


# --- the other schemes, end to end ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "event", "expected_id", "expected_type"),
    [
        (
            "stripe",
            {"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}},
            "evt_1",
            "invoice.paid",
        ),
        (
            "slack",
            {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention", "text": "hi"}},
            "Ev1",
            "app_mention",
        ),
        ("hmac_sha256", {"type": "build.failed", "build": 12}, "", "build.failed"),
    ],
)
def test_each_scheme_is_accepted_once_end_to_end(client, scheme, event, expected_id, expected_type):
    hook = make_hook(scheme=scheme, template="Event {{ type }}")
    body = json.dumps(event).encode()
    headers = signed(hook, body)
    response = send(client, hook, body, headers)
    assert response.status_code == 202, response.content
    delivery = WebhookDelivery.objects.get()
    assert (delivery.verdict, delivery.delivery_id, delivery.event_type) == ("accepted", expected_id, expected_type)
    run = Run.objects.get()
    assert run.input["task"] == f"Event {event['type']}"
    assert run.payload == event
    # Signed for another secret: rejected.
    forged = get_scheme(scheme)().sign(secret=get_scheme(scheme).generate_secret(), body=body)
    assert send(client, hook, body, forged).status_code == 401
    assert Run.objects.count() == 1


def test_stripe_retry_of_the_same_event_is_a_duplicate(client):
    hook = make_hook(scheme="stripe")
    body = json.dumps({"id": "evt_9", "type": "charge.failed"}).encode()
    assert send(client, hook, body, signed(hook, body)).status_code == 202
    assert send(client, hook, body, signed(hook, body)).json()["status"] == "duplicate"
    assert Run.objects.count() == 1


def test_slack_url_verification_echoes_the_challenge(client):
    hook = make_hook(scheme="slack")
    body = json.dumps({"type": "url_verification", "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}).encode()
    response = send(client, hook, body, signed(hook, body))
    assert response.status_code == 200
    assert response.json()["challenge"] == "3eZbrw1aBm2rZgRNFdxV2595E9CY"
    assert _only_delivery(200, "accepted").reason == "url_verification"
    assert not Run.objects.exists()


def test_a_paused_agent_gets_a_skipped_run(client):
    agent = make_agent()
    Agent.objects.filter(pk=agent.pk).update(state=Agent.State.PAUSED)
    hook = make_hook(agent=agent)
    body = b'{"type": "a"}'
    response = send(client, hook, body, sw_headers(hook.secret, body))
    assert response.status_code == 202
    run = Run.objects.get()
    assert run.status == RunStatus.SKIPPED
    delivery = WebhookDelivery.objects.get()
    assert delivery.run == run
    assert "paused" in delivery.reason.lower()


# --- the webhook API -------------------------------------------------------------------------------


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def api(alice):
    c = APIClient()
    c.credentials(**auth(token_for(alice)))
    return c


@pytest.fixture
def trigger(alice):
    agent = make_agent(alice)
    return Trigger.objects.create(
        workspace=agent.workspace,
        agent=agent,
        name="PRs",
        config={"events": ["pull_request"]},
        task_template=PR_TEMPLATE,
    )


def test_create_answers_the_secret_once(api, trigger, client):
    response = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    hook = Webhook.objects.get(pk=data["id"])
    assert data["secret"] == hook.secret
    assert data["secret"].startswith("whsec_")
    assert data["scheme"] == "standard_webhooks"
    assert data["url_path"] == hook.url_path
    assert data["webhook_url"].endswith(f"/api/hooks/{hook.url_path}")
    assert data["trigger_id"] == trigger.pk
    assert hook.workspace_id == trigger.workspace_id

    detail = api.get(f"/api/proactive/webhooks/{hook.pk}")
    assert detail.status_code == 200
    assert "secret" not in detail.json()
    assert hook.secret not in detail.content.decode()
    assert hook.secret not in api.get("/api/proactive/webhooks").content.decode()

    # The answered secret works for a real sender.
    body = json.dumps({"type": "pull_request", "pull_request": {"number": 1, "title": "T"}}).encode()
    hook.trigger.config = {}
    hook.trigger.save()
    assert send(client, hook.url_path, body, sw_headers(data["secret"], body)).status_code == 202
    assert Run.objects.get().input["task"] == "Review PR #1: T"


def test_create_with_another_scheme(api, trigger):
    response = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk, "scheme": "github"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["scheme"] == "github"
    assert Webhook.objects.get().secret == response.json()["secret"]


def test_regenerate_secret_invalidates_the_old_one(api, trigger, client):
    data = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk, "scheme": "github"}, format="json").json()
    hook = Webhook.objects.get(pk=data["id"])
    old = data["secret"]
    response = api.post(f"/api/proactive/webhooks/{hook.pk}/regenerate-secret")
    assert response.status_code == 200, response.content
    new = response.json()["secret"]
    assert new != old
    hook.refresh_from_db()
    assert hook.secret == new

    body = json.dumps(pr_event()).encode()
    stale = get_scheme("github")().sign(secret=old, body=body, msg_id="d1", event_type="pull_request")
    assert send(client, hook, body, stale).status_code == 401
    fresh = get_scheme("github")().sign(secret=new, body=body, msg_id="d1", event_type="pull_request")
    assert send(client, hook, body, fresh).status_code == 202
    assert Run.objects.count() == 1


def test_create_for_another_users_trigger_is_400_naming_trigger_id(api):
    bob_agent = make_agent(make_user("bob"))
    bobs = Trigger.objects.create(workspace=bob_agent.workspace, agent=bob_agent, name="Bob's")
    response = api.post("/api/proactive/webhooks", {"trigger_id": bobs.pk}, format="json")
    assert response.status_code == 400
    assert "trigger_id" in response.json()
    assert not Webhook.objects.exists()


def test_unknown_scheme_is_400_naming_scheme(api, trigger):
    response = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk, "scheme": "rot13"}, format="json")
    assert response.status_code == 400
    assert "scheme" in response.json()
    assert not Webhook.objects.exists()


def test_another_users_webhook_is_404_everywhere(api, client):
    hook = make_hook(agent=make_agent(make_user("bob")))
    body = b'{"type": "a"}'
    send(client, hook, body, sw_headers(hook.secret, body))
    delivery = WebhookDelivery.objects.get()
    base = f"/api/proactive/webhooks/{hook.pk}"
    assert api.get(base).status_code == 404
    assert api.patch(base, {"enabled": False}, format="json").status_code == 404
    assert api.post(f"{base}/regenerate-secret").status_code == 404
    assert api.get(f"{base}/deliveries").status_code == 404
    assert api.post(f"{base}/deliveries/{delivery.pk}/replay?dry_run=1").status_code == 404
    assert api.post(f"{base}/deliveries/{delivery.pk}/replay").status_code == 404
    assert api.delete(base).status_code == 404
    assert api.get("/api/proactive/webhooks").json()["results"] == []
    old = hook.secret
    hook.refresh_from_db()
    assert (hook.enabled, hook.secret) == (True, old)
    assert Run.objects.count() == 1


def test_deliveries_are_listed_for_the_owner(api, trigger, client):
    data = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk, "scheme": "github"}, format="json").json()
    hook = Webhook.objects.get(pk=data["id"])
    body = json.dumps(pr_event()).encode()
    send(client, hook, body, gh_headers(hook, body, "pull_request"))
    forged = {**gh_headers(hook, body, "pull_request"), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    send(client, hook, body, forged)
    response = api.get(f"/api/proactive/webhooks/{hook.pk}/deliveries")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {(r["verdict"], r["status_code"]) for r in rows} == {("accepted", 202), ("rejected", 401)}
    accepted = next(r for r in rows if r["verdict"] == "accepted")
    assert accepted["body_text"] == body.decode()
    assert accepted["run_id"] == Run.objects.get().pk and accepted["pending"] is False
    assert data["secret"] not in response.content.decode()


# --- replay ----------------------------------------------------------------------------------------


def _owned_hook(alice, **kwargs) -> Webhook:
    return make_hook(agent=make_agent(alice), **kwargs)


def test_replay_creates_a_new_delivery_and_a_new_run(api, alice, client):
    hook = _owned_hook(alice, scheme="github", config={"events": ["pull_request"]}, template=PR_TEMPLATE)
    body = json.dumps(pr_event()).encode()
    send(client, hook, body, gh_headers(hook, body, "pull_request"))
    original = WebhookDelivery.objects.get()
    first_run = Run.objects.get()

    url = f"/api/proactive/webhooks/{hook.pk}/deliveries/{original.pk}/replay"
    dry = api.post(f"{url}?dry_run=1")
    assert dry.status_code == 200, dry.content
    assert dry.json()["ok"] is True
    assert dry.json()["task"] == "Review PR #7: Fix the tides"
    assert Run.objects.count() == 1
    assert WebhookDelivery.objects.count() == 1

    response = api.post(url)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["ok"] is True
    replay = WebhookDelivery.objects.get(pk=data["delivery_id"])
    assert replay.replay_of == original
    assert replay.verdict == "accepted"
    assert bytes(replay.body) == body
    run = Run.objects.get(pk=data["run_id"])
    assert run != first_run
    assert run.source == "webhook"
    assert run.input["task"] == "Review PR #7: Fix the tides"
    assert run.payload == pr_event()
    assert replay.run == run
    assert Run.objects.count() == 2


def test_replay_of_a_form_encoded_delivery_parses_the_payload(api, alice, client):
    hook = _owned_hook(alice, scheme="github", template=PR_TEMPLATE)
    body = urlencode({"payload": json.dumps(pr_event("opened", 5, "Form"))}).encode()
    ctype = "application/x-www-form-urlencoded"
    send(client, hook, body, gh_headers(hook, body, "pull_request"), content_type=ctype)
    original = WebhookDelivery.objects.get()
    url = f"/api/proactive/webhooks/{hook.pk}/deliveries/{original.pk}/replay"
    assert api.post(f"{url}?dry_run=true").json()["task"] == "Review PR #5: Form"
    data = api.post(url).json()
    assert data["ok"] is True
    assert Run.objects.get(pk=data["run_id"]).payload == pr_event("opened", 5, "Form")


def test_dry_run_of_a_filtered_delivery_says_why(api, alice, client):
    hook = _owned_hook(alice, scheme="github", config={"match": {"action": "opened"}}, template=PR_TEMPLATE)
    body = json.dumps(pr_event("closed")).encode()
    send(client, hook, body, gh_headers(hook, body, "pull_request"))
    original = WebhookDelivery.objects.get()
    url = f"/api/proactive/webhooks/{hook.pk}/deliveries/{original.pk}/replay"
    dry = api.post(f"{url}?dry_run=1").json()
    assert dry["ok"] is False
    assert "action" in dry["reason"]
    data = api.post(url).json()
    assert data["ok"] is False
    assert not Run.objects.exists()
    assert WebhookDelivery.objects.get(pk=data["delivery_id"]).verdict == "filtered"


def test_a_rejected_delivery_cannot_be_replayed(api, alice, client):
    hook = _owned_hook(alice, scheme="github", template=PR_TEMPLATE)
    body = json.dumps(pr_event()).encode()
    forged = get_scheme("github")().sign(secret="not-the-secret", body=body, event_type="pull_request")
    assert send(client, hook, body, forged).status_code == 401
    rejected = WebhookDelivery.objects.get()
    url = f"/api/proactive/webhooks/{hook.pk}/deliveries/{rejected.pk}/replay"
    for query in ("?dry_run=1", ""):
        data = api.post(url + query).json()
        assert data["ok"] is False
        assert "rejected" in data["reason"]
    assert not Run.objects.exists()
    assert WebhookDelivery.objects.count() == 1


def test_replay_of_an_unknown_delivery_is_404(api, alice):
    hook = _owned_hook(alice)
    assert api.post(f"/api/proactive/webhooks/{hook.pk}/deliveries/999999/replay").status_code == 404


@pytest.mark.django_db
def test_changing_the_scheme_issues_a_new_secret_once():
    from rest_framework.test import APIClient

    from proactive.models import Trigger, Webhook
    from tests.helpers import auth, make_agent, make_user, token_for

    user = make_user("sam")
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    agent = make_agent(user)
    trigger = Trigger.objects.create(workspace=agent.workspace, agent=agent, name="t")
    created = client.post("/api/proactive/webhooks", {"trigger_id": trigger.pk, "scheme": "github"}, format="json")
    old = created.json()["secret"]
    changed = client.patch(f"/api/proactive/webhooks/{created.json()['id']}", {"scheme": "standard_webhooks"},
                           format="json")  # fmt: skip
    assert changed.status_code == 200
    assert changed.json()["secret"].startswith("whsec_") and changed.json()["secret"] != old
    assert Webhook.objects.get().secret == changed.json()["secret"]
    renamed = client.patch(f"/api/proactive/webhooks/{created.json()['id']}", {"name": "n"}, format="json")
    assert "secret" not in renamed.json()


def test_a_change_to_the_webhook_or_its_trigger_applies_to_the_next_delivery(api, trigger, client):
    data = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk, "scheme": "github"}, format="json").json()
    hook = Webhook.objects.get(pk=data["id"])
    body = json.dumps(pr_event()).encode()
    first = get_scheme("github")().sign(secret=data["secret"], body=body, msg_id="d1", event_type="pull_request")
    assert send(client, hook, body, first).status_code == 202

    new = api.post(f"/api/proactive/webhooks/{hook.pk}/regenerate-secret").json()["secret"]
    again = get_scheme("github")().sign(secret=data["secret"], body=body, msg_id="d2", event_type="pull_request")
    assert send(client, hook, body, again).status_code == 401

    trigger.enabled = False
    trigger.save()
    fresh = get_scheme("github")().sign(secret=new, body=body, msg_id="d3", event_type="pull_request")
    response = send(client, hook, body, fresh)
    assert (response.status_code, response.json()["status"]) == (202, "filtered")
    assert WebhookDelivery.objects.get(delivery_id="d3").reason == "trigger is disabled"

    hook.delete()
    assert send(client, hook, body, fresh).status_code == 404


def test_the_answer_comes_first_and_the_dispatcher_starts_the_run(client):
    hook = make_hook(template="Handle {{ type }}")
    body = json.dumps({"type": "order.created"}).encode()
    response = send(client, hook, body, sw_headers(hook.secret, body), dispatch=False)
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert (delivery.verdict, delivery.pending, delivery.run) == ("accepted", True, None)
    assert not Run.objects.exists()

    assert WebhookDeliverySource().tick(timezone.now()).done == 1
    delivery.refresh_from_db()
    run = Run.objects.get()
    assert (delivery.pending, delivery.run) == (False, run)
    assert (run.source, run.input["task"], run.status) == ("webhook", "Handle order.created", "queued")
    hook.trigger.refresh_from_db()
    assert hook.trigger.fire_count == 1
    assert WebhookDeliverySource().tick(timezone.now()).done == 0  # settled once


def test_a_batch_of_pending_deliveries_starts_one_run_each_and_a_skipped_run_says_why(client):
    agent = make_agent(overlap_policy="skip")
    hook = make_hook(agent=agent)
    for i in range(5):
        body = json.dumps({"type": f"e{i}"}).encode()
        assert (
            send(client, hook, body, sw_headers(hook.secret, body, msg_id=f"msg_{i}"), dispatch=False).status_code
            == 202
        )
    WebhookDeliverySource().tick(timezone.now())
    deliveries = list(WebhookDelivery.objects.order_by("id"))
    runs = [d.run for d in deliveries]
    assert all(not d.pending for d in deliveries)
    assert [r.status for r in runs] == ["queued"] + ["skipped"] * 4
    assert deliveries[1].reason == f"Overlap policy 'skip': run #{runs[0].pk} is still queued."


def test_a_secret_the_server_cannot_decrypt_is_a_503_the_sender_retries_and_says_so(client, settings):
    """The encryption key changed without the old one in GRADENT_ENCRYPTION_OLD_KEYS: not a
    bad signature (the sender is right), but a 503, so senders that retry deliver again once
    the operator has put the key back; the stored delivery says what is wrong."""
    hook = make_hook()
    body = json.dumps({"type": "invoice.paid"}).encode()
    headers = sw_headers(hook.secret, body)
    old_key = settings.GRADENT_ENCRYPTION_KEY or settings.SECRET_KEY
    settings.GRADENT_ENCRYPTION_KEY = "a-new-key-without-the-old-one-" + "x" * 20

    response = send(client, hook, body, headers)
    assert response.status_code == 503
    assert "decrypt" not in response.content.decode()  # the sender is not told why
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert (delivery.verdict, delivery.status_code) == ("rejected", 503)
    assert "secret cannot be decrypted" in delivery.reason and "GRADENT_ENCRYPTION_OLD_KEYS" in delivery.reason
    assert not Run.objects.exists()

    settings.GRADENT_ENCRYPTION_OLD_KEYS = [old_key]  # the operator's fix
    retried = send(client, hook, body, headers)
    assert retried.status_code == 202
    assert Run.objects.get().status == RunStatus.QUEUED


def test_a_webhooks_run_gets_the_input_its_trigger_maps_from_the_payload(client):
    hook = make_hook(config={"input": {"invoice": "data.id", "amount": "data.amount"}})
    body = json.dumps({"type": "invoice.paid", "data": {"id": "in_1", "amount": 1250}}).encode()
    assert send(client, hook, body, sw_headers(hook.secret, body)).status_code == 202
    run = Run.objects.get()
    assert (run.input["invoice"], run.input["amount"], run.input["task"]) == ("in_1", 1250, "Handle invoice.paid")
