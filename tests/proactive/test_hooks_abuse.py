"""POST /api/hooks/ against abuse (issue 9: items 1, 2, 3 and 9): what anyone can make
Gradent store, the server's caps on what a tenant may set, chunked and oversize bodies, and
bodies that would be answered 202 and then never start their run."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from agents.models import Run
from proactive.models import WebhookDelivery
from proactive.sources import WebhookDeliverySource
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
