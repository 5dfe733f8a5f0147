"""A deterministic, offline "provider" that replays a fixed list of tool calls.

Useful for plain automations (fetch a URL, post a message, ...) that need no
model at all, for demos without an API key, and for tests. Settings::

    {
        "steps": [
            {"tool": "http_get", "args": {"url": "{{ input.url }}"}, "id": "fetch"},
            {"tool": "notify", "args": {"text": "status {{ steps.fetch.status }}"}}
        ],
        "answer": "done: {{ last.ok }}"
    }

Every ``complete()`` call returns the next step as one tool call; the step
index is the number of assistant turns with tool calls already in the
conversation, so the script resumes correctly after retries. Once the steps
are used up the rendered ``answer`` is returned as final text (default: the
last step output as JSON).

Template context: ``input`` (run input), ``payload`` (event payload),
``steps`` (outputs by step id and by 0-based index: ``steps.fetch``,
``steps.0``) and ``last`` (the most recent output, null before any).

A step whose tool fails (a refused URL, a timeout, bad arguments) fails the run, with a
reason naming the step; the failure is retried like any other when it is not permanent
(a timeout, a refused connection). A step with ``"continue_on_error": true`` goes on
instead, and its output is ``{"error": "…", "permanent": bool}`` for the steps after it.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from agents.providers.base import (
    STOP_END,
    STOP_TOOL_CALLS,
    Provider,
    ProviderError,
    ProviderResponse,
    RunContext,
    ToolCall,
    Usage,
    deep_copy_json,
    settings_error,
)
from gradent.lib.jsonutil import jsonable
from gradent.lib.templating import TemplateError, render, render_string

_STEP_KEYS = {"tool", "args", "id", "continue_on_error"}
_SETTINGS_KEYS = {"steps", "answer"}


class ScriptedProvider(Provider):
    """Replays ``settings["steps"]`` as tool calls, then answers."""

    name: ClassVar[str] = "scripted"
    verbose_name: ClassVar[str] = "Scripted (fixed steps, no LLM)"

    @classmethod
    def validate_settings(cls, settings: dict) -> dict:
        """Check the steps/answer shape, naming the offending step (``steps[i]``)."""
        settings = super().validate_settings(settings)
        unknown = sorted(set(settings) - _SETTINGS_KEYS)
        if unknown:
            raise settings_error(f"unknown setting(s) {', '.join(unknown)}; allowed: answer, steps")
        steps = settings.get("steps", [])
        if steps is None:
            steps = []
        if not isinstance(steps, list):
            raise settings_error("steps must be a list of {tool, args, id} objects")
        cleaned_steps: list[dict] = []
        seen_ids: dict[str, int] = {}
        for index, step in enumerate(steps):
            where = f"steps[{index}]"
            if not isinstance(step, dict):
                raise settings_error(f"{where} must be an object with a 'tool' name")
            extra = sorted(set(step) - _STEP_KEYS)
            if extra:
                raise settings_error(
                    f"{where}: unknown key(s) {', '.join(extra)}; allowed: args, continue_on_error, id, tool"
                )
            tool = step.get("tool")
            if not isinstance(tool, str) or not tool.strip():
                raise settings_error(f"{where}: 'tool' must be a non-empty string")
            args = step.get("args", {})
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise settings_error(f"{where} ({tool}): 'args' must be an object")
            cleaned: dict[str, Any] = {"tool": tool.strip(), "args": args}
            continue_on_error = step.get("continue_on_error", False)
            if not isinstance(continue_on_error, bool):
                raise settings_error(f"{where} ({tool}): 'continue_on_error' must be true or false")
            if continue_on_error:
                cleaned["continue_on_error"] = True
            step_id = step.get("id")
            if step_id is not None and step_id != "":
                if not isinstance(step_id, str) or not step_id.replace("_", "").replace("-", "").isalnum():
                    raise settings_error(f"{where} ({tool}): 'id' must be a string of letters, digits, '_' or '-'")
                if step_id.lstrip("-").isdigit():
                    # Numeric ids would shadow index access (steps.0).
                    raise settings_error(f"{where} ({tool}): 'id' must not be a number")
                if step_id in seen_ids:
                    raise settings_error(
                        f"{where} ({tool}): id '{step_id}' is already used by steps[{seen_ids[step_id]}]"
                    )
                seen_ids[step_id] = index
                cleaned["id"] = step_id
            cleaned_steps.append(cleaned)
        answer = settings.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise settings_error("answer must be a string (it may contain {{ placeholders }})")
        result: dict[str, Any] = {"steps": cleaned_steps}
        if answer is not None:
            result["answer"] = answer
        return result

    def complete(
        self,
        *,
        system: str,
        messages: list[dict],
        tools: list[dict],
        context: RunContext,
    ) -> ProviderResponse:
        """Return the next scripted tool call, or the final answer."""
        steps: list[dict] = self.settings["steps"]
        index = sum(1 for message in messages if message.get("role") == "assistant" and message.get("tool_calls"))
        template_context = build_template_context(context, steps)

        if index < len(steps):
            step = steps[index]
            try:
                arguments = render(step["args"], template_context)
            except TemplateError as exc:
                raise ProviderError(f"scripted steps[{index}] ({step['tool']}): {exc}", retryable=False) from exc
            call_id = f"scripted_{index}" + (f"_{step['id']}" if step.get("id") else "")
            call = ToolCall(id=call_id, name=step["tool"], arguments=arguments)
            return ProviderResponse(
                text="",
                tool_calls=[call],
                usage=Usage(),
                stop_reason=STOP_TOOL_CALLS,
                request={"provider": self.name, "step": index, "template": deep_copy_json(step)},
                raw={"tool_call": {"id": call.id, "name": call.name, "arguments": jsonable(arguments)}},
            )

        answer_template = self.settings.get("answer")
        if answer_template is not None:
            try:
                text = render_string(answer_template, template_context)
            except TemplateError as exc:
                raise ProviderError(f"scripted answer: {exc}", retryable=False) from exc
        elif context.step_outputs:
            text = json.dumps(context.step_outputs[-1], ensure_ascii=False, default=str)
        else:
            text = ""
        return ProviderResponse(
            text=text,
            tool_calls=[],
            usage=Usage(),
            stop_reason=STOP_END,
            request={"provider": self.name, "step": index, "answer": answer_template},
            raw={"answer": text},
        )

    def tool_failed(self, call: ToolCall, error: str) -> str | None:
        """A failed step fails the run, unless it says ``continue_on_error``."""
        match = _CALL_ID.fullmatch(call.id)
        steps: list[dict] = self.settings["steps"]
        index = int(match.group(1)) if match else None
        if index is None or index >= len(steps):
            return f"Scripted step {call.name} failed: {error}"
        step = steps[index]
        if step.get("continue_on_error"):
            return None
        name = f"steps[{index}]" + (f" '{step['id']}'" if step.get("id") else "") + f" ({step['tool']})"
        return f"Scripted step {name} failed: {error}"


_CALL_ID = re.compile(r"scripted_(\d+)(?:_.*)?")


def build_template_context(context: RunContext, script: list[dict] | None = None) -> dict[str, Any]:
    """The mapping step args and the answer are rendered against.

    ``steps`` holds outputs by 0-based index and by step id. Each scripted
    step is exactly one tool call, so output ``i`` belongs to ``script[i]``;
    ids are derived from that pairing rather than trusting how the caller
    keyed ``step_outputs_by_id`` (which may be by tool-call id).
    """
    outputs = list(context.step_outputs or [])
    steps: dict[str, Any] = {str(key): value for key, value in (context.step_outputs_by_id or {}).items()}
    steps.update({str(i): output for i, output in enumerate(outputs)})
    # Ids are validated to be non-numeric, so they never shadow an index.
    for step, output in zip(script or [], outputs, strict=False):
        if step.get("id"):
            steps[step["id"]] = output
    return {
        "input": context.input or {},
        "payload": context.payload or {},
        "steps": steps,
        "last": outputs[-1] if outputs else None,
    }
