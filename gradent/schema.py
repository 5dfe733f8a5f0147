"""drf-spectacular hooks that make /api/schema/ say what the API does (issues 9.15, 12.8).

- Every operation lists the error answers it can give: 400 (bad input, naming the field)
  where it takes a body or query parameters, 404 where it has path parameters, and 401,
  403, 414 and 429 everywhere; shared as `components.responses`.
- Request bodies refuse unknown properties (`additionalProperties: false`), as the API does.
- `/api/hooks/{url_path}`, a plain Django view (the signature is checked over the raw
  bytes), is described here because spectacular only sees DRF views.
- The trailing-slash twins of the autonomy paths are left out (the same operations).
"""

from __future__ import annotations

from gradent.api import MAX_ID

DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Field name → list of messages (or a nested object of them); `detail` for the whole request.",
    "additionalProperties": True,
}
ERROR_RESPONSES = {
    "BadRequest": {
        "description": "Bad input; the body names each field and what is wrong with it.",
        "content": {"application/json": {"schema": FIELD_ERRORS}},
    },
    "Unauthorized": {
        "description": "No or bad credentials.",
        "content": {"application/json": {"schema": DETAIL}},
    },
    "Forbidden": {
        "description": "Not allowed: a read-only token or a viewer's role.",
        "content": {"application/json": {"schema": DETAIL}},
    },
    "NotFound": {
        "description": "No such object among yours (another workspace's object is a 404 too).",
        "content": {"application/json": {"schema": DETAIL}},
    },
    "URITooLong": {"description": "The request line is too long (answered by the web server)."},
    "TooManyRequests": {
        "description": "Throttled; see the Retry-After header.",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    },
}
METHODS = ("get", "put", "post", "patch", "delete")


def drop_slash_twins(endpoints, **kwargs):
    """Preprocessing hook: `/api/autonomous/config/` is `/api/autonomous/config` again."""
    paths = {path for path, *_ in endpoints}
    return [e for e in endpoints if not (e[0].endswith("/") and e[0].rstrip("/") in paths)]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: the error answers, strict request bodies, the hook endpoint."""
    components = result.setdefault("components", {})
    components.setdefault("responses", {}).update(ERROR_RESPONSES)
    for name, component in components.get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    result.setdefault("paths", {}).update(hook_path())
    for path, operations in result["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            for parameter in parameters:
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and schema.get("type") == "integer":
                    schema.setdefault("minimum", 1)
                    schema.setdefault("maximum", MAX_ID)
            wanted = ["Unauthorized", "Forbidden", "URITooLong", "TooManyRequests"]
            if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
                wanted.append("BadRequest")
            if "{" in path:
                wanted.append("NotFound")
            codes = {
                "BadRequest": "400",
                "Unauthorized": "401",
                "Forbidden": "403",
                "NotFound": "404",
                "URITooLong": "414",
                "TooManyRequests": "429",
            }
            for name in wanted:
                responses.setdefault(codes[name], _ref(name))
    return result


HOOK_ANSWER = {
    "type": "object",
    "properties": {
        "status": {
            "type": "string",
            "enum": ["accepted", "filtered", "duplicate", "rejected"],
            "description": "The verdict stored with the delivery.",
        },
        "delivery": {"type": "integer", "nullable": True, "description": "The stored delivery's id."},
        "detail": {"type": "string"},
    },
    "required": ["status"],
}
SLACK_CHALLENGE = {
    "type": "object",
    "properties": {"challenge": {"type": "string"}},
    "required": ["challenge"],
    "description": "Slack's url_verification: the challenge sent back.",
}


def _hook_answer(description: str, schema: dict = HOOK_ANSWER) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def hook_path() -> dict:
    return {
        "/api/hooks/{url_path}": {
            "post": {
                "operationId": "hooks_receive",
                "summary": "Receive a webhook delivery",
                "description": (
                    "Incoming webhooks. The body is any payload of up to the webhook's max_body_bytes, signed "
                    "with the webhook's scheme (Standard Webhooks, GitHub, Stripe, Slack, HMAC-SHA256) over the "
                    "raw bytes. No login: the signature is the credential."
                ),
                "tags": ["hooks"],
                "security": [{}],
                "parameters": [
                    {
                        "name": "url_path",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": 200},
                        "description": "The webhook's url_path (POST /api/proactive/webhooks answers it).",
                    }
                ],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {"schema": {}},
                        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                        "*/*": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "responses": {
                    "200": _hook_answer(
                        "A duplicate or a ping (or Slack's url_verification challenge).",
                        {"oneOf": [HOOK_ANSWER, SLACK_CHALLENGE]},
                    ),
                    "202": _hook_answer("Accepted (its run starts within a dispatcher tick) or filtered."),
                    "400": _hook_answer("The body is not valid JSON."),
                    "401": _hook_answer("Bad or missing signature."),
                    "404": _hook_answer("No such webhook, or it is disabled."),
                    "405": {"description": "Only POST."},
                    "413": _hook_answer("The body is larger than the webhook allows."),
                    "414": _ref("URITooLong"),
                    "429": _hook_answer("More deliveries a minute than the webhook allows."),
                },
            }
        }
    }
