"""The API contract (issues 9.15 and 12.8): the schema says what the API does, and the API
does what docs/api.md says. The whole-schema check is tests/system/test_api_schemathesis.py."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from autonomy.models import AutonomousConfig
from tests.helpers import auth, make_agent, make_user, token_for


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def client(user):
    c = APIClient()
    c.credentials(**auth(token_for(user)))
    return c


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield path, method, operation


def response_schema(schema, path, method, code="200"):
    content = schema["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
    ref = content.get("$ref", "")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else content


class TestTrailingSlash:
    def test_autonomous_config_answers_with_and_without_the_slash(self, client, user):
        for path in ("/api/autonomous/config", "/api/autonomous/config/"):
            assert client.get(path).status_code == 200, path
        body = {"enabled": True, "frequency": "1hour"}
        assert client.put("/api/autonomous/config/", body).json()["status"] == "ok"
        assert AutonomousConfig.objects.get().frequency == "1hour"

    def test_the_config_answer_can_be_sent_back_changed(self, client, user):
        read = client.get("/api/autonomous/config").json()
        answer = client.put("/api/autonomous/config", {**read, "enabled": True, "frequency": "3hours"})
        assert answer.status_code == 200, answer.content
        assert AutonomousConfig.objects.get().frequency == "3hours"
        assert client.put("/api/autonomous/config", {**read, "colour": 1}).json() == {"colour": ["Unknown field."]}

    def test_every_autonomy_path_takes_the_slash(self, client):
        for path in ("status", "goals", "rules", "report", "executor/statistics", "predictions"):
            assert client.get(f"/api/autonomous/{path}/").status_code == 200, path

    def test_the_twins_are_not_in_the_schema(self, schema):
        assert "/api/autonomous/config" in schema["paths"]
        assert "/api/autonomous/config/" not in schema["paths"]


class TestSchema:
    def test_it_is_valid_openapi_generated_without_warnings(self, tmp_path):
        from django.core.management import call_command

        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))

    def test_the_rules_answer_is_an_object_with_rules(self, schema, client):
        rules = response_schema(schema, "/api/autonomous/rules", "get")
        assert rules["type"] == "object" and rules["properties"]["rules"]["type"] == "array"
        assert isinstance(client.get("/api/autonomous/rules").json()["rules"], list)

    @pytest.mark.parametrize(
        ("path", "method", "keys"),
        [
            ("/api/autonomous/config", "get", {"enabled", "frequency", "discord_webhook", "next_execution"}),
            ("/api/autonomous/config", "put", {"status", "message"}),
            ("/api/autonomous/status", "get", {"running", "active_goals", "statistics"}),
            ("/api/autonomous/goals", "get", {"total_active_goals", "goals"}),
            ("/api/autonomous/predictions", "get", {"horizon_hours", "predictions"}),
            ("/api/autonomous/report", "get", {"agent_status", "goals", "executor", "insights"}),
            ("/api/autonomous/executor/statistics", "get", {"totals", "by_action", "by_strategy"}),
            ("/api/autonomous/executor/insights", "get", {"action_success_rates", "best_hours"}),
            ("/api/autonomous/mode", "post", {"status", "autonomous"}),
            ("/api/autonomous/analysis/trigger", "post", {"goals_created", "goals_achieved"}),
        ],
    )
    def test_autonomy_answers_are_typed(self, schema, path, method, keys):
        answer = response_schema(schema, path, method)
        assert keys <= set(answer.get("properties", {})), answer

    def test_the_hook_endpoint_is_described(self, schema):
        hook = schema["paths"]["/api/hooks/{url_path}"]["post"]
        assert hook["security"] == [{}]
        assert {"200", "202", "400", "401", "404", "413", "429"} <= set(hook["responses"])
        accepted = hook["responses"]["202"]["content"]["application/json"]["schema"]
        assert accepted["required"] == ["status"] and "delivery" in accepted["properties"]

    def test_error_answers_are_declared(self, schema):
        for path, method, operation in operations(schema):
            codes = set(operation["responses"])
            if path != "/api/hooks/{url_path}":
                assert {"401", "403", "414", "429"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert "400" in codes, (method, path)

    def test_request_bodies_refuse_unknown_properties(self, schema):
        agent = schema["components"]["schemas"]["AgentRequest"]
        assert agent["additionalProperties"] is False
        assert "state" not in agent["properties"]  # read-only: not part of a request

    def test_monitors_document_the_original_names(self, schema):
        monitor = schema["components"]["schemas"]["Monitor"]["properties"]
        assert {"is_active", "last_check", "last_triggered", "trigger_count"} <= set(monitor)
        assert "is_active" in schema["components"]["schemas"]["MonitorRequest"]["properties"]
        assert monitor["agent_id"]["type"] == "integer"

    def test_constraints_the_api_enforces_are_in_the_schema(self, schema, settings):
        components = schema["components"]["schemas"]

        def prop(component, name):
            value = components[component]["properties"][name]
            ref = value.get("$ref") or (value.get("allOf") or [{}])[0].get("$ref")
            return components[ref.rsplit("/", 1)[-1]] if ref else value

        assert set(prop("AgentRequest", "provider")["enum"]) >= {"openai", "anthropic", "scripted"}
        assert prop("AgentRequest", "max_seconds")["maximum"] == (
            settings.GRADENT_TASK_TIMEOUT - settings.GRADENT_RUN_GRACE_SECONDS
        )
        assert prop("AgentRequest", "name")["minLength"] == 1
        assert set(prop("MonitorRequest", "probe")["enum"]) >= {"http", "metric", "llm"}
        assert "github" in prop("WebhookRequest", "scheme")["enum"]
        assert prop("ThreadRequest", "agent_state")["type"] == "object"
        assert prop("TriggerRequest", "config")["type"] == "object"
        goals = {p["name"]: p["schema"] for p in schema["paths"]["/api/autonomous/goals"]["get"]["parameters"]}
        assert "all" in goals["status"]["enum"]
        horizon = schema["paths"]["/api/autonomous/predictions"]["get"]["parameters"][0]["schema"]
        assert (horizon["minimum"], horizon["maximum"]) == (1, 720)

    def test_pagination_and_ids_have_ranges(self, schema):
        params = {p["name"]: p["schema"] for p in schema["paths"]["/api/agents/"]["get"]["parameters"]}
        assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000}
        assert params["offset"]["minimum"] == 0
        agent_id = schema["paths"]["/api/agents/{id}/"]["get"]["parameters"][0]["schema"]
        assert agent_id["type"] == "integer" and agent_id["minimum"] == 1


@pytest.mark.django_db
class TestStrictInput:
    @pytest.mark.parametrize("query", ["limit=1&limit=2", "limit=abc", "limit=0", "limit=1001", "offset=-1"])
    def test_bad_limit_or_offset_is_a_400_naming_it(self, client, user, query):
        make_agent(user)
        answer = client.get(f"/api/agents/?{query}")
        assert answer.status_code == 400, query
        assert set(answer.json()) <= {"limit", "offset"}

    def test_good_limit_and_offset_still_page(self, client, user):
        make_agent(user, name="a")
        make_agent(user, name="b")
        page = client.get("/api/agents/?limit=1&offset=1").json()
        assert page["count"] == 2 and len(page["results"]) == 1

    @pytest.mark.parametrize("query", ["status=nope", "source=nope", "status=queued&status=failed", "agent=-1"])
    def test_run_filters_are_checked(self, client, query):
        answer = client.get(f"/api/runs/?{query}")
        assert answer.status_code == 400, query
        assert set(answer.json()) & {"status", "source", "agent"}

    def test_form_bodies_are_refused_json_ones_taken(self, user):
        c = APIClient()
        c.credentials(**auth(token_for(user)))
        form = c.post("/api/autonomous/mode", {"autonomous": "true"}, format="multipart")
        assert form.status_code == 415
        assert c.post("/api/autonomous/mode", {"autonomous": True}, format="json").status_code == 200

    def test_an_unknown_api_path_answers_json(self, client):
        answer = client.get("/api/autonomous/goals/not-a-number")
        assert answer.status_code == 404 and answer.json() == {"detail": "Not found."}

    def test_a_timestamp_with_a_large_offset_is_stored_in_utc(self, client):
        # PostgreSQL refuses offsets past ±15:59; ISO 8601 (and schemathesis) does not.
        from autonomy.models import MetricPoint

        body = {"metric_name": "cpu_usage", "value": 1, "timestamp": "2020-12-13T04:02:28+17:56"}
        answer = client.post("/api/autonomous/metrics", body)
        assert answer.status_code == 201, answer.content
        assert MetricPoint.objects.get().at.isoformat() == "2020-12-12T10:06:28+00:00"

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({"metric_name": "cpu_usage", "value": 1, "unit": "%"}, {"unit": ["Unknown field."]}),
            (
                {"metrics": [{"metric_name": "cpu_usage", "value": 1, "unit": "%"}]},
                {"metrics": {"0": {"unit": ["Unknown field."]}}},
            ),
            ({"metrics": [{"metric_name": "cpu_usage", "value": 1}], "extra": 1}, {"extra": ["Unknown field."]}),
        ],
    )
    def test_metric_points_refuse_unknown_fields(self, client, body, error):
        from autonomy.models import MetricPoint

        answer = client.post("/api/autonomous/metrics", body)
        assert answer.status_code == 400 and answer.json() == error
        assert not MetricPoint.objects.exists()
