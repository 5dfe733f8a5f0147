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


# --- item 1: what anyone can make Gradent store is bounded ------------------------------------

WRONG = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # a secret, not the webhook's
PADDING = {f"HTTP_X_PAD_{i}": chr(97 + i) * 1000 for i in range(8)}  # 8 KB of headers


def anonymous(client, path: str, body: bytes, address: str):
    return client.post(f"/api/hooks/{path}", data=body, content_type="application/json", REMOTE_ADDR=address,
                       **PADDING)  # fmt: skip


def stored_header_bytes(delivery: WebhookDelivery) -> int:
    return sum(len(k) + len(v) for k, v in delivery.headers.items())


def test_unknown_paths_are_404_and_kept_only_as_a_counted_sample_per_address(client, settings):
    settings.GRADENT_WEBHOOK_UNKNOWN_SAMPLES = 4
    body = b"x" * 100_000
    codes = [anonymous(client, f"nope-{i}", body, "203.0.113.7").status_code for i in range(40)]
    assert set(codes) == {404}
    samples = list(WebhookDelivery.objects.order_by("id"))
    assert len(samples) == 4
    for delivery in samples:
        assert (delivery.webhook, delivery.status_code, delivery.remote_addr) == (None, 404, "203.0.113.7")
        assert len(bytes(delivery.body)) <= 1024 and delivery.body_size == 100_000
        assert stored_header_bytes(delivery) <= 1024 + 100
    # The count is written on the last sample as it grows (at 8, 16 and 32 requests).
    assert "32 requests from this address this hour, 28 not stored" in samples[-1].reason
    # Another address has samples of its own.
    assert anonymous(client, "nope", body, "198.51.100.1").status_code == 404
    assert WebhookDelivery.objects.filter(remote_addr="198.51.100.1").count() == 1


def test_the_endpoint_limits_each_source_address_and_stores_nothing_beyond(client, settings):
    settings.GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE = 5
    hook = make_hook()
    codes = [anonymous(client, hook.url_path, b'{"type": "a"}', "203.0.113.9").status_code for _ in range(8)]
    # At most one minute boundary can fall among eight quick requests.
    assert codes.count(429) >= 2 and codes[:5] == [401] * 5
    assert WebhookDelivery.objects.count() == codes.count(401)
    assert anonymous(client, hook.url_path, b'{"type": "a"}', "203.0.113.10").status_code == 401


def test_behind_a_proxy_the_address_is_the_one_the_proxy_appended(client, settings):
    settings.GRADENT_BEHIND_PROXY = True
    settings.GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE = 1

    def post(forwarded):
        return client.post("/api/hooks/nope", data=b"{}", content_type="application/json",
                           HTTP_X_FORWARDED_FOR=forwarded)  # fmt: skip

    assert post("1.1.1.1, 203.0.113.1").status_code == 404
    assert post("2.2.2.2, 203.0.113.1").status_code == 429  # the client's own claim is not trusted
    assert post("203.0.113.2").status_code == 404
    assert set(WebhookDelivery.objects.values_list("remote_addr", flat=True)) == {"203.0.113.1", "203.0.113.2"}


def test_stored_headers_are_capped_in_count_and_bytes(client):
    hook = make_hook(template="{{ type }}")
    body = b'{"type": "a"}'
    many = {f"HTTP_X_MANY_{i}": "v" * 300 for i in range(100)}
    response = send(client, hook, body, sw_headers(hook.secret, body), **many)
    assert response.status_code == 202
    accepted = WebhookDelivery.objects.get()
    assert len(accepted.headers) <= 49 and stored_header_bytes(accepted) <= 8192 + 100
    assert accepted.headers["content-type"] == "application/json"
    assert "more headers" in accepted.headers["x-gradent-not-stored"]
    forged = send(client, hook, body, sw_headers(WRONG, body, msg_id="m2"), **many)
    assert forged.status_code == 401
    rejected = WebhookDelivery.objects.get(status_code=401)
    assert len(rejected.headers) <= 25 and stored_header_bytes(rejected) <= 1024 + 100


def test_rejected_rate_limited_oversize_and_duplicate_deliveries_keep_a_small_prefix(client):
    hook = make_hook(max_body_bytes=600_000, rate_limit_per_minute=2)
    big = json.dumps({"type": "a", "pad": "x" * 500_000}).encode()
    assert send(client, hook, big, sw_headers(WRONG, big, msg_id="f")).status_code == 401
    huge = json.dumps({"type": "a", "pad": "x" * 700_000}).encode()
    assert send(client, hook, huge, sw_headers(hook.secret, huge, msg_id="h")).status_code == 413
    assert send(client, hook, big, sw_headers(hook.secret, big, msg_id="ok")).status_code in (202, 429)
    assert send(client, hook, big, sw_headers(hook.secret, big, msg_id="ok")).status_code in (200, 429)
    for i in range(3):
        send(client, hook, big, sw_headers(hook.secret, big, msg_id=f"r{i}"))
    for delivery in WebhookDelivery.objects.exclude(verdict="accepted"):
        assert len(bytes(delivery.body)) <= 1024, (delivery.verdict, delivery.status_code)
    assert WebhookDelivery.objects.filter(status_code=429).exists()
    for delivery in WebhookDelivery.objects.filter(verdict="accepted"):
        assert bytes(delivery.body) == big  # what the run gets is kept whole


def test_the_retention_source_prunes_by_age_and_count_per_webhook(settings):
    from datetime import timedelta

    from proactive.sources import DeliveryRetentionSource

    settings.GRADENT_WEBHOOK_RETENTION_DAYS = 30
    settings.GRADENT_WEBHOOK_RETENTION_COUNT = 5
    now = timezone.now()
    hook = make_hook()
    other = make_hook(agent=hook.trigger.agent)

    def deliver(webhook, age: timedelta, **fields):
        fields = {"verdict": "rejected", "status_code": 401, **fields}
        workspace_id = webhook.workspace_id if webhook else None
        return WebhookDelivery.objects.create(
            webhook=webhook, workspace_id=workspace_id, url_path="p", received_at=now - age, **fields
        )

    newest = [deliver(hook, timedelta(minutes=i)) for i in range(8)]
    old = deliver(other, timedelta(days=31))
    waiting = deliver(other, timedelta(days=40), pending=True, verdict="accepted", status_code=202)
    recent = deliver(other, timedelta(days=29))
    strays = [deliver(None, timedelta(seconds=i)) for i in range(7)]

    assert DeliveryRetentionSource().tick(now).done == 1 + 3 + 2
    assert set(WebhookDelivery.objects.filter(webhook=hook)) == set(newest[:5])
    assert set(WebhookDelivery.objects.filter(webhook=other)) == {waiting, recent}
    assert not WebhookDelivery.objects.filter(pk=old.pk).exists()
    assert set(WebhookDelivery.objects.filter(webhook=None)) == set(strays[:5])
    deliver(hook, timedelta(seconds=0))
    assert DeliveryRetentionSource().tick(now).done == 0  # once per interval
    from agents.dispatcher import sources

    assert "webhook_retention" in {source.name for source in sources()}


def database_bytes() -> int:
    """What the database takes on disk: SQLite's pages (after a checkpoint, so the WAL is
    counted once), PostgreSQL's deliveries table with its indexes and TOAST."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            return pages * cursor.fetchone()[0]
        cursor.execute("SELECT pg_total_relation_size(%s)", [WebhookDelivery._meta.db_table])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_thousand_anonymous_megabyte_requests_grow_the_database_by_less_than_5_mb(client):
    """Half to unknown paths, half to a real webhook (unsigned, so rejected), from 250
    addresses (so neither the per-address limit nor the unknown-path samples do it alone),
    each with 8 KB of headers and a 1 MB body."""
    hook = make_hook()
    body = b'{"type": "a", "pad": "' + b"x" * (1024 * 1024 - 30) + b'"}'
    before = database_bytes()
    codes = set()
    for i in range(1000):
        address = f"10.9.{i % 250 // 100}.{i % 250}"
        path = hook.url_path if i % 2 else f"guess-{i}"
        codes.add(anonymous(client, path, body, address).status_code)
    grown = database_bytes() - before
    print(f"1,000 requests: {WebhookDelivery.objects.count()} rows, database grew by {grown / 1024:.0f} KiB")
    assert codes <= {401, 404, 429} and {401, 404} <= codes  # 429: the webhook's own rate limit
    assert WebhookDelivery.objects.count() == 1000  # every one of them stored, small
    assert grown < 5 * 1024 * 1024, f"grew by {grown / 1024 / 1024:.1f} MB"


# --- item 3: chunked bodies (the WSGI side; tests/system/test_hooks_server.py: real servers) --


def chunked_request(hook, body: bytes, headers: dict, *, terminated: bool = True):
    """A POST as gunicorn hands it to Django for Transfer-Encoding: chunked: no
    CONTENT_LENGTH, wsgi.input de-chunked and ending with the body, wsgi.input_terminated."""
    import io

    from django.test import RequestFactory

    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    request = RequestFactory().post(f"/api/hooks/{hook.url_path}", data=b"", content_type="application/json", **meta)
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.environ["wsgi.input"] = io.BytesIO(body)
    if terminated:
        request.environ["wsgi.input_terminated"] = True
    return request


def test_a_chunked_body_is_read_up_to_the_limit():
    from proactive.hooks import receive

    hook = make_hook(template="{{ type }}", max_body_bytes=200_000)
    body = json.dumps({"type": "chunked", "pad": "x" * 150_000}).encode()
    response = receive(chunked_request(hook, body, sw_headers(hook.secret, body)), url_path=hook.url_path)
    assert response.status_code == 202, response.content
    delivery = WebhookDelivery.objects.get()
    assert (bytes(delivery.body), delivery.body_size) == (body, len(body))
    big = json.dumps({"type": "chunked", "pad": "x" * 300_000}).encode()
    response = receive(chunked_request(hook, big, sw_headers(hook.secret, big, msg_id="m2")), url_path=hook.url_path)
    assert response.status_code == 413
    assert len(bytes(WebhookDelivery.objects.get(status_code=413).body)) <= 1024


def test_a_chunked_body_a_server_cannot_read_is_411_not_an_empty_body():
    from proactive.hooks import receive

    hook = make_hook()
    body = b'{"type": "a"}'
    request = chunked_request(hook, body, sw_headers(hook.secret, body), terminated=False)
    response = receive(request, url_path=hook.url_path)
    assert response.status_code == 411
    assert not response.has_header("Content-Length")  # so the server closes the connection
    assert "chunked" in WebhookDelivery.objects.get().reason


def test_an_ipv6_sender_is_limited_by_its_64_not_by_each_address(client, settings):
    settings.GRADENT_WEBHOOK_PER_ADDRESS_PER_MINUTE = 3
    settings.GRADENT_WEBHOOK_UNKNOWN_SAMPLES = 2
    codes = [anonymous(client, "nope", b"{}", f"2001:db8:1:2::{i:x}").status_code for i in range(8)]
    assert codes.count(429) >= 2  # at most one minute boundary among eight quick requests
    assert WebhookDelivery.objects.count() <= 2 * 2  # samples of the /64 (twice across an hour boundary)
    assert anonymous(client, "nope", b"{}", "2001:db8:1:3::1").status_code == 404  # another /64
