"""Login lockout (django-axes): the login page, the admin login and the token endpoint lock
a user name and an address out after repeated failures, for the cool-off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.helpers import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Secret-123"
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"
PROXY = "127.0.0.1"


def login(username: str, password: str, *, address: str = ATTACKER, url: str | None = None, **extra):
    client = Client(REMOTE_ADDR=address, **extra)
    response = client.post(url or reverse("login"), {"username": username, "password": password})
    return client, response


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def expire_cool_off(minutes: float = 16) -> None:
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=minutes))


def test_it_refuses_the_right_password_after_100_wrong_ones_until_the_cool_off_ends(settings):
    make_user("alice")
    statuses = [login("alice", f"guess-{n}")[1].status_code for n in range(100)]
    limit = settings.AXES_FAILURE_LIMIT
    # Wrong passwords get the login form again until the limit; from then on, the lockout.
    assert set(statuses[: limit - 1]) == {200}
    assert set(statuses[limit - 1 :]) == {429}

    client, response = login("alice", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert "Try again in 15 minutes" in page
    assert response["Retry-After"] == str(15 * 60)

    expire_cool_off()
    client, response = login("alice", PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


def test_it_limits_another_user_from_the_same_address(settings):
    make_user("alice")
    make_user("bob")
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("alice", f"guess-{n}")

    client, response = login("bob", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    # Bob from his own address is not affected; alice's name is locked from anywhere.
    client, response = login("bob", PASSWORD, address=ELSEWHERE)
    assert logged_in(client)
    client, response = login("alice", PASSWORD, address=ELSEWHERE)
    assert response.status_code == 429
    assert not logged_in(client)


def test_it_can_lock_only_the_pair_of_name_and_address(settings):
    settings.AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
    make_user("alice")
    make_user("bob")
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("alice", f"guess-{n}")

    assert login("alice", PASSWORD)[1].status_code == 429
    assert logged_in(login("alice", PASSWORD, address=ELSEWHERE)[0])
    assert logged_in(login("bob", PASSWORD)[0])


def test_it_locks_out_the_admin_login(settings):
    admin = get_user_model().objects.create_superuser("root", password=PASSWORD)
    url = reverse("admin:login")
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(admin.username, f"guess-{n}", url=url)

    client, response = login(admin.username, PASSWORD, url=url)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302  # still not logged in


def test_it_issues_no_token_for_a_locked_name(settings):
    make_user("alice")
    for n in range(settings.AXES_FAILURE_LIMIT):
        login("alice", f"guess-{n}")

    response = Client(REMOTE_ADDR=ELSEWHERE).post(
        "/api/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json"
    )
    # Told apart from a wrong password: a 429 saying for how long, as the login page says.
    assert response.status_code == 429
    assert "access" not in response.json()
    assert response.json()["detail"] == "Too many failed logins: try again in 15 minutes."
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    wrong = Client(REMOTE_ADDR=ELSEWHERE).post(
        "/api/auth/token", {"username": "bob", "password": "nope"}, content_type="application/json"
    )
    assert wrong.status_code == 401  # another name, from an address not locked: a plain refusal
    # The same request a moment before the lockout issues a token.
    AccessAttempt.objects.all().delete()
    response = Client(REMOTE_ADDR=ELSEWHERE).post(
        "/api/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json"
    )
    assert "access" in response.json()


def test_behind_a_proxy_it_locks_the_forwarded_address_not_the_proxy(settings):
    settings.GRADENT_BEHIND_PROXY = True
    make_user("alice")
    make_user("bob")
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The attacker writes a left-most entry of their own choosing each time.
        login("alice", f"guess-{n}", address=PROXY, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, {ATTACKER}")

    blocked, response = login("bob", PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert response.status_code == 429
    # Everyone else comes through the same proxy and is not locked out.
    other, response = login("bob", PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR=ELSEWHERE)
    assert logged_in(other)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
