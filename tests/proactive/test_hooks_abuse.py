"""POST /api/hooks/ against abuse (issue 9: items 1, 2, 3 and 9): what anyone can make
Gradent store, the server's caps on what a tenant may set, chunked and oversize bodies, and
bodies that would be answered 202 and then never start their run."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Run
from proactive.models import Trigger, Webhook, WebhookDelivery
from proactive.sources import WebhookDeliverySource
from tests.helpers import auth, make_agent, make_user, token_for
from tests.proactive.test_hooks import make_hook, send, sw_headers

pytestmark = pytest.mark.django_db


# --- item 9: refused at the door, never 202 and then dropped ----------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"type": "a", "x": NaN}', "NaN"),
        (b'{"type": "a", "x": Infinity}', "Infinity"),
        (b'{"type": "a", "x": -Infinity}', "Infinity"),
        (b'{"type": "a", "x": 1e999999}', "out of range"),
        (b'{"type": "a", "x": [1.5, -2e400]}', "out of range"),
        (b'{"type": "a", "x": "nul \\u0000 here"}', "NUL"),
        (b'{"type": "a", "k\\u0000": 1}', "NUL"),
        (b'{"type": "a", "x": "\\ud800"}', "surrogate"),
        (b'{"type": "a", "x": "\\udc00 low"}', "surrogate"),
        (b'{"type": "a", "x": ' + b"[" * 150 + b"]" * 150 + b"}", "deeper"),
    ],
)
def test_a_signed_body_no_database_can_store_is_refused_with_400(client, body, why):
    hook = make_hook()
    response = send(client, hook, body, sw_headers(hook.secret, body))
    assert response.status_code == 400, response.content
    assert why in response.json()["detail"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.verdict, delivery.status_code, delivery.pending) == ("rejected", 400, False)
    assert why in delivery.reason
    assert not Run.objects.exists()


def test_a_form_encoded_payload_with_nan_is_refused_and_a_valid_one_runs(client):
    hook = make_hook(scheme="github", template="PR {{ number }}")
    ctype = "application/x-www-form-urlencoded"
    bad = urlencode({"payload": '{"number": NaN}'}).encode()
    headers = hook_sign(hook, bad, "d1")
    assert send(client, hook, bad, headers, content_type=ctype).status_code == 400
    good = urlencode({"payload": '{"number": 7}'}).encode()
    assert send(client, hook, good, hook_sign(hook, good, "d2"), content_type=ctype).status_code == 202
    assert Run.objects.get().input["task"] == "PR 7"


def hook_sign(hook, body: bytes, msg_id: str) -> dict:
    from proactive.signatures import get_scheme

    return get_scheme(hook.scheme)().sign(secret=hook.secret, body=body, msg_id=msg_id, event_type="pull_request")


def test_valid_bodies_with_paired_surrogates_and_big_numbers_still_run(client):
    hook = make_hook(template="{{ type }}")
    body = b'{"type": "ok", "emoji": "\\ud83d\\ude00", "big": 123456789012345678901234567890, "f": 1.5e300}'
    response = send(client, hook, body, sw_headers(hook.secret, body))
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert run.payload["emoji"] == "😀"
    assert run.payload["big"] == 123456789012345678901234567890


def test_a_pending_delivery_that_cannot_start_its_run_says_why_and_the_batch_goes_on(client):
    """Deliveries accepted before the door refused such bodies: settled as rejected with
    the reason, while the others of the batch get their runs."""
    hook = make_hook(template="{{ type }}")
    good = b'{"type": "fine"}'
    assert send(client, hook, good, sw_headers(hook.secret, good), dispatch=False).status_code == 202
    stored = WebhookDelivery.objects.create(
        webhook=hook, workspace_id=hook.workspace_id, url_path=hook.url_path, delivery_id="old-1",
        headers={"content-type": "application/json"}, body=b'{"type": "bad", "x": NaN}',
        verdict="accepted", status_code=202, pending=True,
    )  # fmt: skip
    assert WebhookDeliverySource().tick(timezone.now()).done == 2
    stored.refresh_from_db()
    assert (stored.pending, stored.verdict, stored.run) == (False, "rejected", None)
    assert "NaN" in stored.reason
    assert Run.objects.get().input["task"] == "fine"


def test_a_nul_in_the_url_path_or_a_delivery_id_is_not_a_500(client):
    response = client.post("/api/hooks/ab%00cd", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert "\x00" not in WebhookDelivery.objects.get().url_path
    hook = make_hook(scheme="stripe", template="{{ type }}")
    body = json.dumps({"id": "evt_\u0000", "type": "x"}).encode()
    from proactive.signatures import get_scheme

    response = send(client, hook, body, get_scheme("stripe")().sign(secret=hook.secret, body=body))
    assert response.status_code == 400  # the body holds a NUL


# --- item 2: a tenant may only lower the server's limits --------------------------------------


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
    return Trigger.objects.create(workspace=agent.workspace, agent=agent, name="PRs", task_template="{{ type }}")


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"max_body_bytes": 2_000_000_000}, "max_body_bytes", "GRADENT_WEBHOOK_MAX_BODY_BYTES"),
        ({"max_body_bytes": 10_001}, "max_body_bytes", "At most 10000"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute", "does not allow turning the limit off"),
        ({"rate_limit_per_minute": 61}, "rate_limit_per_minute", "At most 60"),
        ({"scheme": "none"}, "scheme", "GRADENT_WEBHOOK_ALLOW_UNSIGNED"),
    ],
)
def test_the_api_refuses_limits_beyond_the_servers_naming_the_field(api, trigger, settings, fields, field, text):
    settings.GRADENT_WEBHOOK_MAX_BODY_BYTES = 10_000
    settings.GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE = 60
    response = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk, **fields}, format="json")
    assert response.status_code == 400, response.content
    assert text in " ".join(response.json()[field])
    assert not Webhook.objects.exists()
    created = api.post("/api/proactive/webhooks", {"trigger_id": trigger.pk}, format="json")
    assert created.status_code == 201, created.content
    # A new webhook's defaults are within the caps.
    assert (created.json()["max_body_bytes"], created.json()["rate_limit_per_minute"]) == (10_000, 60)
    changed = api.patch(f"/api/proactive/webhooks/{created.json()['id']}", fields, format="json")
    assert changed.status_code == 400, changed.content
    assert field in changed.json()
    hook = Webhook.objects.get()
    assert (hook.max_body_bytes, hook.rate_limit_per_minute, hook.scheme) == (10_000, 60, "standard_webhooks")
    # Lowering is fine, and renaming a webhook whose stored limit is over the cap too.
    Webhook.objects.filter(pk=hook.pk).update(max_body_bytes=2_000_000_000)
    assert api.patch(f"/api/proactive/webhooks/{hook.pk}", {"name": "n"}, format="json").status_code == 200
    assert api.patch(f"/api/proactive/webhooks/{hook.pk}", {"max_body_bytes": 500}, format="json").status_code == 200


def test_the_operator_may_allow_unlimited_rates_and_unsigned_webhooks(api, trigger, settings):
    settings.GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE = 0
    settings.GRADENT_WEBHOOK_ALLOW_UNSIGNED = True
    fields = {"trigger_id": trigger.pk, "scheme": "none", "rate_limit_per_minute": 0}
    response = api.post("/api/proactive/webhooks", fields, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["scheme"], response.json()["rate_limit_per_minute"]) == ("none", 0)


def test_the_page_form_refuses_limits_beyond_the_servers_naming_the_field(client, alice, trigger, settings):
    settings.GRADENT_WEBHOOK_MAX_BODY_BYTES = 10_000
    settings.GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE = 60
    client.force_login(alice)
    url = reverse("proactive:webhook_create")
    assert client.get(url).context["form"].initial["max_body_bytes"] == 10_000
    base = {"trigger": trigger.pk, "scheme": "github", "tolerance_seconds": "300", "max_body_bytes": "10000",
            "rate_limit_per_minute": "60", "enabled": "on"}  # fmt: skip
    for change, field in (
        ({"max_body_bytes": "2000000000"}, "max_body_bytes"),
        ({"rate_limit_per_minute": "0"}, "rate_limit_per_minute"),
        ({"rate_limit_per_minute": "100000"}, "rate_limit_per_minute"),
        ({"scheme": "none"}, "scheme"),
    ):
        response = client.post(url, {**base, **change})
        assert response.status_code == 200
        assert field in response.context["form"].errors, (change, response.context["form"].errors)
    assert not Webhook.objects.exists()
    assert client.post(url, base).status_code == 302
    hook = Webhook.objects.get()
    edit = reverse("proactive:webhook_edit", args=[hook.pk])
    response = client.post(edit, {"name": "x", "tolerance_seconds": "300", "max_body_bytes": "20000",
                                  "rate_limit_per_minute": "60", "enabled": "on"})  # fmt: skip
    assert "max_body_bytes" in response.context["form"].errors
    hook.refresh_from_db()
    assert hook.max_body_bytes == 10_000


def test_limits_stored_around_the_api_are_capped_at_the_door(client, settings):
    settings.GRADENT_WEBHOOK_MAX_BODY_BYTES = 10_000
    settings.GRADENT_WEBHOOK_MAX_RATE_PER_MINUTE = 3
    hook = make_hook(max_body_bytes=2_000_000_000, rate_limit_per_minute=0)
    big = json.dumps({"type": "a", "pad": "x" * 30_000}).encode()
    response = send(client, hook, big, sw_headers(hook.secret, big))
    assert response.status_code == 413
    assert "10000" in WebhookDelivery.objects.get().reason
    codes = []
    for i in range(5):
        body = json.dumps({"type": "a"}).encode()
        codes.append(send(client, hook, body, sw_headers(hook.secret, body, msg_id=f"m{i}")).status_code)
    # At most one minute boundary can fall among five quick requests.
    assert codes.count(202) <= 4 and 429 in codes


def test_an_unsigned_webhook_takes_nothing_unless_the_server_allows_it(client, settings):
    hook = make_hook(scheme="none", template="{{ type }}")
    body = b'{"type": "a"}'
    response = send(client, hook, body)
    assert response.status_code == 401
    assert "GRADENT_WEBHOOK_ALLOW_UNSIGNED" in WebhookDelivery.objects.get().reason
    assert not Run.objects.exists()
    settings.GRADENT_WEBHOOK_ALLOW_UNSIGNED = True
    assert send(client, hook, body).status_code == 202
    assert Run.objects.get().input["task"] == "a"
