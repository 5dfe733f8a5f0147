"""Incoming-webhook signature schemes (proactive.signatures).

The generic tests sign with small reference senders written here from each provider's
published algorithm (not with the production ``sign``), so production code never only
agrees with itself; the published vectors (GitHub's and Slack's documentation, the
Standard Webhooks library's fixed vector) and the official ``standardwebhooks`` package pin
the algorithms to the outside world.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.http.request import HttpHeaders
from standardwebhooks.webhooks import Webhook

from gradent.lib.signatures.base import REASONS, SignatureScheme
from gradent.lib.signatures.hmac_sha256 import HmacSha256Scheme
from proactive.signatures import SCHEMES, SignatureError, Verified, get_scheme, scheme_choices

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
TS = int(NOW.timestamp())


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


# --- reference senders, straight from each provider's documentation -------------------------


def ref_standard_webhooks(secret: str, body: bytes, ts: int, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W") -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = base64.b64encode(_mac(key, f"{msg_id}.{ts}.".encode() + body)).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": f"v1,{sig}"}


def ref_github(secret: str, body: bytes, ts: int) -> dict:
    return {
        "X-Hub-Signature-256": "sha256=" + _mac(secret.encode(), body).hex(),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "issues",
    }


def ref_stripe(secret: str, body: bytes, ts: int) -> dict:
    return {"Stripe-Signature": f"t={ts},v1=" + _mac(secret.encode(), f"{ts}.".encode() + body).hex()}


def ref_slack(secret: str, body: bytes, ts: int) -> dict:
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": "v0=" + _mac(secret.encode(), f"v0:{ts}:".encode() + body).hex(),
    }


def ref_hmac(secret: str, body: bytes, ts: int) -> dict:
    return {"X-Signature": "sha256=" + _mac(secret.encode(), body).hex()}


WRONG_HEX = _mac(b"another secret", b"anything").hex()
WRONG_B64 = base64.b64encode(bytes.fromhex(WRONG_HEX)).decode()


def _multi_standard(h: dict) -> dict:
    return {**h, "webhook-signature": f"v1,{WRONG_B64} {h['webhook-signature']}"}


def _multi_github(h: dict) -> dict:
    return {**h, "X-Hub-Signature-256": f"sha256={WRONG_HEX}, {h['X-Hub-Signature-256']}"}


def _multi_stripe(h: dict) -> dict:
    t, good = h["Stripe-Signature"].split(",")
    return {"Stripe-Signature": f"{t},v1={WRONG_HEX},{good}"}


def _multi_slack(h: dict) -> dict:
    return {**h, "X-Slack-Signature": f"v0={WRONG_HEX},{h['X-Slack-Signature']}"}


def _multi_hmac(h: dict) -> dict:
    return {"X-Signature": f"sha256={WRONG_HEX}, {h['X-Signature']}"}


@dataclass
class Case:
    name: str
    secret: str
    body: bytes
    reference: Callable[[str, bytes, int], dict]
    required: list[str]
    malformed: list[tuple[str, str]]
    multi: Callable[[dict], dict]
    delivery_id: str | None
    event_type: str | None
    timestamped: bool
    extra: dict = field(default_factory=dict)

    def headers(self, *, secret: str | None = None, body: bytes | None = None, ts: int = TS) -> dict:
        return self.reference(self.secret if secret is None else secret, self.body if body is None else body, ts)

    def verify(self, headers: dict, *, secret: str | None = None, body: bytes | None = None, **kwargs) -> Verified:
        kwargs.setdefault("now", NOW)
        return get_scheme(self.name)().verify(
            secret=self.secret if secret is None else secret,
            body=self.body if body is None else body,
            headers=headers,
            **kwargs,
        )


SW_BODY = b'{"type":"invoice.paid","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"inv_1"}}'
STRIPE_BODY = json.dumps({"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "charge.succeeded"}).encode()
SLACK_BODY = json.dumps(
    {
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "type": "event_callback",
        "event": {"type": "app_mention", "user": "U123ABC456", "text": "<@U0LAN0Z89> is it everything?"},
        "event_id": "Ev123ABC456",
        "event_time": 1515449522000016,
    }
).encode()
GITHUB_BODY = b'{"action":"opened","issue":{"number":1347}}'
HMAC_BODY = b'{"type":"build.finished","status":"green"}'

CASES = [
    Case(
        name="standard_webhooks",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        body=SW_BODY,
        reference=ref_standard_webhooks,
        required=["webhook-id", "webhook-timestamp", "webhook-signature"],
        malformed=[
            ("webhook-timestamp", "yesterday"),
            ("webhook-timestamp", "1741064767.5"),
            ("webhook-timestamp", "-1741064767"),
            ("webhook-signature", "v1"),
            ("webhook-signature", "v1,***not base64***"),
            ("webhook-signature", f"v1a,{WRONG_B64}"),
            ("webhook-signature", WRONG_B64),
        ],
        multi=_multi_standard,
        delivery_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        event_type="invoice.paid",
        timestamped=True,
    ),
    Case(
        name="github",
        secret="It's a Secret to Everybody",
        body=GITHUB_BODY,
        reference=ref_github,
        required=["X-Hub-Signature-256"],
        malformed=[
            ("X-Hub-Signature-256", WRONG_HEX),
            ("X-Hub-Signature-256", "sha1=" + "0" * 40),
            ("X-Hub-Signature-256", "sha256=" + WRONG_HEX[:-2]),
            ("X-Hub-Signature-256", "sha256=" + "z" * 64),
        ],
        multi=_multi_github,
        delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        event_type="issues",
        timestamped=False,
    ),
    Case(
        name="stripe",
        secret="whsec_test_secret",
        body=STRIPE_BODY,
        reference=ref_stripe,
        required=["Stripe-Signature"],
        malformed=[
            ("Stripe-Signature", f"v1={WRONG_HEX}"),
            ("Stripe-Signature", f"t=soon,v1={WRONG_HEX}"),
            ("Stripe-Signature", f"t={TS}"),
            ("Stripe-Signature", f"t={TS},v0={WRONG_HEX}"),
            ("Stripe-Signature", f"t={TS},v1=nothex"),
            ("Stripe-Signature", f"t={TS},t={TS},v1={WRONG_HEX}"),
            ("Stripe-Signature", f"t={TS};v1={WRONG_HEX}"),
        ],
        multi=_multi_stripe,
        delivery_id="evt_1NG8Du2eZvKYlo2CUI79vXWy",
        event_type="charge.succeeded",
        timestamped=True,
    ),
    Case(
        name="slack",
        secret="8f742231b10e8888abcd99yyyzzz85a5",
        body=SLACK_BODY,
        reference=ref_slack,
        required=["X-Slack-Request-Timestamp", "X-Slack-Signature"],
        malformed=[
            ("X-Slack-Request-Timestamp", "now"),
            ("X-Slack-Signature", WRONG_HEX),
            ("X-Slack-Signature", "v1=" + WRONG_HEX),
            ("X-Slack-Signature", "v0=" + WRONG_HEX[:10]),
        ],
        multi=_multi_slack,
        delivery_id="Ev123ABC456",
        event_type="app_mention",
        timestamped=True,
    ),
    Case(
        name="hmac_sha256",
        secret="a plain shared secret",
        body=HMAC_BODY,
        reference=ref_hmac,
        required=["X-Signature"],
        malformed=[
            ("X-Signature", "md5=0123"),
            ("X-Signature", "sha256=" + WRONG_HEX[:-1]),
            ("X-Signature", "not a signature"),
        ],
        multi=_multi_hmac,
        delivery_id=None,
        event_type="build.finished",
        timestamped=False,
    ),
]
CASE_IDS = [case.name for case in CASES]
TIMESTAMPED = [case for case in CASES if case.timestamped]


def _tamper(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]


def _reason(excinfo) -> str:
    return excinfo.value.reason


# --- registry --------------------------------------------------------------------------------


def test_it_registers_the_six_schemes_with_choices():
    assert list(SCHEMES) == ["standard_webhooks", "github", "stripe", "slack", "hmac_sha256", "none"]
    assert [name for name, _ in scheme_choices()] == list(SCHEMES)
    assert all(label and label != name for name, label in scheme_choices())


@pytest.mark.parametrize("name", list(SCHEMES))
def test_it_resolves_each_scheme_by_name(name):
    scheme = get_scheme(name)
    assert issubclass(scheme, SignatureScheme)
    assert scheme.name == name


def test_it_raises_a_clear_key_error_for_an_unknown_scheme():
    with pytest.raises(KeyError) as excinfo:
        get_scheme("gitlab")
    message = str(excinfo.value)
    assert "gitlab" in message and "standard_webhooks" in message and "hmac_sha256" in message


def test_it_rejects_an_unknown_error_reason():
    assert set(REASONS) == {
        "missing_header",
        "bad_signature",
        "timestamp_out_of_tolerance",
        "malformed_header",
        "bad_secret",
    }
    with pytest.raises(ValueError):
        SignatureError("x", reason="nope")
    copy = pickle.loads(pickle.dumps(SignatureError("stale", reason="timestamp_out_of_tolerance")))
    assert (copy.message, copy.reason, str(copy)) == ("stale", "timestamp_out_of_tolerance", "stale")


def test_it_generates_a_standard_webhooks_secret_the_official_library_accepts():
    secret = get_scheme("standard_webhooks").generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert secret != get_scheme("standard_webhooks").generate_secret()
    headers = get_scheme("standard_webhooks")().sign(secret=secret, body=b"{}")
    Webhook(secret).verify(b"{}", headers)


@pytest.mark.parametrize("name", ["github", "stripe", "slack", "hmac_sha256", "none"])
def test_it_generates_a_32_byte_urlsafe_token_for_the_other_schemes(name):
    secret = get_scheme(name).generate_secret()
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert secret != get_scheme(name).generate_secret()


# --- published vectors -------------------------------------------------------------------------


def test_it_matches_githubs_published_test_vector():
    # docs.github.com, "Validating webhook deliveries" → "Testing the webhook payload validation".
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    github = get_scheme("github")()
    assert github.sign(secret=secret, body=body)["X-Hub-Signature-256"] == expected
    verified = github.verify(secret=secret, body=body, headers={"X-Hub-Signature-256": expected})
    assert verified == Verified(delivery_id=None, event_type=None, timestamp=None)
    with pytest.raises(SignatureError) as excinfo:
        github.verify(secret=secret, body=b"Hello, World?", headers={"X-Hub-Signature-256": expected})
    assert _reason(excinfo) == "bad_signature"


SW_VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_VECTOR_TS = 1614265330
SW_VECTOR_BODY = b'{"test": 2432232314}'
SW_VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("secret", [SW_VECTOR_SECRET, SW_VECTOR_SECRET.removeprefix("whsec_")])
def test_it_matches_the_standard_webhooks_fixed_vector(secret):
    # standard-webhooks repo, libraries/python/tests/test_webhooks.py::test_sign_function;
    # the unprefixed secret is accepted as in test_signature_verification_with_and_without_prefix.
    scheme = get_scheme("standard_webhooks")()
    at = datetime.fromtimestamp(SW_VECTOR_TS, UTC)
    headers = scheme.sign(secret=secret, body=SW_VECTOR_BODY, msg_id=SW_VECTOR_ID, now=at)
    assert headers == {
        "webhook-id": SW_VECTOR_ID,
        "webhook-timestamp": str(SW_VECTOR_TS),
        "webhook-signature": SW_VECTOR_SIGNATURE,
    }
    verified = scheme.verify(secret=secret, body=SW_VECTOR_BODY, headers=headers, now=at)
    assert verified == Verified(delivery_id=SW_VECTOR_ID, event_type=None, timestamp=at)


def test_it_rejects_the_standard_webhooks_vectors_invalid_signature():
    # The same test suite's "invalid signature": one base64 character changed.
    headers = {
        "webhook-id": SW_VECTOR_ID,
        "webhook-timestamp": str(SW_VECTOR_TS),
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
    }
    with pytest.raises(SignatureError) as excinfo:
        get_scheme("standard_webhooks")().verify(
            secret=SW_VECTOR_SECRET,
            body=SW_VECTOR_BODY,
            headers=headers,
            now=datetime.fromtimestamp(SW_VECTOR_TS, UTC),
        )
    assert _reason(excinfo) == "bad_signature"


SLACK_DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


def test_it_matches_slacks_documented_example():
    # docs.slack.dev "Verifying requests from Slack": the slash-command walk-through.
    secret, ts = "8f742231b10e8888abcd99yyyzzz85a5", 1531420618
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    slack = get_scheme("slack")()
    at = datetime.fromtimestamp(ts, UTC)
    assert slack.sign(secret=secret, body=SLACK_DOC_BODY, now=at)["X-Slack-Signature"] == expected
    headers = {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": expected}
    verified = slack.verify(secret=secret, body=SLACK_DOC_BODY, headers=headers, now=at + timedelta(seconds=30))
    # A form-encoded slash command has no event id and no JSON type.
    assert verified == Verified(delivery_id=None, event_type=None, timestamp=at)


# --- the official standardwebhooks package as a real sender and verifier ---------------------


def test_it_verifies_what_the_standardwebhooks_package_signs():
    sender = Webhook(SW_VECTOR_SECRET)
    at = datetime.fromtimestamp(TS, UTC)
    signature = sender.sign("msg_from_library", at, SW_BODY.decode())
    headers = {"webhook-id": "msg_from_library", "webhook-timestamp": str(TS), "webhook-signature": signature}
    verified = get_scheme("standard_webhooks")().verify(secret=SW_VECTOR_SECRET, body=SW_BODY, headers=headers, now=NOW)
    assert verified == Verified(delivery_id="msg_from_library", event_type="invoice.paid", timestamp=at)


@pytest.mark.parametrize("secret", [SW_VECTOR_SECRET, SW_VECTOR_SECRET.removeprefix("whsec_")])
def test_it_signs_what_the_standardwebhooks_package_verifies(secret):
    # The library checks against the real clock, so sign with now=None.
    headers = get_scheme("standard_webhooks")().sign(secret=secret, body=SW_BODY, msg_id="msg_ours")
    assert Webhook(secret).verify(SW_BODY, headers) == json.loads(SW_BODY)
    with pytest.raises(Exception):
        Webhook(secret).verify(_tamper(SW_BODY), headers)


def test_it_and_the_standardwebhooks_package_agree_on_a_rotated_signature_list():
    scheme = get_scheme("standard_webhooks")()
    old = scheme.generate_secret()
    headers = scheme.sign(secret=SW_VECTOR_SECRET, body=SW_BODY, msg_id="msg_rot")
    old_sig = scheme.sign(
        secret=old, body=SW_BODY, msg_id="msg_rot", now=datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    )
    rotated = {**headers, "webhook-signature": f"{old_sig['webhook-signature']} {headers['webhook-signature']}"}
    assert Webhook(SW_VECTOR_SECRET).verify(SW_BODY, rotated)
    assert scheme.verify(secret=SW_VECTOR_SECRET, body=SW_BODY, headers=rotated).delivery_id == "msg_rot"
    assert scheme.verify(secret=old, body=SW_BODY, headers=rotated).delivery_id == "msg_rot"


# --- every signed scheme ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_accepts_a_good_signature_and_extracts_the_delivery(case):
    verified = case.verify(case.headers())
    assert verified.delivery_id == case.delivery_id
    assert verified.event_type == case.event_type
    if case.timestamped:
        assert verified.timestamp == datetime.fromtimestamp(TS, UTC)
        assert verified.timestamp.tzinfo is not None
    else:
        assert verified.timestamp is None


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_signs_like_the_reference_sender(case):
    scheme = get_scheme(case.name)()
    ours = scheme.sign(secret=case.secret, body=case.body, now=NOW, msg_id=case.delivery_id)
    reference = case.headers()
    for name in case.required:
        assert ours[name] == reference[name]
    assert case.verify(ours).timestamp == (datetime.fromtimestamp(TS, UTC) if case.timestamped else None)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_rejects_a_wrong_secret_as_bad_signature(case):
    other = get_scheme(case.name).generate_secret()
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.headers(secret=other))
    assert _reason(excinfo) == "bad_signature"
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.headers(), secret=other)
    assert _reason(excinfo) == "bad_signature"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_rejects_a_body_with_one_byte_changed(case):
    for tampered in (_tamper(case.body), case.body + b" ", case.body[:-1], b" " + case.body):
        with pytest.raises(SignatureError) as excinfo:
            case.verify(case.headers(), body=tampered)
        assert _reason(excinfo) == "bad_signature"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_reports_each_missing_header(case):
    good = case.headers()
    for name in case.required:
        for headers in ({k: v for k, v in good.items() if k != name}, {**good, name: ""}):
            with pytest.raises(SignatureError) as excinfo:
                case.verify(headers)
            assert _reason(excinfo) == "missing_header"
            assert name in excinfo.value.message
    with pytest.raises(SignatureError) as excinfo:
        case.verify({})
    assert _reason(excinfo) == "missing_header"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_reports_malformed_headers(case):
    for name, value in case.malformed:
        with pytest.raises(SignatureError) as excinfo:
            case.verify({**case.headers(), name: value})
        assert _reason(excinfo) == "malformed_header", (name, value)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_accepts_several_signatures_when_only_the_second_matches(case):
    headers = case.multi(case.headers())
    assert case.verify(headers).delivery_id == case.delivery_id
    # …and still refuses when none of them matches.
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.multi(case.headers(secret=get_scheme(case.name).generate_secret())))
    assert _reason(excinfo) == "bad_signature"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("transform", [str.lower, str.upper, str.title, str.swapcase], ids=lambda f: f.__name__)
def test_it_reads_header_names_in_any_case(case, transform):
    headers = {transform(name): value for name, value in case.headers().items()}
    verified = case.verify(headers)
    assert (verified.delivery_id, verified.event_type) == (case.delivery_id, case.event_type)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_reads_djangos_request_headers(case):
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in case.headers().items()}
    meta["CONTENT_TYPE"] = "application/json"
    verified = case.verify(HttpHeaders(meta))
    assert (verified.delivery_id, verified.event_type) == (case.delivery_id, case.event_type)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_never_puts_the_expected_signature_in_the_error(case):
    other = get_scheme(case.name).generate_secret()
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.headers(secret=other))
    text = str(excinfo.value) + repr(excinfo.value)
    # The signature the right secret gives (hex or base64 part of each header value).
    for value in case.headers().values():
        for token in re.split(r"[=,\s]+", value):
            if len(token) >= 40:
                assert token not in text
    assert case.secret not in text


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_refuses_an_empty_secret(case):
    scheme = get_scheme(case.name)()
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.headers(), secret="")
    assert _reason(excinfo) == "bad_secret"
    with pytest.raises(SignatureError) as excinfo:
        scheme.sign(secret="", body=case.body)
    assert _reason(excinfo) == "bad_secret"


@pytest.mark.parametrize("name", list(SCHEMES))
def test_it_insists_on_raw_body_bytes(name):
    scheme = get_scheme(name)()
    with pytest.raises(TypeError):
        scheme.verify(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", body='{"a": 1}', headers={})


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_it_verifies_a_body_that_is_not_utf8(case):
    body = b"\xff\xfe\x00binary\x80payload"
    verified = case.verify(case.headers(body=body), body=body)
    # Only GitHub carries the event type in a header; the others read it from a JSON body.
    assert verified.event_type == ("issues" if case.name == "github" else None)


# --- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TIMESTAMPED, ids=[c.name for c in TIMESTAMPED])
@pytest.mark.parametrize("offset", [-301, 301, -86400, 86400 * 365])
def test_it_rejects_a_stale_or_future_timestamp(case, offset):
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.headers(ts=TS + offset))
    assert _reason(excinfo) == "timestamp_out_of_tolerance"
    assert ("old" in excinfo.value.message) == (offset < 0)


@pytest.mark.parametrize("case", TIMESTAMPED, ids=[c.name for c in TIMESTAMPED])
@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_it_accepts_a_timestamp_within_five_minutes_either_way(case, offset):
    verified = case.verify(case.headers(ts=TS + offset))
    assert verified.timestamp == datetime.fromtimestamp(TS + offset, UTC)


@pytest.mark.parametrize("case", TIMESTAMPED, ids=[c.name for c in TIMESTAMPED])
def test_it_honours_a_custom_tolerance_and_the_now_of_a_replay(case):
    headers = case.headers(ts=TS - 61)
    with pytest.raises(SignatureError) as excinfo:
        case.verify(headers, tolerance_seconds=60)
    assert _reason(excinfo) == "timestamp_out_of_tolerance"
    assert case.verify(headers, tolerance_seconds=61).timestamp == datetime.fromtimestamp(TS - 61, UTC)
    # Re-verifying a stored delivery days later with now=<received at> passes.
    assert case.verify(headers, now=NOW - timedelta(seconds=61)).timestamp is not None
    # A naive now is taken as UTC.
    assert case.verify(headers, now=NOW.replace(tzinfo=None) - timedelta(seconds=61)).timestamp is not None


@pytest.mark.parametrize("case", TIMESTAMPED, ids=[c.name for c in TIMESTAMPED])
def test_it_reports_a_forged_stale_request_as_bad_signature(case):
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.headers(secret=get_scheme(case.name).generate_secret(), ts=TS - 3600))
    assert _reason(excinfo) == "bad_signature"


@pytest.mark.parametrize("case", TIMESTAMPED, ids=[c.name for c in TIMESTAMPED])
def test_it_covers_the_timestamp_with_the_signature(case):
    headers = case.headers()
    moved = {k: v.replace(str(TS), str(TS + 10)) for k, v in headers.items()}
    assert moved != headers
    with pytest.raises(SignatureError) as excinfo:
        case.verify(moved)
    assert _reason(excinfo) == "bad_signature"


def test_it_uses_the_real_clock_when_now_is_not_given():
    scheme = get_scheme("slack")()
    headers = scheme.sign(secret="s", body=b"x")
    assert scheme.verify(secret="s", body=b"x", headers=headers).timestamp is not None
    stale = scheme.sign(secret="s", body=b"x", now=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(SignatureError) as excinfo:
        scheme.verify(secret="s", body=b"x", headers=stale)
    assert _reason(excinfo) == "timestamp_out_of_tolerance"


# --- scheme specifics ----------------------------------------------------------------------------


def test_it_ignores_standard_webhooks_versions_other_than_v1():
    case = CASES[0]
    good = case.headers()["webhook-signature"]
    headers = {**case.headers(), "webhook-signature": f"v1a,{WRONG_B64}{WRONG_B64} v2,{WRONG_B64} {good}"}
    assert case.verify(headers).delivery_id == case.delivery_id
    # A v1a entry carrying the right HMAC is still not a v1 signature.
    only_v1a = {**case.headers(), "webhook-signature": good.replace("v1,", "v1a,")}
    with pytest.raises(SignatureError) as excinfo:
        case.verify(only_v1a)
    assert _reason(excinfo) == "malformed_header"


def test_it_accepts_an_unpadded_standard_webhooks_signature_and_secret():
    case = CASES[0]
    headers = case.headers()
    headers["webhook-signature"] = headers["webhook-signature"].rstrip("=")
    assert case.verify(headers, secret=case.secret.rstrip("=")).delivery_id == case.delivery_id


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", "***", "whsec_ab$cd"])
def test_it_rejects_a_standard_webhooks_secret_that_is_not_base64(secret):
    case = CASES[0]
    scheme = get_scheme("standard_webhooks")()
    with pytest.raises(SignatureError) as excinfo:
        scheme.verify(secret=secret, body=case.body, headers=case.headers(), now=NOW)
    assert _reason(excinfo) == "bad_secret"
    with pytest.raises(SignatureError) as excinfo:
        scheme.sign(secret=secret, body=case.body)
    assert _reason(excinfo) == "bad_secret"


def test_it_gives_standard_webhooks_a_fresh_message_id_when_none_is_passed():
    scheme = get_scheme("standard_webhooks")()
    first = scheme.sign(secret=SW_VECTOR_SECRET, body=b"{}", now=NOW)["webhook-id"]
    second = scheme.sign(secret=SW_VECTOR_SECRET, body=b"{}", now=NOW)["webhook-id"]
    assert first.startswith("msg_") and first != second and "." not in first


def test_it_does_not_accept_githubs_legacy_sha1_header():
    body = b"Hello, World!"
    sha1 = "sha1=" + hmac.new(b"It's a Secret to Everybody", body, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError) as excinfo:
        get_scheme("github")().verify(secret="It's a Secret to Everybody", body=body, headers={"X-Hub-Signature": sha1})
    assert _reason(excinfo) == "missing_header"


def test_it_puts_githubs_delivery_and_event_headers_in_a_test_delivery():
    headers = get_scheme("github")().sign(secret="s", body=b"{}", msg_id="abc-123", event_type="push")
    assert headers["X-GitHub-Delivery"] == "abc-123" and headers["X-GitHub-Event"] == "push"
    assert get_scheme("github")().sign(secret="s", body=b"{}")["X-GitHub-Event"] == "ping"


def test_it_ignores_stripes_v0_scheme_and_accepts_spaces_after_commas():
    case = CASES[2]
    t, v1 = case.headers()["Stripe-Signature"].split(",")
    headers = {"Stripe-Signature": f"{t}, v0={WRONG_HEX}, {v1}"}
    assert case.verify(headers).delivery_id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"


def test_it_uses_the_whole_stripe_secret_as_the_key():
    # Stripe keys the HMAC with the whsec_ string itself, unlike Standard Webhooks.
    case = CASES[2]
    with pytest.raises(SignatureError) as excinfo:
        case.verify(case.headers(secret=case.secret.removeprefix("whsec_")))
    assert _reason(excinfo) == "bad_signature"


def test_it_has_no_stripe_delivery_id_without_a_json_body():
    case = CASES[2]
    body = b"not json"
    verified = case.verify(case.headers(body=body), body=body)
    assert verified == Verified(delivery_id=None, event_type=None, timestamp=datetime.fromtimestamp(TS, UTC))


def test_it_reads_slacks_top_level_type_outside_event_callbacks():
    case = CASES[3]
    body = json.dumps(
        {
            "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWM",
            "type": "url_verification",
        }
    ).encode()
    verified = case.verify(case.headers(body=body), body=body)
    assert (verified.delivery_id, verified.event_type) == (None, "url_verification")


def test_it_does_not_take_slacks_retry_number_as_a_delivery_id():
    case = CASES[3]
    headers = {**case.headers(), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert case.verify(headers).delivery_id == "Ev123ABC456"


def test_it_accepts_x_signature_256_and_bare_or_uppercase_hex():
    case = CASES[4]
    digest = _mac(case.secret.encode(), case.body).hex()
    for headers in (
        {"X-Signature-256": "sha256=" + digest},
        {"X-Signature": digest},
        {"X-Signature": digest.upper()},
        {"X-Signature": "SHA256=" + digest},
        {"X-Signature": "sha256=" + WRONG_HEX, "X-Signature-256": "sha256=" + digest},
    ):
        assert case.verify(headers).event_type == "build.finished"


def test_it_reads_configured_delivery_and_event_headers_for_plain_hmac():
    scheme = HmacSha256Scheme(delivery_id_header="X-Request-Id", event_type_header="X-Event")
    headers = scheme.sign(secret="k", body=HMAC_BODY, msg_id="req-42", event_type="deploy")
    assert headers["X-Request-Id"] == "req-42" and headers["X-Event"] == "deploy"
    lowered = {k.lower(): v for k, v in headers.items()}
    verified = scheme.verify(secret="k", body=HMAC_BODY, headers=lowered)
    assert verified == Verified(delivery_id="req-42", event_type="deploy", timestamp=None)
    # Default: no delivery id, the JSON body's type.
    assert HmacSha256Scheme().verify(secret="k", body=HMAC_BODY, headers=headers) == Verified(
        delivery_id=None, event_type="build.finished", timestamp=None
    )


def test_it_drops_ids_that_are_too_long_to_be_keys():
    scheme = get_scheme("github")()
    headers = {**scheme.sign(secret="s", body=b"{}"), "X-GitHub-Delivery": "x" * 256, "X-GitHub-Event": "  "}
    assert scheme.verify(secret="s", body=b"{}", headers=headers) == Verified(None, None, None)


def test_it_accepts_anything_when_the_webhook_is_unsigned():
    scheme = get_scheme("none")()
    for headers in ({}, {"X-Hub-Signature-256": "sha256=" + WRONG_HEX}, CASES[0].headers()):
        assert scheme.verify(secret="", body=SW_BODY, headers=headers) == Verified(None, None, None)
    assert scheme.sign(secret="", body=b"{}") == {}
