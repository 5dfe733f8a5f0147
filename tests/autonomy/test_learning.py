"""The learner: Thompson sampling converges on the better handler; statistics and insights."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from autonomy.learning import ActionStats, Learner

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)


def simulate(learner: Learner, rates: dict[str, float], rounds: int, seed: int, goal_type="bottleneck_prevention"):
    rng = random.Random(seed)
    chosen = []
    for i in range(rounds):
        action = learner.choose(goal_type=goal_type, candidates=list(rates), rng=rng)
        learner.record(
            action=action,
            goal_type=goal_type,
            success=rng.random() < rates[action],
            at=T0 + timedelta(minutes=i),
        )
        chosen.append(action)
    return chosen


@pytest.mark.parametrize("seed", range(5))
def test_converges_to_the_better_of_two_handlers(seed):
    learner = Learner()
    chosen = simulate(learner, {"scale_out": 0.8, "restart": 0.3}, rounds=500, seed=seed)
    assert chosen[-100:].count("scale_out") >= 85
    good, bad = learner.stats("bottleneck_prevention")
    assert good.action == "scale_out"
    assert good.success_rate == pytest.approx(0.8, abs=0.08)
    assert bad.attempts >= 3  # the worse one was tried, not ignored from the start
    assert good.attempts + bad.attempts == 500


def test_an_unseen_candidate_is_still_explored():
    learner = Learner()
    for _ in range(20):
        learner.record(action="known", goal_type="cost_reduction", success=True, at=T0)
        learner.record(action="known", goal_type="cost_reduction", success=False, at=T0)
    rng = random.Random(1)
    picks = [learner.choose(goal_type="cost_reduction", candidates=["known", "new"], rng=rng) for _ in range(400)]
    # "known" is Beta(21, 21) (around 0.5); "new" is Beta(1, 1): it wins about half the time.
    assert 120 <= picks.count("new") <= 280


def test_goal_types_are_learned_separately():
    learner = Learner()
    simulate(learner, {"a": 0.9, "b": 0.1}, rounds=300, seed=2, goal_type="sla_maintenance")
    simulate(learner, {"a": 0.1, "b": 0.9}, rounds=300, seed=3, goal_type="capacity_planning")
    rng = random.Random(4)
    assert [learner.choose(goal_type="sla_maintenance", candidates=["a", "b"], rng=rng) for _ in range(50)].count(
        "a"
    ) >= 45
    assert [learner.choose(goal_type="capacity_planning", candidates=["a", "b"], rng=rng) for _ in range(50)].count(
        "b"
    ) >= 45


def test_stats_and_insights():
    learner = Learner()
    record = learner.record
    record(action="vacuum", goal_type="performance_target", success=True, impact=-0.2, at=T0)
    record(action="vacuum", goal_type="performance_target", success=True, impact=-0.4, at=T0)
    record(action="vacuum", goal_type="performance_target", success=False, error="lock timeout", at=T0)
    record(action="vacuum", goal_type="cost_reduction", success=True, at=T0 + timedelta(hours=5))
    record(action="reindex", goal_type="performance_target", success=False, error="lock timeout", at=T0)
    record(action="reindex", goal_type="performance_target", success=False, error="disk full", at=T0)
    record(action="reindex", goal_type="performance_target", success=False, error="lock timeout", at=T0)
    record(action="reindex", goal_type="performance_target", success=True, impact=-0.1, at=T0 + timedelta(hours=5))

    rows = learner.stats("performance_target")
    assert [r.action for r in rows] == ["vacuum", "reindex"]
    vacuum = rows[0]
    assert isinstance(vacuum, ActionStats)
    assert (vacuum.successes, vacuum.failures, vacuum.attempts) == (2, 1, 3)
    assert vacuum.success_rate == pytest.approx(2 / 3)
    assert vacuum.posterior_mean == pytest.approx(3 / 5)
    assert vacuum.mean_impact == pytest.approx(-0.3)
    assert vacuum.impact_count == 2
    assert vacuum.last_at == T0
    assert len(learner.stats()) == 3

    insights = learner.insights()
    rates = insights["action_success_rates"]
    assert rates["vacuum"] == {
        "rate": 0.75,
        "successes": 3,
        "failures": 1,
        "attempts": 4,
        "mean_impact": pytest.approx(-0.3),
    }
    assert rates["reindex"]["rate"] == 0.25
    assert insights["common_failures"][0] == {"action": "reindex", "error": "lock timeout", "count": 2}
    assert {"action": "reindex", "error": "disk full", "count": 1} in insights["common_failures"]
    assert insights["failing_actions"][0] == {"action": "reindex", "count": 3, "rate": 0.75}
    assert insights["best_actions"] == {"performance_target": "vacuum"}  # cost_reduction: too few attempts
    # 09:00 UTC: 2 of 6 succeeded; 14:00: 2 of 2, but under min_attempts.
    assert insights["best_hours"] == [{"hour": 9, "rate": pytest.approx(1 / 3), "attempts": 6}]
    assert learner.insights(min_attempts=1)["best_hours"][0] == {"hour": 14, "rate": 1.0, "attempts": 2}
    assert insights["totals"] == {"attempts": 8, "successes": 4, "failures": 4, "success_rate": 0.5}
    assert insights["by_goal_type"]["cost_reduction"]["vacuum"]["rate"] == 1.0
    json.dumps(insights)


def test_best_hours_use_the_learners_time_zone():
    learner = Learner(tz="Europe/Riga")
    for _ in range(3):
        learner.record(action="x", goal_type="g", success=True, at=T0)  # 09:00 UTC = 11:00 Riga
    assert learner.insights()["best_hours"] == [{"hour": 11, "rate": 1.0, "attempts": 3}]


def test_round_trip_through_json():
    learner = Learner(tz="Europe/Riga")
    simulate(learner, {"a": 0.7, "b": 0.4}, rounds=60, seed=5)
    learner.record(action="a", goal_type="g", success=False, error="boom", impact=1.5, at=T0)
    restored = Learner.from_dict(json.loads(json.dumps(learner.to_dict())))
    assert restored.tz == "Europe/Riga"
    assert [s.as_dict() for s in restored.stats()] == [s.as_dict() for s in learner.stats()]
    assert restored.insights() == learner.insights()
    with pytest.raises(ValueError, match="version"):
        Learner.from_dict({"version": 99, "stats": []})
    with pytest.raises(ValueError, match="malformed"):
        Learner.from_dict({"version": 1, "stats": [{"action": "a"}]})


def test_bad_input():
    learner = Learner()
    with pytest.raises(ValueError, match="no candidate"):
        learner.choose(goal_type="g", candidates=[])
    with pytest.raises(ValueError, match="finite"):
        learner.record(action="a", goal_type="g", success=True, impact=float("nan"))
    with pytest.raises(ValueError, match="timezone-aware"):
        learner.record(action="a", goal_type="g", success=True, at=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="time zone"):
        Learner(tz="Nowhere/Special")
    learner.record(action="a", goal_type="g", success=True)  # at defaults to now
    assert learner.stats()[0].last_at is not None
