from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rest_framework import serializers

if TYPE_CHECKING:
    from agents.models import Agent, Run, Thread


class ToolError(Exception):
    """A tool could not do its job. The message goes back to the model as the tool result;
    `permanent` says retrying the same call will not help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class FinishRun(Exception):
    """Raised by the `finish` tool: the run ends now with this answer."""

    def __init__(self, answer: str):
        super().__init__(answer)
        self.answer = answer


@dataclass
class ToolContext:
    run: Run
    agent: Agent
    thread: Thread | None
    step_index: int = 0
    extra: dict = field(default_factory=dict)


class Tool:
    """One capability an agent may call. Subclasses set name, description, an
    InputSerializer (validation + the JSON schema the LLM sees) and implement run()."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Output of this tool is external content: the executor fences it as data.
    untrusted_output: ClassVar[bool] = False

    class InputSerializer(serializers.Serializer):
        pass

    def run(self, args: dict, ctx: ToolContext) -> Any:
        raise NotImplementedError

    @classmethod
    def validate(cls, arguments: dict) -> dict:
        serializer = cls.InputSerializer(data=arguments)
        if not serializer.is_valid():
            raise ToolError(f"invalid arguments for {cls.name}: {_flatten(serializer.errors)}", permanent=True)
        return dict(serializer.validated_data)

    @classmethod
    def spec(cls) -> dict:
        return {"name": cls.name, "description": cls.description, "parameters": serializer_schema(cls.InputSerializer)}


def _flatten(errors: Any) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in errors.items())
    if isinstance(errors, list):
        return ", ".join(_flatten(e) for e in errors)
    return str(errors)


def field_schema(f: serializers.Field) -> dict:
    schema: dict[str, Any]
    if isinstance(f, serializers.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(f, serializers.IntegerField):
        schema = {"type": "integer"}
        if f.min_value is not None:
            schema["minimum"] = f.min_value
        if f.max_value is not None:
            schema["maximum"] = f.max_value
    elif isinstance(f, serializers.FloatField | serializers.DecimalField):
        schema = {"type": "number"}
    elif isinstance(f, serializers.ChoiceField):
        schema = {"type": "string", "enum": list(f.choices)}
    elif isinstance(f, serializers.ListField):
        schema = {"type": "array", "items": field_schema(f.child) if f.child else {}}
    elif isinstance(f, serializers.DictField):
        schema = {"type": "object"}
    elif isinstance(f, serializers.JSONField):
        schema = {}
    elif isinstance(f, serializers.Serializer):
        schema = serializer_schema(type(f))
    else:
        schema = {"type": "string"}
        if isinstance(f, serializers.URLField):
            schema["format"] = "uri"
        if getattr(f, "max_length", None):
            schema["maxLength"] = f.max_length
    if f.help_text:
        schema["description"] = str(f.help_text)
    if f.default is not serializers.empty and not callable(f.default):
        schema["default"] = f.default
    return schema


def serializer_schema(serializer_class: type[serializers.Serializer]) -> dict:
    fields = serializer_class().fields
    return {
        "type": "object",
        "properties": {name: field_schema(f) for name, f in fields.items() if not f.read_only},
        "required": [name for name, f in fields.items() if f.required],
    }
