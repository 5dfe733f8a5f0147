"""Copy and try on the webhook pages: the URL at the address the page was reached at, a
curl line whose signature the webhook accepts, and "Send test delivery" through the real
ingress path."""

from __future__ import annotations

import html
import re
import shlex

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Run
from proactive.models import Trigger, Webhook, WebhookDelivery
from proactive.signatures import SCHEMES, get_scheme
from proactive.sources import WebhookDeliverySource
from tests.helpers import make_agent, make_user
from workspaces.models import Membership
from workspaces.services import membership_add

pytestmark = pytest.mark.django_db


def make_hook(user, scheme: str = "standard_webhooks", **fields) -> Webhook:
    agent = make_agent(user)
    trigger = Trigger.objects.create(
        workspace=agent.workspace, agent=agent, name="hook", config={}, task_template="Handle {{ type }}"
    )
    secret = get_scheme(scheme).generate_secret()
    return Webhook.objects.create(workspace=agent.workspace, trigger=trigger, scheme=scheme, secret=secret, **fields)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def page(client, alice):
    client.force_login(alice)
    return client


def parse_curl(text: str) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of the curl line, as a shell would pass them to curl."""
    words = shlex.split(text.replace("\\\n", " "))
    assert words[:3] == ["curl", "-X", "POST"]
    url, headers, body = words[3], {}, b""
    rest = iter(words[4:])
    for word in rest:
        if word == "-H":
            name, _, value = next(rest).partition(": ")
            headers[name] = value
        elif word == "--data-binary":
            body = next(rest).encode()
    return url, headers, body


def shown_curl(response) -> str:
    match = re.search(r'<pre class="mono curl" id="webhook-curl">(.*?)</pre>', response.content.decode(), re.S)
    assert match, "no curl line on the page"
    return html.unescape(match.group(1))


def test_the_webhook_url_uses_the_address_the_page_was_reached_at(page, alice, settings):
    settings.ALLOWED_HOSTS = ["gradent.lan"]
    settings.SITE_URL_SET = False
    hook = make_hook(alice)
    response = page.get(reverse("proactive:webhook", args=[hook.pk]), HTTP_HOST="gradent.lan:9000")
    assert f'value="http://gradent.lan:9000/api/hooks/{hook.url_path}"' in response.content.decode()
    listing = page.get(reverse("proactive:webhooks"), HTTP_HOST="gradent.lan:9000").content.decode()
    assert f"http://gradent.lan:9000/api/hooks/{hook.url_path}" in listing
    settings.SITE_URL, settings.SITE_URL_SET = "https://hooks.example.org", True
    response = page.get(reverse("proactive:webhook", args=[hook.pk]), HTTP_HOST="gradent.lan:9000")
    assert f'value="https://hooks.example.org/api/hooks/{hook.url_path}"' in response.content.decode()


@pytest.mark.parametrize("scheme", [name for name in SCHEMES if name != "none"])
def test_the_curl_line_carries_a_signature_the_webhook_accepts(page, alice, scheme):
    hook = make_hook(alice, scheme=scheme)
    response = page.get(reverse("proactive:webhook", args=[hook.pk]))
    url, headers, body = parse_curl(shown_curl(response))
    assert url.endswith(f"/api/hooks/{hook.url_path}")
    assert headers["Content-Type"] == "application/json"
    verified = get_scheme(scheme)().verify(secret=hook.secret, body=body, headers=headers)
    assert verified is not None
    wrong = get_scheme(scheme).generate_secret()
    with pytest.raises(Exception, match="signature"):
        get_scheme(scheme)().verify(secret=wrong, body=body, headers=headers)


def test_the_curl_line_works_against_the_real_endpoint(page, client, alice):
    hook = make_hook(alice, scheme="github")
    url, headers, body = parse_curl(shown_curl(page.get(reverse("proactive:webhook", args=[hook.pk]))))
    response = client.generic("POST", url.split("testserver", 1)[1], body, **{
        f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items() if name != "Content-Type"
    }, content_type="application/json")  # fmt: skip
    assert response.status_code == 202, response.content
    assert WebhookDelivery.objects.get().verdict == "accepted"


def test_send_test_delivery_goes_through_the_ingress_and_starts_a_run(page, alice):
    hook = make_hook(alice)
    response = page.post(reverse("proactive:webhook_send_test", args=[hook.pk]))
    delivery = WebhookDelivery.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("proactive:delivery", args=[hook.pk, delivery.pk])
    assert (delivery.verdict, delivery.status_code, delivery.event_type) == ("accepted", 202, "gradent.test")
    assert delivery.headers["user-agent"] == "Gradent test delivery"
    WebhookDeliverySource().tick(timezone.now())
    run = Run.objects.get()
    assert run.payload["type"] == "gradent.test"
    assert run.input["task"] == "Handle gradent.test"


def test_send_test_delivery_to_a_disabled_webhook_is_recorded_as_refused(page, alice):
    hook = make_hook(alice, enabled=False)
    response = page.post(reverse("proactive:webhook_send_test", args=[hook.pk]), follow=True)
    assert "rejected (404): No such webhook." in response.content.decode()
    assert WebhookDelivery.objects.get().status_code == 404
    assert not Run.objects.exists()


def test_a_viewer_gets_no_signed_curl_and_cannot_send_a_test(client, alice):
    hook = make_hook(alice)
    viewer = make_user("victor")
    membership_add(workspace=hook.workspace, user=viewer, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("proactive:webhook", args=[hook.pk])).content.decode()
    assert "webhook-curl" not in page and "Send test delivery" not in page
    assert client.post(reverse("proactive:webhook_send_test", args=[hook.pk])).status_code == 403
    assert not WebhookDelivery.objects.exists()


def test_copy_buttons_sit_next_to_the_url_and_the_new_secret(page, alice):
    hook = make_hook(alice)
    session = page.session
    session[f"proactive:webhook-secret:{hook.pk}"] = hook.secret
    session.save()
    text = page.get(reverse("proactive:webhook", args=[hook.pk])).content.decode()
    assert 'data-copy="#new-secret"' in text
    assert 'data-copy="#webhook-url"' in text
    assert 'data-copy="#webhook-curl"' in text
    assert "/static/gradent-copy.js" in text
    assert "onclick" not in text
