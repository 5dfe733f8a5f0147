from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from agents.models import Agent, Run
from agents.services import start_run
from gradent.lib import crypto
from notifications.models import Channel
from tests.helpers import auth, make_agent, make_user, token_for
from tests.notifications.helpers import make_channel


def raw(model, pk, field):
    """The value as stored in the database, past the field's decryption."""
    return dict(crypto.stored_values(model, model._meta.get_field(field))).get(pk, "")


def test_it_round_trips_and_hides_the_plaintext():
    stored = crypto.encrypt("sk-secret")
    assert stored.startswith("enc1:") and "sk-secret" not in stored
    assert crypto.decrypt(stored) == "sk-secret"


def test_a_changed_key_makes_the_secret_unreadable_and_kept_not_blank(settings):
    stored = crypto.encrypt("sk-secret")
    settings.GRADENT_ENCRYPTION_KEY = "another key"
    with pytest.raises(crypto.SecretUnreadable, match="cannot be decrypted"):
        crypto.decrypt(stored)
    field = crypto.EncryptedTextField()
    value = field.from_db_value(stored, None, None)
    assert crypto.is_unreadable(value) and value  # not "": a truthy marker holding the ciphertext
    assert field.get_prep_value(value) == stored  # saving writes back what was there
    with pytest.raises(crypto.SecretUnreadable, match="GRADENT_ENCRYPTION_OLD_KEYS"):
        crypto.reveal(value, what="API key")


def test_old_keys_still_decrypt_and_new_values_use_the_current_key(settings):
    settings.GRADENT_ENCRYPTION_KEY = "key one"
    stored = crypto.encrypt("sk-secret")
    settings.GRADENT_ENCRYPTION_KEY = "key two"
    settings.GRADENT_ENCRYPTION_OLD_KEYS = ["key one"]
    assert crypto.decrypt(stored) == "sk-secret"
    fresh = crypto.encrypt("new")
    settings.GRADENT_ENCRYPTION_OLD_KEYS = []
    assert crypto.decrypt(fresh) == "new"


@pytest.mark.django_db
def test_rotation_re_encrypts_every_encrypted_field_of_every_model(settings, capsys):
    settings.GRADENT_ENCRYPTION_KEY = "key one"
    user = make_user()
    agent = make_agent(user, api_key="sk-rotate-me")
    channel = make_channel("ntfy", {"topic": "alerts", "token": "tk_rotate"}, user=user)
    from proactive.models import Trigger, Webhook

    trigger = Trigger.objects.create(workspace=agent.workspace, agent=agent, name="hook trigger")
    webhook = Webhook.objects.create(workspace=agent.workspace, trigger=trigger, secret="whsec-rotate")
    before = {
        (Agent, agent.pk, "api_key"): raw(Agent, agent.pk, "api_key"),
        (Channel, channel.pk, "secret"): raw(Channel, channel.pk, "secret"),
        (Webhook, webhook.pk, "secret"): raw(Webhook, webhook.pk, "secret"),
    }

    settings.GRADENT_ENCRYPTION_KEY = "key two"
    settings.GRADENT_ENCRYPTION_OLD_KEYS = ["key one"]
    call_command("rotate_encryption_key")
    assert "re-encrypted 3 secret(s); 0 unreadable" in capsys.readouterr().out

    settings.GRADENT_ENCRYPTION_OLD_KEYS = []  # the old key is gone: everything reads with the new one
    for (model, pk, field), old in before.items():
        now = raw(model, pk, field)
        assert now != old and crypto.decrypt(now)
    assert Agent.objects.get(pk=agent.pk).api_key == "sk-rotate-me"
    assert Channel.objects.get(pk=channel.pk).secrets["token"] == "tk_rotate"
    assert Webhook.objects.get(pk=webhook.pk).secret == "whsec-rotate"


@pytest.mark.django_db
def test_rotation_reports_unreadable_secrets_and_leaves_them(settings):
    settings.GRADENT_ENCRYPTION_KEY = "lost key"
    agent = make_agent(api_key="sk-lost")
    stored = raw(Agent, agent.pk, "api_key")
    settings.GRADENT_ENCRYPTION_KEY = "key two"
    with pytest.raises(CommandError, match="1 secret"):
        call_command("rotate_encryption_key")
    assert raw(Agent, agent.pk, "api_key") == stored


@pytest.mark.django_db
def test_the_database_check_names_unreadable_secrets(settings):
    settings.GRADENT_ENCRYPTION_KEY = "lost key"
    agent = make_agent(api_key="sk-lost")
    call_command("check", databases=["default"])  # readable: clean
    settings.GRADENT_ENCRYPTION_KEY = "key two"
    with pytest.raises(SystemCheckError, match=rf"gradent.E001.*agents.Agent {agent.pk} api_key"):
        call_command("check", databases=["default"])


@pytest.mark.django_db
def test_saving_an_agent_with_an_unreadable_key_keeps_it_and_its_run_says_why(settings, run_inline):
    settings.GRADENT_ENCRYPTION_KEY = "key one"
    user = make_user()
    agent = make_agent(user, provider="openai", model="gpt-x", provider_settings={}, api_key="sk-keep-me")
    stored = raw(Agent, agent.pk, "api_key")
    settings.GRADENT_ENCRYPTION_KEY = "key two"

    from django.test import Client

    response = Client().patch(
        f"/api/agents/{agent.pk}/",
        {"description": "edited"},
        content_type="application/json",
        **auth(token_for(user)),
    )
    assert response.status_code == 200, response.content
    assert response.json()["has_api_key"] is True
    loaded = Agent.objects.get(pk=agent.pk)
    loaded.name = "renamed"
    loaded.save()
    assert raw(Agent, agent.pk, "api_key") == stored

    with run_inline(execute=True):
        run = start_run(Agent.objects.get(pk=agent.pk))
    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed" and "API key cannot be decrypted" in run.reason

    settings.GRADENT_ENCRYPTION_OLD_KEYS = ["key one"]
    assert Agent.objects.get(pk=agent.pk).api_key == "sk-keep-me"


@pytest.mark.django_db
def test_a_channel_with_unreadable_secrets_is_not_blanked_by_an_edit_and_says_why(settings):
    settings.GRADENT_ENCRYPTION_KEY = "key one"
    user = make_user()
    channel = make_channel("ntfy", {"topic": "alerts", "token": "tk_keep"}, user=user)
    stored = raw(Channel, channel.pk, "secret")
    settings.GRADENT_ENCRYPTION_KEY = "key two"

    from django.test import Client

    client, headers = Client(), auth(token_for(user))
    response = client.patch(
        f"/api/notifications/channels/{channel.pk}/",
        {"name": "renamed", "config": {"topic": "other"}},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 200, response.content
    assert "cannot be decrypted" in response.json()["target"]
    assert raw(Channel, channel.pk, "secret") == stored

    response = client.post(f"/api/notifications/channels/{channel.pk}/test/", **headers)
    assert "cannot be decrypted" in response.json()["detail"]

    settings.GRADENT_ENCRYPTION_OLD_KEYS = ["key one"]
    assert Channel.objects.get(pk=channel.pk).secrets == {"token": "tk_keep"}
