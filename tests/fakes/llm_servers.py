"""Fake LLM servers on loopback speaking the OpenAI and Anthropic protocols.

Each server is a ``ThreadingHTTPServer`` bound to ``127.0.0.1`` on a free port,
run in a daemon thread. Use it as a context manager::

    with FakeOpenAI() as server:
        server.enqueue(200, openai_text_response("hi", prompt_tokens=3))
        provider = OpenAIProvider(model="m", settings={"base_url": server.base_url}, api_key="k")
        ...
        assert server.requests[0].json["model"] == "m"

Replies come from, in order of precedence:

0. a 401 in the protocol's shape when the fake was built with ``api_key=`` and
   the request does not carry that key;
1. the queue filled by :meth:`FakeLLMServer.enqueue` (status, JSON body or raw
   bytes, headers, delay before answering);
2. a handler callable (``handler=`` or :meth:`FakeLLMServer.set_handler`) that
   receives a :class:`RecordedRequest` and returns a :class:`Reply` or a plain
   dict (sent as a 200 JSON body) - "smart mode" for running a whole tool loop;
3. otherwise a 500 error saying nothing was scripted, so a missing
   ``enqueue`` shows up clearly in test output.

Helpers build protocol-correct bodies: ``openai_text_response``,
``openai_tool_call_response``, ``openai_error``, ``anthropic_text_response``,
``anthropic_tool_use_response``, ``anthropic_error``.

Only loopback is used; tests must allow it through the outbound URL policy with
``settings.GRADENT_ALLOW_PRIVATE_URLS_MODELS = ["127.0.0.0/8"]``.
"""

from __future__ import annotations

import collections
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeAnthropic",
    "FakeLLMServer",
    "FakeOpenAI",
    "RecordedRequest",
    "Reply",
    "anthropic_error",
    "anthropic_text_response",
    "anthropic_tool_use_response",
    "openai_error",
    "openai_text_response",
    "openai_tool_call_response",
]

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):04d}"


# A tool call given to the builders: (name, arguments) or (name, arguments, id).
# ``arguments`` may be a dict, or (OpenAI only) a raw string sent verbatim so
# tests can produce malformed JSON.
CallSpec = Sequence[Any]


@dataclass
class Reply:
    """One scripted HTTP response."""

    status: int = 200
    body: Any = None  # JSON-encoded unless ``raw`` is given
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    raw: bytes | None = None  # exact body bytes (garbage, truncated JSON, ...)


@dataclass
class RecordedRequest:
    """What the fake server received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # decoded body, or None if it was not JSON
    protocol: str  # "openai" or "anthropic"

    @property
    def messages(self) -> list[dict]:
        """The ``messages`` list of the request body."""
        if isinstance(self.json, dict) and isinstance(self.json.get("messages"), list):
            return self.json["messages"]
        return []

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered in the request."""
        tools = self.json.get("tools", []) if isinstance(self.json, dict) else []
        if self.protocol == "openai":
            return [t.get("function", {}).get("name") for t in tools]
        return [t.get("name") for t in tools]

    @property
    def turn(self) -> int:
        """How many assistant turns the conversation already has."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")

    @property
    def tool_results(self) -> list[dict]:
        """All tool results in the conversation, oldest first, as
        ``{"tool_call_id": str, "content": str}`` whatever the protocol."""
        results: list[dict] = []
        for message in self.messages:
            if self.protocol == "openai":
                if message.get("role") == "tool":
                    results.append({"tool_call_id": message.get("tool_call_id"), "content": message.get("content")})
            elif message.get("role") == "user" and isinstance(message.get("content"), list):
                for block in message["content"]:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        results.append({"tool_call_id": block.get("tool_use_id"), "content": block.get("content")})
        return results

    @property
    def last_tool_results(self) -> list[dict]:
        """Tool results that follow the most recent assistant turn."""
        results: list[dict] = []
        for message in reversed(self.messages):
            if message.get("role") == "assistant":
                break
            if self.protocol == "openai" and message.get("role") == "tool":
                results.append({"tool_call_id": message.get("tool_call_id"), "content": message.get("content")})
            elif self.protocol == "anthropic" and isinstance(message.get("content"), list):
                for block in reversed(message["content"]):
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        results.append({"tool_call_id": block.get("tool_use_id"), "content": block.get("content")})
        return list(reversed(results))


Handler = Callable[[RecordedRequest], "Reply | dict"]


class _Server(ThreadingHTTPServer):
    # Hundreds of runs may connect at once (a worker holds many); the default backlog of
    # 5 would turn a burst into SYN retries.
    request_queue_size = 512


class FakeLLMServer:
    """Base class: a scripted HTTP server on 127.0.0.1."""

    protocol = ""
    endpoint = ""  # path the protocol POSTs to
    base_path = ""  # appended to http://127.0.0.1:port for ``base_url``

    def __init__(self, handler: Handler | None = None, *, api_key: str | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.api_key = api_key
        self._handler = handler
        self._queue: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        """Bind a free loopback port and start serving in a daemon thread."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                # Keep pytest output clean.
                return

        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        # Do not wait on handlers still sleeping out a long ``delay``.
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down; sleeping delayed replies are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What to put in the provider's ``base_url`` setting."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    # -- scripting ----------------------------------------------------------------

    def enqueue(
        self,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        *,
        raw: bytes | None = None,
    ) -> FakeLLMServer:
        """Queue one response. ``body`` is sent as JSON, ``raw`` as exact bytes.

        A ``bytes`` value passed as ``body`` is treated as ``raw``.
        """
        if isinstance(body, (bytes, bytearray)):
            raw, body = bytes(body), None
        with self._lock:
            self._queue.append(Reply(status=status, body=body, headers=dict(headers or {}), delay=delay, raw=raw))
        return self

    def enqueue_text(self, text: str, **usage: int) -> FakeLLMServer:
        """Queue a 200 final-text response in this protocol."""
        raise NotImplementedError

    def enqueue_tool_calls(self, calls: Iterable[CallSpec], **kwargs: Any) -> FakeLLMServer:
        """Queue a 200 tool-call response in this protocol."""
        raise NotImplementedError

    def enqueue_error(self, status: int, message: str, **kwargs: Any) -> FakeLLMServer:
        """Queue an error response in this protocol's error shape."""
        raise NotImplementedError

    def set_handler(self, handler: Handler | None) -> None:
        """Answer requests with ``handler`` once the queue is empty (smart mode)."""
        self._handler = handler

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request received."""
        assert self.requests, "the fake server received no request"
        return self.requests[-1]

    def auth_ok(self, request: RecordedRequest) -> bool:
        """Whether the request carries ``self.api_key`` (always true if none set)."""
        return True

    def unauthorized(self) -> Reply:
        """Reply used when ``auth_ok`` fails."""
        return Reply(401, {"error": {"message": "invalid api key"}})

    # -- request handling ---------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        try:
            decoded = json.loads(body) if body else None
        except ValueError:
            decoded = None
        request = RecordedRequest(
            method=http.command,
            path=http.path,
            headers={k.lower(): v for k, v in http.headers.items()},
            body=body,
            json=decoded,
            protocol=self.protocol,
        )
        authorized = self.auth_ok(request)
        with self._lock:
            self.requests.append(request)
            # A rejected request does not consume the scripted reply: the
            # next, correctly authenticated request gets it.
            queued = self._queue.popleft() if self._queue and authorized else None

        if not authorized:
            reply = self.unauthorized()
        elif queued is not None:
            reply = queued
        elif http.path.split("?")[0] != self.endpoint:
            reply = Reply(404, {"error": {"message": f"fake {self.protocol} server: no route {http.path}"}})
        elif self._handler is not None:
            try:
                result = self._handler(request)
            except Exception as exc:  # surface handler bugs as a readable 500
                result = Reply(500, {"error": {"message": f"fake handler raised {exc!r}"}})
            reply = result if isinstance(result, Reply) else Reply(200, result)
        else:
            reply = Reply(500, {"error": {"message": f"fake {self.protocol} server: no response scripted"}})
        self._send(http, reply)

    def _send(self, http: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay and self._stopping.wait(reply.delay):
            return
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        try:
            http.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                http.send_header(name, value)
            http.send_header("Content-Length", str(len(payload)))
            http.end_headers()
            http.wfile.write(payload)
            http.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. a timeout test); nothing to do.
            pass


class FakeOpenAI(FakeLLMServer):
    """Chat Completions: ``POST {base_url}/chat/completions`` with base_url ``.../v1``."""

    protocol = "openai"
    endpoint = "/v1/chat/completions"
    base_path = "/v1"

    def enqueue_text(self, text: str, **usage: int) -> FakeOpenAI:
        """Queue a final-text completion (usage: prompt_tokens, completion_tokens)."""
        self.enqueue(200, openai_text_response(text, **usage))
        return self

    def enqueue_tool_calls(self, calls: Iterable[CallSpec], **kwargs: Any) -> FakeOpenAI:
        """Queue a tool-call completion (kwargs as ``openai_tool_call_response``)."""
        self.enqueue(200, openai_tool_call_response(calls, **kwargs))
        return self

    def enqueue_error(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> FakeOpenAI:
        """Queue an error in OpenAI's ``{"error": {...}}`` shape."""
        self.enqueue(status, openai_error(message, type=type, code=code), headers=headers)
        return self

    def auth_ok(self, request: RecordedRequest) -> bool:
        """Bearer token check when the fake was given an ``api_key``."""
        return self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"

    def unauthorized(self) -> Reply:
        """OpenAI-style 401."""
        return Reply(
            401, openai_error("Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key")
        )


class FakeAnthropic(FakeLLMServer):
    """Messages API: ``POST {base_url}/v1/messages``."""

    protocol = "anthropic"
    endpoint = "/v1/messages"
    base_path = ""

    def enqueue_text(self, text: str, **usage: int) -> FakeAnthropic:
        """Queue a final-text message (usage: input_tokens, output_tokens)."""
        self.enqueue(200, anthropic_text_response(text, **usage))
        return self

    def enqueue_tool_calls(self, calls: Iterable[CallSpec], **kwargs: Any) -> FakeAnthropic:
        """Queue a tool-use message (kwargs as ``anthropic_tool_use_response``)."""
        self.enqueue(200, anthropic_tool_use_response(calls, **kwargs))
        return self

    def enqueue_error(
        self, status: int, message: str, *, type: str = "invalid_request_error", headers: dict[str, str] | None = None
    ) -> FakeAnthropic:
        """Queue an error in Anthropic's ``{"type": "error", "error": {...}}`` shape."""
        self.enqueue(status, anthropic_error(message, type=type), headers=headers)
        return self

    def auth_ok(self, request: RecordedRequest) -> bool:
        """``x-api-key`` check when the fake was given an ``api_key``."""
        return self.api_key is None or request.headers.get("x-api-key") == self.api_key

    def unauthorized(self) -> Reply:
        """Anthropic-style 401."""
        return Reply(401, anthropic_error("invalid x-api-key", type="authentication_error"))


# ---------------------------------------------------------------------------
# Body builders


def _split_call(call: CallSpec) -> tuple[str, Any, str | None]:
    if isinstance(call, dict):
        return call["name"], call.get("arguments", {}), call.get("id")
    name, arguments, *rest = call
    return name, arguments, (rest[0] if rest else None)


def openai_text_response(
    text: str | None,
    *,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    model: str = "fake-model",
    finish_reason: str = "stop",
) -> dict:
    """A Chat Completions body whose assistant message is plain text."""
    return {
        "id": _next_id("chatcmpl-"),
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def openai_tool_call_response(
    calls: Iterable[CallSpec],
    *,
    text: str | None = None,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    model: str = "fake-model",
) -> dict:
    """A Chat Completions body with one or more (parallel) tool calls.

    ``calls`` items are ``(name, arguments[, id])`` or ``{"name", "arguments", "id"?}``;
    string arguments are sent verbatim (for malformed-JSON tests).
    """
    tool_calls = []
    for call in calls:
        name, arguments, call_id = _split_call(call)
        tool_calls.append(
            {
                "id": call_id or _next_id("call_"),
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    body = openai_text_response(
        None, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, model=model, finish_reason="tool_calls"
    )
    body["choices"][0]["message"] = {"role": "assistant", "content": text, "tool_calls": tool_calls}
    return body


def openai_error(message: str, *, type: str = "invalid_request_error", code: str | None = None) -> dict:
    """OpenAI's error body shape."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def anthropic_text_response(
    text: str,
    *,
    input_tokens: int = 10,
    output_tokens: int = 5,
    model: str = "fake-claude",
    stop_reason: str = "end_turn",
) -> dict:
    """A Messages body with a single text block."""
    return {
        "id": _next_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def anthropic_tool_use_response(
    calls: Iterable[CallSpec],
    *,
    text: str | None = None,
    input_tokens: int = 10,
    output_tokens: int = 5,
    model: str = "fake-claude",
) -> dict:
    """A Messages body with optional leading text and ``tool_use`` blocks."""
    content: list[dict] = []
    if text:
        content.append({"type": "text", "text": text})
    for call in calls:
        name, arguments, call_id = _split_call(call)
        content.append({"type": "tool_use", "id": call_id or _next_id("toolu_"), "name": name, "input": arguments})
    body = anthropic_text_response(
        "", input_tokens=input_tokens, output_tokens=output_tokens, model=model, stop_reason="tool_use"
    )
    body["content"] = content
    return body


def anthropic_error(message: str, *, type: str = "invalid_request_error") -> dict:
    """Anthropic's error body shape."""
    return {"type": "error", "error": {"type": type, "message": message}, "request_id": _next_id("req_")}
