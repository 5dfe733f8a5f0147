from __future__ import annotations

import json
from typing import Any

import requests
from rest_framework import serializers

from agents.tools.base import FinishRun, Tool, ToolContext, ToolError
from gradent.lib import safehttp

MAX_BODY_FOR_MODEL = 20_000


class HttpRequestTool(Tool):
    name = "http_request"
    description = (
        "Make an HTTP request to a public URL and get back the status, headers and body "
        "(truncated). Private and loopback addresses are refused."
    )
    untrusted_output = True

    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(help_text="http or https URL")
        method = serializers.ChoiceField(choices=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], default="GET")
        headers = serializers.DictField(child=serializers.CharField(), required=False, help_text="Request headers")
        json = serializers.JSONField(required=False, help_text="JSON body")
        body = serializers.CharField(required=False, help_text="Raw text body")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        try:
            response = safehttp.request(
                args.get("method", "GET"),
                args["url"],
                headers=args.get("headers"),
                json=args.get("json"),
                data=args.get("body"),
                timeout=(5.0, 30.0),
                purpose=safehttp.TOOLS,
            )
        except safehttp.UnsafeURLError as exc:
            raise ToolError(f"refused: {exc}", permanent=True) from None
        except safehttp.ResponseTooLarge as exc:
            raise ToolError(f"response too large: {exc}", permanent=True) from None
        except requests.RequestException as exc:
            raise ToolError(f"request failed: {exc.__class__.__name__}: {exc}") from None
        text = response.text
        body: Any = text[:MAX_BODY_FOR_MODEL]
        if "json" in response.headers.get("Content-Type", ""):
            try:
                body = response.json()
                if len(json.dumps(body)) > MAX_BODY_FOR_MODEL:
                    body = text[:MAX_BODY_FOR_MODEL]
            except ValueError:
                pass
        return {
            "status": response.status_code,
            "url": response.url,
            "content_type": response.headers.get("Content-Type", ""),
            "body": body,
            "truncated": len(text) > MAX_BODY_FOR_MODEL,
        }


class RememberTool(Tool):
    name = "remember"
    description = "Store a value under a key in the agent's state; it is kept across runs."

    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=200)
        value = serializers.JSONField(help_text="Any JSON value")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        if ctx.thread is None:
            raise ToolError("this run has no thread to remember in", permanent=True)
        from agents.services import thread_state_set

        thread_state_set(thread=ctx.thread, key=args["key"], value=args["value"])
        return {"stored": args["key"]}


class RecallTool(Tool):
    name = "recall"
    description = "Read a value stored with remember (or every key when no key is given)."

    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=200, required=False)

    def run(self, args: dict, ctx: ToolContext) -> Any:
        if ctx.thread is None:
            return {"found": False}
        ctx.thread.refresh_from_db(fields=["agent_state"])
        state = ctx.thread.agent_state or {}
        if "key" not in args:
            return {"keys": sorted(state)}
        if args["key"] not in state:
            return {"found": False, "key": args["key"]}
        return {"found": True, "key": args["key"], "value": state[args["key"]]}


class FinishTool(Tool):
    name = "finish"
    description = "End the run now with a final answer."

    class InputSerializer(serializers.Serializer):
        answer = serializers.CharField(help_text="The final answer or summary of what was done.")

    def run(self, args: dict, ctx: ToolContext) -> Any:
        raise FinishRun(args["answer"])
