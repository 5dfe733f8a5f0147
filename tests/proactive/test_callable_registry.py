"""Only callables the operator registered may be named by a monitor (issue 9, item 12): any
editor could make a worker call ``builtins.print`` and save ``os.system``. The setting
GRADENT_CALLABLE_PROBES lists the dotted paths; the system check imports each; saving another
path is a 400 naming ``probe_config.path`` (API and page); a stored monitor whose path is no
longer listed fails its check with the reason, without importing it."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from rest_framework.test import APIClient

from proactive.models import Monitor
from proactive.probes.base import ProbeContext, ProbeError
from proactive.probes.callable import CallableProbe, check_allowed_paths
from proactive.services import monitor_check
from tests.helpers import auth, make_agent, make_user, token_for
from tests.pages.test_proactive_pages import monitor_data

pytestmark = pytest.mark.django_db

REGISTERED = f"{__name__}.depth"
NEVER = "tests.proactive.never_imported.probe"
FORBIDDEN = ["os.system", "builtins.print", "subprocess.run", "builtins.exec", NEVER]


def depth(config, context):
    return {"value": 42}


@pytest.fixture(autouse=True)
def registered(settings):
    settings.GRADENT_CALLABLE_PROBES = [REGISTERED]


@pytest.fixture
def alice():
    return make_user("alice")


def post_monitor(user, path: str):
    client = APIClient()
    client.credentials(**auth(token_for(user)))
    body = {"name": "m", "agent_id": make_agent(user).pk, "probe": "callable", "probe_config": {"path": path}}
    body["condition"] = "value > 10"
    return client.post("/api/proactive/monitors", body, format="json")


@pytest.mark.parametrize("path", FORBIDDEN)
def test_the_api_refuses_a_path_the_operator_did_not_register(alice, path):
    response = post_monitor(alice, path)
    assert response.status_code == 400
    [message] = response.json()["probe_config"]["path"]
    assert "GRADENT_CALLABLE_PROBES" in message and REGISTERED in message
    assert not Monitor.objects.exists()
    assert NEVER.rsplit(".", 1)[0] not in sys.modules


def test_the_api_accepts_a_registered_path_and_the_check_runs_it(alice):
    response = post_monitor(alice, REGISTERED)
    assert response.status_code == 201, response.content
    check = monitor_check(Monitor.objects.get().pk, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert check.error == "" and check.values == {"value": 42}


def test_with_nothing_registered_every_path_is_refused(alice, settings):
    settings.GRADENT_CALLABLE_PROBES = []
    response = post_monitor(alice, REGISTERED)
    assert response.status_code == 400
    assert "none are registered" in response.json()["probe_config"]["path"][0]


@pytest.mark.parametrize("path", ["os.system", "builtins.print"])
def test_the_page_form_refuses_it_on_the_field(client, alice, path):
    client.force_login(alice)
    data = monitor_data(
        make_agent(alice), probe="callable", probe_config=f'{{"path": "{path}"}}', condition="value > 1"
    )
    response = client.post(reverse("proactive:monitor_create"), data)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["probe_config"])
    assert errors.startswith(f"path: {path} is not a callable the operator registered")
    assert not Monitor.objects.exists()


def test_a_stored_monitor_whose_path_is_not_registered_fails_its_check_without_importing_it(alice):
    agent = make_agent(alice)
    monitor = Monitor.objects.create(
        workspace=agent.workspace, agent=agent, name="old", probe="callable",
        probe_config={"path": NEVER}, condition="value > 0",
    )  # fmt: skip
    check = monitor_check(monitor.pk, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert "is not a callable the operator registered (GRADENT_CALLABLE_PROBES)" in check.error
    assert NEVER in check.error
    assert "tests.proactive.never_imported" not in sys.modules
    monitor.refresh_from_db()
    assert monitor.state == Monitor.State.UNKNOWN  # a probe failure changes no state


def test_the_probe_itself_refuses_to_run_an_unregistered_path():
    probe = CallableProbe({"path": REGISTERED})
    probe.config["path"] = "builtins.print"  # as if the list changed after it was built
    context = ProbeContext(workspace_id=1, monitor_id=1, now=datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(ProbeError, match="not a registered callable"):
        probe.check(context=context)


def test_the_system_check_imports_each_registered_path(settings):
    assert check_allowed_paths() == []
    settings.GRADENT_CALLABLE_PROBES = [REGISTERED, "no_such_module.fn", "os.sep", "not a path", f"{__name__}.nope"]
    errors = check_allowed_paths()
    assert [error.id for error in errors] == ["proactive.E003"] * 4
    text = "\n".join(error.msg for error in errors)
    assert "'no_such_module.fn' cannot be imported" in text
    assert "'os.sep' is not callable" in text
    assert "'not a path' is not a dotted path" in text
    assert f"'{__name__}.nope' cannot be imported" in text
    with pytest.raises(SystemCheckError, match="proactive.E003"):
        call_command("check")


def test_the_setting_may_be_a_comma_separated_string(settings):
    settings.GRADENT_CALLABLE_PROBES = f" {REGISTERED} , os.path.join"
    assert CallableProbe.validate_config({"path": "os.path.join"})["path"] == "os.path.join"
    assert check_allowed_paths() == []
