"""agents.events: the bus the apps above `agents` talk on."""

from __future__ import annotations

import pytest

from agents import events
from agents.apps import check_plugins


def test_it_refuses_a_subscription_to_an_unknown_event_once_the_apps_are_loaded():
    with pytest.raises(ValueError, match="unknown event 'goal_exploded'"):
        events.subscribe("goal_exploded", lambda **kwargs: None)


def test_the_system_check_names_an_event_subscribed_to_but_never_registered():
    def listener(**kwargs):
        pass

    events._subscribers["never_registered"].append(listener)  # as a subscribe() during app loading does
    try:
        errors = [error for error in check_plugins() if error.id == "agents.E006"]
        assert len(errors) == 1 and "'never_registered'" in errors[0].msg
    finally:
        events.unsubscribe("never_registered", listener)
    assert not [error for error in check_plugins() if error.id == "agents.E006"]


def test_a_question_gets_its_answerer_s_value_and_exceptions():
    def double(*, value: int) -> int:
        if value < 0:
            raise ValueError("negative")
        return value * 2

    events.answer("test.double", double)
    try:
        assert events.ask("test.double", value=21) == 42
        with pytest.raises(ValueError, match="negative"):
            events.ask("test.double", value=-1)
        with pytest.raises(ValueError, match="already answered"):
            events.answer("test.double", lambda **kwargs: 0)
    finally:
        events._answerers.pop("test.double")
    with pytest.raises(events.NoAnswer):
        events.ask("test.double", value=1)


def test_autonomy_publishes_what_notifications_listens_for():
    from autonomy.channels import EVENTS
    from notifications.subscribers import AUTONOMY_EVENTS, on_autonomy_event

    assert {event.value for event in AUTONOMY_EVENTS} == set(EVENTS)
    for event in EVENTS:
        assert on_autonomy_event in events._subscribers[event]
