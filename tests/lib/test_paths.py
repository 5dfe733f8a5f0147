from __future__ import annotations

import pytest

from gradent.lib import paths
from gradent.lib.paths import PathError, walk
from gradent.lib.templating import TemplateError, resolve_path
from proactive.conditions import ConditionError, compile_condition
from proactive.probes.http import _MISSING, extract_json_path

DATA = {
    "data": {"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "price": 151.2, "empty": None},
    "by_id": {7: "seven"},
    "pair": ("x", "y"),
    "text": "hello",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data.price", 151.2),
        ("data.items.0.name", "a"),
        ("data.items.2.name", "c"),
        ("data.items.-1.name", "c"),
        ("data.items.-3.name", "a"),
        ("data.empty", None),
        ("by_id.7", "seven"),
        ("pair.1", "y"),
        ("text", "hello"),
        (("data", "items", "1", "name"), "b"),
    ],
)
def test_it_follows_keys_and_indexes(path, expected):
    assert walk(DATA, path) == expected


@pytest.mark.parametrize(
    ("path", "reason", "before", "part"),
    [
        ("data.volume", paths.MISSING_KEY, "data", "volume"),
        ("nope", paths.MISSING_KEY, "", "nope"),
        ("data.items.first", paths.NOT_AN_INDEX, "data.items", "first"),
        ("data.items.--1", paths.NOT_AN_INDEX, "data.items", "--1"),
        ("data.items.²", paths.NOT_AN_INDEX, "data.items", "²"),
        ("data.items.3", paths.OUT_OF_RANGE, "data.items", "3"),
        ("data.items.-4", paths.OUT_OF_RANGE, "data.items", "-4"),
        ("text.0", paths.NOT_A_CONTAINER, "text", "0"),
        ("data.empty.x", paths.NOT_A_CONTAINER, "data.empty", "x"),
        ("data.price.real", paths.NOT_A_CONTAINER, "data.price", "real"),
    ],
)
def test_it_says_where_and_why_a_path_stops(path, reason, before, part):
    with pytest.raises(PathError) as caught:
        walk(DATA, path)
    assert (caught.value.reason, caught.value.before, caught.value.part) == (reason, before, part)
    assert caught.value.through == (f"{before}.{part}" if before else part)


def test_it_returns_the_default_instead_of_raising():
    assert walk(DATA, "data.volume", default=None) is None
    marker = object()
    assert walk(DATA, "data.items.9", default=marker) is marker
    assert walk(DATA, "data.items.0.name", default=marker) == "a"


def test_it_never_reaches_attributes():
    class Thing:
        name = "secret"

    with pytest.raises(PathError) as caught:
        walk({"thing": Thing()}, "thing.name")
    assert caught.value.reason == paths.NOT_A_CONTAINER
    with pytest.raises(PathError):
        walk({"d": {}}, "d.keys")


def test_the_three_callers_agree_on_a_path():
    context = {"json": DATA}
    assert resolve_path("json.data.items.1.name", context) == "b"
    assert extract_json_path(DATA, "data.items.1.name") == "b"
    assert compile_condition("json.data.items.1.name == 'b'").evaluate(context) is True


def test_the_three_callers_agree_on_a_missing_path():
    with pytest.raises(TemplateError, match="no key 'volume' at 'json.data.volume'"):
        resolve_path("json.data.volume", {"json": DATA})
    assert extract_json_path(DATA, "data.volume") is _MISSING
    with pytest.raises(ConditionError, match="'json.data' has no key 'volume'"):
        compile_condition("json.data.volume > 1").evaluate({"json": DATA})


def test_a_doubled_minus_is_not_found_rather_than_a_crash():
    # It used to reach int("--1") in the HTTP probe and raise ValueError.
    assert extract_json_path(DATA, "data.items.--1") is _MISSING
