from __future__ import annotations

import time

import pytest

from proactive.conditions import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_MATCH_INPUT,
    Condition,
    ConditionError,
    compile_condition,
)

HTTP = {"status": 200, "latency_ms": 123, "body": "all good, no error here", "value": 151.2, "ok": True}


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        # the examples of the design
        ("value > 150 and status == 200", HTTP, True),
        ("value > 150 and status == 200", {**HTTP, "status": 500}, False),
        ("value > 150 and status == 200", {**HTTP, "value": 149}, False),
        ("latency_ms >= 500", HTTP, False),
        ("latency_ms >= 500", {**HTTP, "latency_ms": 500}, True),
        ('"error" in body', HTTP, True),
        ('"error" in body', {**HTTP, "body": "fine"}, False),
        ("'error' not in body", {**HTTP, "body": "fine"}, True),
        # comparisons
        ("status == 200", HTTP, True),
        ("status != 200", HTTP, False),
        ("status < 300", HTTP, True),
        ("status <= 199", HTTP, False),
        ("1 < value < 5", {"value": 3}, True),
        ("1 < value < 5", {"value": 5}, False),
        ("1 < value < 5", {"value": 0}, False),
        ("0 <= a <= b <= 10", {"a": 2, "b": 2}, True),
        ("name < 'b'", {"name": "abc"}, True),
        ("1 == 1.0", {}, True),
        ("1 == '1'", {}, False),
        ("true == 1", {}, False),
        ("x == null", {"x": None}, True),
        ("x != None", {"x": None}, False),
        ("ok == True", HTTP, True),
        ("ok == false", HTTP, False),
        # membership
        ("status in [200, 201, 204]", HTTP, True),
        ("status not in [200, 201]", HTTP, False),
        ("'b' in tags", {"tags": ["a", "b"]}, True),
        ("'k' in obj", {"obj": {"k": 1}}, True),
        ("'x' in obj", {"obj": {"k": 1}}, False),
        ("[] == []", {}, True),
        # boolean logic and precedence
        ("not ok", HTTP, False),
        ("not not ok", HTTP, True),
        ("not status == 500", HTTP, True),
        ("true or false and false", {}, True),  # and binds tighter than or
        ("(true or false) and false", {}, False),
        ("not true or true", {}, True),  # not binds tighter than or
        ("not (true or true)", {}, False),
        ("false and missing > 1", {}, False),  # short-circuit: missing is never read
        ("true or missing > 1", {}, True),
        ("count > 0 and value > 150", {"count": 0, "value": None}, False),
        # arithmetic
        ("value * 1.1 > threshold", {"value": 100, "threshold": 109}, True),
        ("value * 1.1 > threshold", {"value": 100, "threshold": 111}, False),
        ("1 + 2 * 3 == 7", {}, True),
        ("(1 + 2) * 3 == 9", {}, True),
        ("10 - 4 - 3 == 3", {}, True),  # left to right
        ("8 / 4 / 2 == 1", {}, True),
        ("7 / 2 == 3.5", {}, True),
        ("-value < 0", {"value": 2}, True),
        ("-2 < -1", {}, True),
        ("- -2 == 2", {}, True),
        ("1.5e3 == 1500", {}, True),
        ("2 * -3 == -6", {}, True),
        ("'a' + 'b' == 'ab'", {}, True),
        ("value", {"value": 0}, False),  # truthiness
        ("body", {"body": "x"}, True),
        # nested names
        ("json.data.price > 100", {"json": {"data": {"price": 101}}}, True),
        ("items.0.name == 'first'", {"items": [{"name": "first"}, {"name": "second"}]}, True),
        ("items.1.name == 'second'", {"items": [{"name": "first"}, {"name": "second"}]}, True),
        ("json.data._id == 3", {"json": {"data": {"_id": 3}}}, True),
        # strings
        ("s == 'it\\'s'", {"s": "it's"}, True),
        ('s == "a\\"b"', {"s": 'a"b'}, True),
        ("s == 'line\\nbreak'", {"s": "line\nbreak"}, True),
        ("s == '\\u00e9'", {"s": "é"}, True),
        # functions
        ("len(body) == 23", HTTP, True),
        ("len(items) == 2", {"items": [1, 2]}, True),
        ("abs(delta) > 5", {"delta": -7}, True),
        ("lower(name) == 'abc'", {"name": "AbC"}, True),
        ("contains(body, 'good')", HTTP, True),
        ("contains(tags, 'z')", {"tags": ["a"]}, False),
        ("matches(body, 'no\\s+error')", HTTP, True),
        ("matches(body, '^error')", HTTP, False),
        ("matches(body, pattern)", {"body": "v1.2", "pattern": r"v\d+\.\d+"}, True),
    ],
)
def test_it_evaluates(source, values, expected):
    assert compile_condition(source).evaluate(values) is expected


def test_it_reports_the_names_it_reads():
    condition = compile_condition("json.data.price > 1 and status == 200 or len(body) > 0")
    assert isinstance(condition, Condition)
    assert condition.source == "json.data.price > 1 and status == 200 or len(body) > 0"
    assert condition.names() == {"json", "status", "body"}
    assert condition.paths() == {"json.data.price", "status", "body"}


def test_it_checks_names_against_the_probe_names():
    known = ["value", "status", "latency_ms", "body"]
    assert compile_condition("value > 1 and status == 200", names=known).names() == {"value", "status"}
    with pytest.raises(ConditionError) as info:
        compile_condition("status == 200 and valu > 1", names=known)
    message = str(info.value)
    assert "unknown name 'valu'" in message
    assert "column 19" in message
    assert "known: value, status, latency_ms, body" in message
    assert "did you mean 'value'" in message
    assert info.value.column == 19


def test_function_names_are_not_value_names():
    assert compile_condition("len(body) > 0", names=["body"]).names() == {"body"}


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("(value > 1))", "unexpected ')' at column 12"),
        ("value > ", "unexpected end of condition at column 9"),
        ("(value > 1", "expected ')'"),
        ("value >> 1", "unexpected '>' at column 8"),
        ("value = 1", "unexpected character '=' at column 7 (use '==' to compare)"),
        ("a && b", "use 'and'"),
        ("a || b", "use 'or'"),
        ("value 1", "unexpected number 1 at column 7"),
        ("'abc", "unterminated string starting at column 1"),
        ("1.2.3", "invalid number at column 1"),
        ("12abc", "invalid number at column 1"),
        ("", "condition is empty"),
        ("   ", "condition is empty"),
        ("foo(1)", "unknown function 'foo' at column 1"),
        ("len(1, 2)", "len() takes 1 argument, got 2"),
        ("matches(body)", "matches() takes 2 arguments, got 1"),
        ("matches(body, '(')", "invalid regular expression"),
        ("matches(body, '" + "a" * 201 + "')", "longer than 200"),
        ("value is null", "'is' is not supported"),
        ("-'a' == 1", "'-' needs a number"),
        ("a.b.", "unexpected '.' at column 4"),
        ("'\\u12' == 'x'", "invalid \\u escape"),
        ("[1, 2", "expected ']'"),
        ("()", "unexpected ')' at column 2"),
    ],
)
def test_it_names_the_position_and_problem(source, fragment):
    with pytest.raises(ConditionError) as info:
        compile_condition(source)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "__import__('os').system('id')",
        "().__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "body.__class__",
        "x.__dict__",
        "value.__class__ == 1",
        "lambda: 1",
        "(lambda x: x)(1)",
        "open('/etc/passwd')",
        "eval('1')",
        "exec('1')",
        "getattr(value, 'x')",
        "body.upper()",
        "'abc'.upper()",
        "[x for x in body]",
        "{'a': 1}",
        "value if True else 0",
        "import os",
        "globals()",
        "f'{value}'",
        "value[0]",
        "2 ** 100000",
        "a; b",
        "a := 1",
    ],
)
def test_it_rejects_python_at_compile_time(source):
    with pytest.raises(ConditionError):
        compile_condition(source)


def test_it_never_evaluates_python(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert compile_condition("value > 150 and status == 200").evaluate(HTTP) is True


def test_nested_lookups_never_touch_attributes():
    class Sneaky:
        secret = "s3cret"

    with pytest.raises(ConditionError, match="cannot look up 'secret' in 'obj'"):
        compile_condition("obj.secret == 's3cret'").evaluate({"obj": Sneaky()})


@pytest.mark.parametrize(
    ("source", "values", "fragment"),
    [
        ("value > 1", {}, "no value named 'value' (available: none)"),
        ("value > 1", {"status": 1}, "available: status"),
        ("'a' > 1", {}, "cannot compare string 'a' with number 1 using '>' (at column 5)"),
        ("value > 150", {"value": None}, "guard with 'value != null and ...'"),
        ("value > 150", {"value": "abc"}, "cannot compare string 'abc' with number 150"),
        ("1 / 0 > 1", {}, "division by zero (at column 3)"),
        ("value / zero > 1", {"value": 1, "zero": 0.0}, "division by zero"),
        ("value + 1 > 1", {"value": "1"}, "cannot apply '+' to string '1' and number 1"),
        ("true + 1 == 2", {}, "cannot apply '+' to true and number 1"),
        ("1 in body", {"body": "1"}, "needs a string on the left"),
        ("'a' in n", {"n": 5}, "needs a string, list or object on the right"),
        ("len(n) > 1", {"n": 5}, "len(): needs a string, list or object, got number 5"),
        ("abs(s) > 1", {"s": "x"}, "abs(): needs a number"),
        ("lower(n) == 'a'", {"n": 1}, "lower(): needs a string"),
        ("matches(n, 'a')", {"n": 1}, "matches(): needs a string to search"),
        ("matches(s, p)", {"s": "x", "p": "("}, "invalid regular expression"),
        ("json.data.price > 1", {"json": {"data": {}}}, "'json.data' has no key 'price'"),
        ("items.3 == 1", {"items": [1]}, "has 1 item(s), no index 3"),
        ("items.x == 1", {"items": [1]}, "is a list: use a number"),
        ("value.x == 1", {"value": 3}, "cannot look up 'x' in 'value', which is number"),
        ("-s == 1", {"s": "x"}, "'-' needs a number"),
        ("[1] < [2]", {}, "cannot compare list with list"),
        ("big * big * 1.0 > 1", {"big": 10**200}, "number too large"),
    ],
)
def test_evaluation_errors_are_condition_errors(source, values, fragment):
    condition = compile_condition(source)
    with pytest.raises(ConditionError) as info:
        condition.evaluate(values)
    assert fragment in str(info.value)
    assert not isinstance(info.value, TypeError)


def test_evaluation_errors_carry_the_column():
    with pytest.raises(ConditionError) as info:
        compile_condition("status == 200 and 'a' > 1").evaluate({"status": 200})
    assert info.value.column == 23


def test_it_limits_length_and_depth():
    compile_condition("x" * MAX_LENGTH)
    with pytest.raises(ConditionError, match="too long"):
        compile_condition("x" * (MAX_LENGTH + 1))
    deep_ok = "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert compile_condition(deep_ok + " == 1").evaluate({}) is True
    with pytest.raises(ConditionError, match="nested too deeply"):
        compile_condition("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ConditionError, match="nested too deeply"):
        compile_condition("not " * (MAX_DEPTH + 1) + "true")
    with pytest.raises(ConditionError, match="nested too deeply"):
        compile_condition("-" * (MAX_DEPTH + 1) + "1")


def test_long_flat_chains_do_not_recurse():
    source = "+".join(["1"] * 495) + "==495"
    assert compile_condition(source).evaluate({}) is True
    source = " and ".join(["ok"] * 140)
    assert compile_condition(source).evaluate({"ok": True}) is True


def test_matches_runs_a_pathological_pattern_in_linear_time():
    # (a+)+$ against a's followed by a b backtracks 2^n ways in Python's re; RE2 does not.
    body = "a" * (MAX_MATCH_INPUT - 1) + "b"
    started = time.monotonic()
    assert compile_condition("matches(body, '(a+)+$')").evaluate({"body": body}) is False
    assert compile_condition("matches(body, pattern)").evaluate({"body": body, "pattern": "(a|aa)+$"}) is False
    assert time.monotonic() - started < 2.0
    assert compile_condition(r"matches(body, '(\\d+\\.){3}\\d+')").evaluate({"body": "ip 10.0.0.1"}) is True


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(a)\\1", "backreferences such as \\\\1 are not supported"),
        ("(?P<x>a)(?P=x)", "named backreferences"),
        ("a(?=b)", "lookahead"),
        ("(?<!a)b", "negative lookbehind"),
        ("a{1001}", "invalid regular expression: invalid repetition size"),
    ],
)
def test_matches_refuses_what_re2_cannot_do_when_compiled(pattern, message):
    with pytest.raises(ConditionError, match=message) as caught:
        compile_condition(f"matches(body, '{pattern}')")
    assert caught.value.column == len("matches(body, ") + 1


def test_matches_refuses_a_backreference_given_as_a_value_when_evaluated():
    condition = compile_condition("matches(body, pattern)")
    with pytest.raises(ConditionError, match=r"matches\(\): invalid regular expression: backreferences"):
        condition.evaluate({"body": "aa", "pattern": r"(a)\1"})


def test_matches_searches_a_capped_input():
    body = "x" * MAX_MATCH_INPUT + "needle"
    assert compile_condition("matches(body, 'needle')").evaluate({"body": body}) is False
    assert compile_condition("'needle' in body").evaluate({"body": body}) is True


def test_non_string_source_is_refused():
    with pytest.raises(ConditionError, match="must be text"):
        compile_condition(None)  # type: ignore[arg-type]


def test_values_must_be_a_mapping():
    with pytest.raises(ConditionError, match="mapping"):
        compile_condition("true").evaluate([1])  # type: ignore[arg-type]
