from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from gradent.lib.registry import Registry


class Widget:
    name = ""


class Round(Widget):
    name = "round"
    label = "Round widget"


class Square(Widget):
    name = "square"


class AnotherRound(Widget):
    name = "round"


class NotAWidget:
    name = "stranger"


def make_registry() -> Registry:
    return Registry(
        "widget",
        setting="GRADENT_TEST_WIDGETS",
        builtins=[f"{__name__}.Round"],
        base=Widget,
        check_id="tests.E001",
        invalid_id="tests.E002",
    )


def test_it_adds_the_extras_to_the_builtins(settings):
    registry = make_registry()
    settings.GRADENT_TEST_WIDGETS = [f"{__name__}.Square"]
    assert registry.entries() == {"round": Round, "square": Square}
    assert registry.choices() == [("round", "Round widget"), ("square", "square")]


def test_an_extra_never_replaces_a_builtin(settings):
    registry = make_registry()
    settings.GRADENT_TEST_WIDGETS = [f"{__name__}.AnotherRound"]
    assert registry.get("round") is Round


def test_it_forgets_when_the_setting_changes(settings):
    registry = make_registry()
    assert registry.names() == ["round"]
    settings.GRADENT_TEST_WIDGETS = f"{__name__}.Square"  # as read from the environment
    assert registry.names() == ["round", "square"]


def test_a_bad_path_is_an_error_naming_the_setting_and_the_path(settings):
    registry = make_registry()
    settings.GRADENT_TEST_WIDGETS = ["nowhere.Widget"]
    with pytest.raises(ImproperlyConfigured) as caught:
        registry.entries()
    assert "GRADENT_TEST_WIDGETS" in str(caught.value)
    assert "'nowhere.Widget'" in str(caught.value)


def test_the_check_reports_a_bad_path_naming_the_setting(settings):
    registry = make_registry()
    assert registry.check() == []
    settings.GRADENT_TEST_WIDGETS = ["nowhere.Widget", f"{__name__}.NotAWidget"]
    errors = registry.check()
    assert [error.id for error in errors] == ["tests.E001", "tests.E002"]
    assert "'nowhere.Widget' cannot be imported" in errors[0].msg
    assert "GRADENT_TEST_WIDGETS" in errors[0].msg
    assert "is not a subclass" in errors[1].msg and "GRADENT_TEST_WIDGETS" in errors[1].msg


def test_the_check_reports_a_duplicate_name(settings):
    registry = make_registry()
    settings.GRADENT_TEST_WIDGETS = [f"{__name__}.AnotherRound"]
    errors = registry.check()
    assert len(errors) == 1
    assert errors[0].id == "tests.E001"
    assert "reuses the name 'round'" in errors[0].msg and "GRADENT_TEST_WIDGETS" in errors[0].msg


def test_the_check_reports_a_setting_of_the_wrong_shape(settings):
    registry = make_registry()
    settings.GRADENT_TEST_WIDGETS = 42
    errors = registry.check()
    assert [error.id for error in errors] == ["tests.E001"]
    assert errors[0].msg.startswith("GRADENT_TEST_WIDGETS must be a list")


def test_a_dict_names_its_entries(settings):
    registry = Registry("handler", setting="GRADENT_TEST_HANDLERS", check_id="tests.E003", name_attr="__name__")
    settings.GRADENT_TEST_HANDLERS = {"shout": "builtins.print"}
    assert registry.entries() == {"shout": print}
    settings.GRADENT_TEST_HANDLERS = ["builtins.len"]
    assert registry.entries() == {"len": len}
