"""Bad input is a 4xx naming the field, never a 500 (issue 9, item 8), on every endpoint:
JSON nested 3,000 levels deep, numbers out of the float range (``1e999999``), NaN, and
integers too big for a database key in query strings and paths. The endpoints are read
from the OpenAPI schema and the URL resolver, so a new one is covered when it is added."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from agents.models import Run, Thread
from autonomy.models import Goal
from gradent.lib.jsonutil import JSONInputError, StrictJSONDecoder, loads_strict
from tests.helpers import make_agent, make_user, token_for
from tests.notifications.helpers import make_channel
from tests.pages.test_proactive_pages import (
    make_delivery,
    make_monitor,
    make_schedule,
    make_suggestion,
    make_trigger,
    make_webhook,
)
from workspaces.models import APIToken, personal_workspace_for

pytestmark = pytest.mark.django_db

DEEP = "[" * 3000 + "]" * 3000
HUGE = "9223372036854775808"  # 2**63: one more than a 64-bit key holds
BAD_INTEGERS = (HUGE, "99999999999999999999999999", "²", "-1")


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = None


def operations(methods: tuple[str, ...]) -> list[tuple[str, str]]:
    global SCHEMA
    if SCHEMA is None:
        SCHEMA = _schema()
    # /api/hooks/ is the plain-Django ingress, with its own refusals (tests/proactive/test_hooks*).
    return [
        (method, path)
        for path, ops in SCHEMA["paths"].items()
        for method in ops
        if method in methods and not path.startswith("/api/hooks/")
    ]


def operation(method: str, path: str) -> dict:
    return SCHEMA["paths"][path][method]


@pytest.fixture
def world(settings):
    """One object of each kind in the caller's workspace, and a client with a write token."""
    settings.GRADENT_CALLABLE_PROBES = ["tests.pages.test_proactive_pages.reading"]
    user = make_user()
    workspace = personal_workspace_for(user)
    agent = make_agent(user)
    trigger = make_trigger(agent)
    webhook = make_webhook(trigger)
    ids = {
        "agents": agent.pk,
        "runs": Run.objects.create(workspace=workspace, agent=agent, status="running").pk,
        "threads": Thread.objects.create(workspace=workspace, agent=agent).pk,
        "proactive/schedules": make_schedule(agent).pk,
        "proactive/monitors": make_monitor(agent).pk,
        "proactive/triggers": trigger.pk,
        "proactive/webhooks": webhook.pk,
        "deliveries": make_delivery(webhook).pk,
        "proactive/suggestions": make_suggestion(agent).pk,
        "notifications/channels": make_channel("ntfy", {"topic": "t"}, workspace=workspace).pk,
        "autonomous/goals": Goal.objects.create(workspace=workspace, goal_type="cost_reduction", title="g").pk,
        "tokens": APIToken.issue(user=user, name="other")[0].pk,
        "workspaces": workspace.pk,
    }
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client, ids


def fill(path: str, ids: dict, value: str | None = None) -> str:
    """The schema path with its parameters filled: ``value``, or the id of the world's object."""

    def one(match: re.Match) -> str:
        if value is not None:
            return value
        if match.group(1) == "delivery_id":
            return str(ids["deliveries"])
        prefix = path[len("/api/") : match.start()].strip("/")
        prefix = re.sub(r"/\{[^}]+\}.*$", "", prefix)
        return str(ids[prefix])

    return re.sub(r"\{(\w+)\}", one, path)


def body_fields(method: str, path: str) -> list[str]:
    """The top-level fields the operation's JSON body documents (may be empty)."""
    content = operation(method, path).get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref:
        schema = SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return [name for name, field in schema.get("properties", {}).items() if not field.get("readOnly")]


WRITES = operations(("post", "put", "patch"))


def test_every_write_operation_is_covered():
    assert len(WRITES) > 40
    assert ("post", "/api/agents/{id}/run/") in WRITES


@pytest.mark.parametrize("bad", ["deep", "huge_number", "nan"])
@pytest.mark.parametrize(("method", "path"), WRITES)
def test_write_operations_refuse_unstorable_json_with_400(world, method, path, bad):
    client, ids = world
    fields = body_fields(method, path) or ["data"]
    field = fields[0]
    raw = {"deep": DEEP, "huge_number": "[1, 1e999999]", "nan": "[NaN]"}[bad]
    body = json.dumps({field: 0}).replace("0}", raw + "}")
    response = getattr(client, method)(fill(path, ids), body, content_type="application/json")
    assert response.status_code != 500, response.content[:300]
    if operation(method, path).get("requestBody") and not path.startswith("/api/auth/"):
        assert response.status_code == 400, (response.status_code, response.content[:300])
        if bad != "nan":  # DRF's own refusal of NaN names no field; ours does for the others
            assert field in response.json(), response.json()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/agents/{agents}/run/", "input"),
        ("/api/agents/{agents}/run/", "payload"),
        ("/api/autonomous/events", "metadata"),
        ("/api/autonomous/metrics", "labels"),
    ],
)
@pytest.mark.parametrize("raw", ["1e999999", "-1e999999", "NaN", "Infinity", DEEP])
def test_the_named_fields_refuse_unstorable_numbers_and_nesting(world, path, field, raw):
    client, ids = world
    body = {"metric_name": "cpu", "value": 1, "event_type": "deploy"}
    text = json.dumps(body)[:-1] + f', "{field}": {{"x": {raw}}}}}'
    response = client.post(path.format(**ids), text, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert field in response.json(), response.json()
    assert not Run.objects.filter(input__has_key="x").exists()


@pytest.mark.parametrize(
    ("path", "method", "field"),
    [
        ("/api/agents/{agents}/", "patch", "provider_settings"),
        ("/api/threads/{threads}/", "patch", "agent_state"),
        ("/api/proactive/schedules/{proactive/schedules}/", "patch", "input"),
        ("/api/proactive/monitors/{proactive/monitors}/", "patch", "probe_config"),
        ("/api/proactive/triggers/{proactive/triggers}/", "patch", "config"),
        ("/api/notifications/channels/{notifications/channels}/", "patch", "config"),
    ],
)
@pytest.mark.parametrize("raw", [DEEP, '{"x": 1e999999}'])
def test_form_encoded_requests_are_refused_not_a_500(world, path, method, field, raw):
    """The API takes JSON bodies only (docs/decisions.md, the API contract): a multipart body,
    even one holding unstorable JSON, is a 415 and changes nothing."""
    client, ids = world
    url = path.replace("{", "{0[").replace("}", "]}").format(ids)
    response = getattr(client, method)(url, {field: raw}, format="multipart")
    assert response.status_code == 415, response.content[:300]


def test_the_parser_still_reads_ordinary_json(world):
    client, ids = world
    response = client.post(
        f"/api/agents/{ids['agents']}/run/",
        {"input": {"n": 1.5e300, "deep": [[[[{"ok": True}]]]]}},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert float(Run.objects.get(pk=response.json()["id"]).input["n"]) == 1.5e300  # PostgreSQL reads an int back


# --- integers in query strings and paths ---------------------------------------------------

READS = operations(("get",))
INTEGER_QUERY = sorted(
    {
        (method, path, parameter["name"])
        for method, path in [*READS, *WRITES, *operations(("delete",))]
        for parameter in operation(method, path).get("parameters", [])
        if parameter["in"] == "query"
        and parameter["schema"].get("type") == "integer"
        and parameter["name"] not in ("limit", "offset")
    }
    | {("get", "/api/threads/", "agent"), ("post", "/api/runs/{id}/cancel/", "agent")}
)


@pytest.mark.parametrize("value", BAD_INTEGERS)
@pytest.mark.parametrize(("method", "path", "name"), INTEGER_QUERY)
def test_integer_query_parameters_out_of_range_are_400_naming_them(world, method, path, name, value):
    client, ids = world
    response = getattr(client, method)(f"{fill(path, ids)}?{name}={value}")
    if (method, path) == ("get", "/api/runs/{id}/"):  # one run by id: the list's filters do not apply
        assert response.status_code == 200
        return
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert name in response.json()


@pytest.mark.parametrize("value", [HUGE, "99999999999999999999999999"])
@pytest.mark.parametrize("name", ["limit", "offset"])
def test_paging_with_huge_numbers_is_a_400_naming_it(world, name, value):
    """Out of the documented range (the schema's), never a 500 from SQLite's bound."""
    client, _ids = world
    response = client.get(f"/api/runs/?{name}={value}")
    assert response.status_code == 400, response.content[:300]
    assert name in response.json()


PATH_OPS = [(m, p) for m, p in [*READS, *WRITES, *operations(("delete",))] if "{" in p]


@pytest.mark.parametrize(("method", "path"), PATH_OPS)
def test_huge_ids_in_api_paths_are_404(world, method, path):
    client, _ids = world
    response = getattr(client, method)(fill(path, {}, HUGE), {}, format="json")
    assert response.status_code in (400, 404), (response.status_code, response.content[:300])


def page_routes() -> list[str]:
    """Every page route with an integer in its path, the integer huge."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<int:" in route and not route.startswith("api/"):
                found.append("/" + re.sub(r"<int:\w+>", HUGE, route))

    walk(get_resolver().url_patterns, "")
    return sorted(found)


PAGES = page_routes()


def test_page_routes_are_found():
    assert f"/agents/runs/{HUGE}/" in PAGES
    assert f"/autonomy/goals/{HUGE}/" in PAGES


@pytest.mark.parametrize("url", PAGES)
def test_huge_ids_in_page_paths_are_404(client, url):
    user = make_user()
    client.force_login(user)
    client.raise_request_exception = False
    response = client.get(url)
    assert response.status_code in (404, 405), (response.status_code, url)
    response = client.post(url, {})
    assert response.status_code in (403, 404, 405), (response.status_code, url)


@pytest.mark.parametrize(
    "url",
    [
        f"/agents/runs/?agent={HUGE}",
        "/agents/runs/?agent=²",
        f"/proactive/schedules/new/?agent={HUGE}",
        f"/proactive/webhooks/new/?trigger={HUGE}",
        f"/agents/runs/?page={HUGE}",
    ],
)
def test_integers_in_page_query_strings_are_not_errors(client, url):
    client.force_login(make_user())
    client.raise_request_exception = False
    assert client.get(url).status_code == 200


# --- the decoder itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": {"b": [1, 2, {"c": 1e999999}]}}', "a.b[2].c"),
        ('{"a": [-1e400]}', "a[0]"),
        ('{"a": NaN}', "a"),
        ('{"a": [Infinity]}', "a[0]"),
        ('{"n": 1' + "0" * 400 + ".0}", "n"),
        ('{"a": {"b": ' + "[" * 70 + "]" * 70 + "}}", "a.b[0][0][0][0][0][0]…"),
        ('{"k\\"ey": ' + DEEP + "}", 'k"ey[0][0][0][0][0][0][0]…'),
    ],
)
def test_the_decoder_refuses_and_says_where(text, where):
    with pytest.raises(JSONInputError) as caught:
        loads_strict(text)
    assert str(caught.value).startswith(where + ": "), str(caught.value)


def test_the_depth_limit_is_the_setting(settings):
    settings.GRADENT_JSON_MAX_DEPTH = 3
    assert loads_strict('{"a": {"b": [1]}}') == {"a": {"b": [1]}}
    with pytest.raises(JSONInputError, match="deeper than 3"):
        loads_strict('{"a": {"b": [[1]]}}')
    settings.GRADENT_JSON_MAX_DEPTH = 64
    assert loads_strict("[" * 64 + "]" * 64)
    with pytest.raises(JSONInputError):
        loads_strict("[" * 65 + "]" * 65)


def test_brackets_and_numbers_inside_strings_are_text():
    text = json.dumps({"s": "[" * 500 + " 1e999999 NaN Infinity", "t": "]" * 500, "n": 1e308})
    assert loads_strict(text)["n"] == 1e308


def test_the_refusal_is_a_json_decode_error_for_callers_that_catch_bad_json():
    with pytest.raises(json.JSONDecodeError):
        json.loads(DEEP, cls=StrictJSONDecoder)


def test_a_body_over_the_upload_limit_is_a_413_in_json_and_starts_nothing(world, settings):
    client, ids = world
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    runs = Run.objects.count()
    body = json.dumps({"task": "x" * 2000})
    response = client.post(f"/api/agents/{ids['agents']}/run/", body, content_type="application/json")
    assert response.status_code == 413, response.content[:300]
    assert response.json() == {"detail": "Request body too large: at most 1000 bytes."}
    assert Run.objects.count() == runs
