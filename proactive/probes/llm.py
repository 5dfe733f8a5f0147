"""LLM probe: ask an agent's model a yes/no question. The last resort among the probes.

Config: ``{"agent_id": 7, "question": "Is the AAPL stock price above 150?"}``.

One completion, no tools, through the agent's own provider, model and key: the model must
answer with only ``{"answer": true|false, "value": <number or null>, "reason": "..."}``.
Values: ``answer`` (bool), ``value`` (number or null), ``reason`` (text).  An answer that
cannot be read as that object is a :class:`ProbeError`, never a guess.

Prefer the other probes: a model without tools only knows what it was trained on (or what
its endpoint looks up by itself), every check costs tokens, and answers are not
reproducible.  Guard rails: the agent must belong to the monitor's workspace, its token
budget (``Agent.max_tokens``) must be at least :data:`MIN_AGENT_TOKENS`, and for HTTP
providers the call is capped through the provider's own settings (``timeout`` at
:data:`CALL_TIMEOUT` seconds, the answer at :data:`ANSWER_MAX_TOKENS` tokens where the
provider takes ``max_tokens``).  The agent's own system instructions are not used: the
probe's prompt fixes the answer format.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC
from typing import Any, ClassVar

from django.utils import timezone
from rest_framework import serializers

from gradent.lib import crypto
from proactive.probes.base import Probe, ProbeContext, ProbeError, ProbeResult

__all__ = ["LLMProbe", "parse_answer"]

MIN_AGENT_TOKENS = 1000
ANSWER_MAX_TOKENS = 1024
CALL_TIMEOUT = 60.0
MAX_QUESTION_LENGTH = 2000
MAX_REASON_LENGTH = 500

SYSTEM_PROMPT = """You are the judge of an automated monitor. You are given one question about \
the current state of the world and must answer it with a single JSON object and nothing else:
{"answer": true or false, "value": a number or null, "reason": "one short sentence"}
- "answer" is true when the condition in the question holds, false otherwise.
- "value" is the number the question is about (a price, a count...) when there is one, else null.
- "reason" says briefly how you decided. If you cannot know, answer false and say so.
Do not add any text, markdown or code fence around the JSON object."""

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*(.*?)\s*```$", re.DOTALL)
_TRUE_WORDS = {"true", "yes"}
_FALSE_WORDS = {"false", "no"}


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _find_object(text: str) -> dict | None:
    """The first JSON object with an ``answer`` key in ``text`` (fences and chatter around it tolerated)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        parsed = json.loads(stripped)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "answer" in parsed:
        return parsed
    decoder = json.JSONDecoder()
    position = stripped.find("{")
    while position != -1:
        try:
            candidate, _end = decoder.raw_decode(stripped, position)
        except ValueError:
            candidate = None
        if isinstance(candidate, dict) and "answer" in candidate:
            return candidate
        position = stripped.find("{", position + 1)
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        cleaned = value.strip().replace(",", "")
        try:
            number = float(cleaned)
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def parse_answer(text: str) -> dict:
    """``{"answer": bool, "value": number|None, "reason": str}`` from the model's text; ProbeError if unreadable."""
    found = _find_object(text or "")
    if found is None:
        raise ProbeError(f"the model did not answer with the JSON object asked for: {_short(text) or '(empty)'}")
    answer = _as_bool(found.get("answer"))
    if answer is None:
        raise ProbeError(f"the model's answer is not true or false: {_short(json.dumps(found.get('answer')))}")
    reason = found.get("reason")
    reason = "" if reason is None else str(reason)
    return {"answer": answer, "value": _as_number(found.get("value")), "reason": reason[:MAX_REASON_LENGTH]}


def _load_agent(agent_id: int, workspace_id: int | None):
    from agents.models import Agent

    agents = Agent.objects.filter(pk=agent_id)
    if workspace_id is not None:
        agents = agents.filter(workspace_id=workspace_id)
    return agents.first()


class LLMProbe(Probe):
    kind: ClassVar[str] = "llm"
    label: ClassVar[str] = "LLM judgement (last resort)"
    names: ClassVar[tuple[str, ...]] = ("answer", "value", "reason")

    class ConfigSerializer(serializers.Serializer):
        agent_id = serializers.IntegerField(min_value=1, help_text="The agent whose model answers.")
        question = serializers.CharField(
            max_length=MAX_QUESTION_LENGTH, help_text='A yes/no condition, e.g. "AAPL stock price > 150".'
        )

        def validate_agent_id(self, value: int) -> int:
            # The serializer is also used without a workspace (re-validating a stored config).
            workspace_id = self.context.get("workspace_id")
            if workspace_id is None:
                return value
            agent = _load_agent(value, workspace_id)
            if agent is None:
                raise serializers.ValidationError("No such agent in this workspace.")
            if agent.max_tokens < MIN_AGENT_TOKENS:
                raise serializers.ValidationError(
                    f"This agent's token budget ({agent.max_tokens}) is below "
                    f"the {MIN_AGENT_TOKENS} an LLM probe needs."
                )
            return value

    def check(self, *, context: ProbeContext) -> ProbeResult:
        from agents.providers import ProviderError, UnknownProviderError, get_provider_class
        from agents.providers.base import HTTPProvider, RunContext

        agent = _load_agent(self.config["agent_id"], context.workspace_id)
        if agent is None:
            raise ProbeError(f"agent {self.config['agent_id']} does not exist in this workspace")
        if agent.max_tokens < MIN_AGENT_TOKENS:
            raise ProbeError(
                f"agent {agent.name!r} has a token budget of {agent.max_tokens}, "
                f"below the {MIN_AGENT_TOKENS} an LLM probe needs"
            )
        if agent.api_key_env:
            api_key = os.environ.get(agent.api_key_env)
            if not api_key:
                raise ProbeError(f"environment variable {agent.api_key_env} (the agent's API key) is not set")
        try:
            if not agent.api_key_env:
                api_key = crypto.reveal(agent.api_key, what="API key") or None
            provider_settings = agent.provider_settings_with_secrets()
        except crypto.SecretUnreadable as exc:
            raise ProbeError(f"agent {agent.name!r}: {exc}") from None
        try:
            provider_class = get_provider_class(agent.provider)
        except UnknownProviderError as exc:
            raise ProbeError(str(exc)) from exc
        if issubclass(provider_class, HTTPProvider):
            provider_settings["timeout"] = min(_positive(provider_settings.get("timeout"), CALL_TIMEOUT), CALL_TIMEOUT)
            if "max_tokens" in provider_settings or provider_class.name == "anthropic":
                provider_settings["max_tokens"] = int(
                    min(_positive(provider_settings.get("max_tokens"), ANSWER_MAX_TOKENS), ANSWER_MAX_TOKENS)
                )
        now = context.now or timezone.now()
        prompt = (
            f"Question: {self.config['question']}\n"
            f"Current time (UTC): {now.astimezone(UTC).isoformat(timespec='seconds')}\n"
            "Answer with the JSON object only."
        )
        try:
            provider = provider_class(model=agent.model, settings=provider_settings, api_key=api_key)
            response = provider.complete(
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": prompt}],
                tools=[],
                context=RunContext(input={}, payload={}, step_outputs=[], step_outputs_by_id={}),
            )
        except ProviderError as exc:
            raise ProbeError(f"agent {agent.name!r}: {exc}") from exc
        tokens = int(response.usage.input_tokens or 0) + int(response.usage.output_tokens or 0)
        try:
            values = parse_answer(response.text)
        except ProbeError as exc:
            raise ProbeError(exc.message, values={"tokens": tokens}) from exc
        summary = f"answer={'true' if values['answer'] else 'false'}"
        if values["value"] is not None:
            summary += f", value={values['value']:g}"
        if values["reason"]:
            summary += f": {_short(values['reason'], 120)}"
        summary += f" ({tokens} tokens)"
        return ProbeResult(values=values, summary=summary)


def _positive(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default
