"""Learning which action works for which goal type (in memory; the app persists `to_dict()`).

Every outcome is recorded per (action, goal type): successes, failures, the mean of the
measured impacts, the error strings of failures, and successes / failures per hour of day
(in the learner's time zone). `choose` is Thompson sampling: one draw from each
candidate's Beta(1 + successes, 1 + failures) posterior, the highest draw wins, so an
action never tried (Beta(1, 1), uniform) still gets explored and a clearly better one is
chosen more and more often.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["ActionStats", "Learner"]

FORMAT_VERSION = 1
MAX_ERROR_KINDS = 20  # distinct error strings kept per (action, goal type)
MAX_ERROR_LENGTH = 200


@dataclass
class ActionStats:
    action: str
    goal_type: str
    successes: int = 0
    failures: int = 0
    mean_impact: float = 0.0  # mean of the impacts recorded (0.0 when none)
    impact_count: int = 0
    last_at: datetime | None = None
    errors: Counter = field(default_factory=Counter)  # error string -> count
    hours: dict[int, list[int]] = field(default_factory=dict)  # local hour -> [successes, failures]

    @property
    def attempts(self) -> int:
        return self.successes + self.failures

    @property
    def success_rate(self) -> float:
        """Observed rate (0.0 before any attempt)."""
        return self.successes / self.attempts if self.attempts else 0.0

    @property
    def posterior_mean(self) -> float:
        """Mean of Beta(1 + successes, 1 + failures): 0.5 before any attempt."""
        return (1 + self.successes) / (2 + self.attempts)

    def as_dict(self) -> dict:
        return {
            "action": self.action,
            "goal_type": self.goal_type,
            "successes": self.successes,
            "failures": self.failures,
            "attempts": self.attempts,
            "success_rate": self.success_rate,
            "posterior_mean": self.posterior_mean,
            "mean_impact": self.mean_impact,
            "impact_count": self.impact_count,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "errors": dict(self.errors),
            "hours": {str(h): list(sf) for h, sf in sorted(self.hours.items())},
        }


class Learner:
    """Per-(action, goal type) outcome statistics and Thompson-sampling choice."""

    def __init__(self, *, tz: str = "UTC"):
        try:
            self.zone = ZoneInfo(tz)
        except (ValueError, KeyError, OSError) as exc:
            raise ValueError(f"unknown time zone {tz!r}") from exc
        self.tz = tz
        self._stats: dict[tuple[str, str], ActionStats] = {}

    # --- recording -------------------------------------------------------------------------
    def record(
        self,
        *,
        action: str,
        goal_type: str,
        success: bool,
        impact: float | None = None,
        at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        if not action or not goal_type:
            raise ValueError("action and goal_type are required")
        if impact is not None:
            impact = float(impact)
            if not math.isfinite(impact):
                raise ValueError(f"impact must be finite, got {impact}")
        if at is None:
            at = datetime.now(UTC)
        elif at.tzinfo is None:
            raise ValueError(f"at must be timezone-aware, got {at}")
        stats = self._entry(action, goal_type)
        if success:
            stats.successes += 1
        else:
            stats.failures += 1
            if error:
                text = str(error)[:MAX_ERROR_LENGTH]
                if text in stats.errors or len(stats.errors) < MAX_ERROR_KINDS:
                    stats.errors[text] += 1
                else:
                    stats.errors["(other)"] += 1
        if impact is not None:
            stats.impact_count += 1
            stats.mean_impact += (impact - stats.mean_impact) / stats.impact_count
        hour = at.astimezone(self.zone).hour
        stats.hours.setdefault(hour, [0, 0])[0 if success else 1] += 1
        if stats.last_at is None or at > stats.last_at:
            stats.last_at = at

    def _entry(self, action: str, goal_type: str) -> ActionStats:
        key = (action, goal_type)
        if key not in self._stats:
            self._stats[key] = ActionStats(action=action, goal_type=goal_type)
        return self._stats[key]

    # --- choosing --------------------------------------------------------------------------
    def choose(self, *, goal_type: str, candidates: list[str], rng: random.Random | None = None) -> str:
        """Thompson sampling: the candidate with the highest draw from Beta(1 + s, 1 + f)."""
        if not candidates:
            raise ValueError("no candidate actions to choose from")
        rng = rng or random.Random()
        best, best_draw = candidates[0], -1.0
        for action in candidates:
            stats = self._stats.get((action, goal_type))
            s, f = (stats.successes, stats.failures) if stats else (0, 0)
            draw = rng.betavariate(1 + s, 1 + f)
            if draw > best_draw:
                best, best_draw = action, draw
        return best

    # --- reading ---------------------------------------------------------------------------
    def stats(self, goal_type: str | None = None) -> list[ActionStats]:
        """Statistics per (action, goal type), best posterior mean first."""
        rows = [s for s in self._stats.values() if goal_type is None or s.goal_type == goal_type]
        return sorted(rows, key=lambda s: (-s.posterior_mean, s.goal_type, s.action))

    def insights(self, *, min_attempts: int = 3, top: int = 10) -> dict:
        """What the outcomes say so far:

        - `action_success_rates`: per action over all goal types {rate, successes, failures,
          attempts, mean_impact};
        - `by_goal_type`: per goal type, per action {rate, attempts, mean_impact};
        - `best_actions`: per goal type, the action with the highest posterior mean among
          those with at least `min_attempts`;
        - `common_failures`: the most frequent (action, error) pairs [{action, error, count}]
          and `failing_actions`: actions by failure count [{action, count, rate}];
        - `best_hours`: local hours with at least `min_attempts` outcomes, best success rate
          first [{hour, rate, attempts}];
        - `totals`: {attempts, successes, failures, success_rate}.
        """
        per_action: dict[str, dict] = {}
        by_goal: dict[str, dict[str, dict]] = {}
        failures: Counter = Counter()
        failing: Counter = Counter()
        hours: dict[int, list[int]] = {}
        for s in self._stats.values():
            agg = per_action.setdefault(s.action, {"successes": 0, "failures": 0, "impact_sum": 0.0, "impact_count": 0})
            agg["successes"] += s.successes
            agg["failures"] += s.failures
            agg["impact_sum"] += s.mean_impact * s.impact_count
            agg["impact_count"] += s.impact_count
            by_goal.setdefault(s.goal_type, {})[s.action] = {
                "rate": s.success_rate,
                "attempts": s.attempts,
                "mean_impact": s.mean_impact,
            }
            for error, count in s.errors.items():
                failures[(s.action, error)] += count
            failing[s.action] += s.failures
            for hour, (ok, bad) in s.hours.items():
                slot = hours.setdefault(hour, [0, 0])
                slot[0] += ok
                slot[1] += bad

        rates = {}
        for action, agg in sorted(per_action.items()):
            attempts = agg["successes"] + agg["failures"]
            rates[action] = {
                "rate": agg["successes"] / attempts if attempts else 0.0,
                "successes": agg["successes"],
                "failures": agg["failures"],
                "attempts": attempts,
                "mean_impact": agg["impact_sum"] / agg["impact_count"] if agg["impact_count"] else 0.0,
            }
        best_actions = {}
        for goal_type in sorted(by_goal):
            eligible = [s for s in self.stats(goal_type) if s.attempts >= min_attempts]
            if eligible:
                best_actions[goal_type] = eligible[0].action
        successes = sum(a["successes"] for a in rates.values())
        attempts = sum(a["attempts"] for a in rates.values())
        return {
            "action_success_rates": rates,
            "by_goal_type": {g: dict(sorted(actions.items())) for g, actions in sorted(by_goal.items())},
            "best_actions": best_actions,
            "common_failures": [
                {"action": action, "error": error, "count": count}
                for (action, error), count in sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            ],
            "failing_actions": [
                {"action": action, "count": count, "rate": count / rates[action]["attempts"]}
                for action, count in sorted(failing.items(), key=lambda kv: (-kv[1], kv[0]))
                if count
            ][:top],
            "best_hours": sorted(
                (
                    {"hour": hour, "rate": ok / (ok + bad), "attempts": ok + bad}
                    for hour, (ok, bad) in hours.items()
                    if ok + bad >= min_attempts
                ),
                key=lambda h: (-h["rate"], -h["attempts"], h["hour"]),
            )[:top],
            "totals": {
                "attempts": attempts,
                "successes": successes,
                "failures": attempts - successes,
                "success_rate": successes / attempts if attempts else 0.0,
            },
            "timezone": self.tz,
        }

    # --- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable snapshot; `Learner.from_dict` restores it."""
        return {
            "version": FORMAT_VERSION,
            "tz": self.tz,
            "stats": [
                {
                    "action": s.action,
                    "goal_type": s.goal_type,
                    "successes": s.successes,
                    "failures": s.failures,
                    "mean_impact": s.mean_impact,
                    "impact_count": s.impact_count,
                    "last_at": s.last_at.isoformat() if s.last_at else None,
                    "errors": dict(s.errors),
                    "hours": {str(h): list(sf) for h, sf in sorted(s.hours.items())},
                }
                for s in self._stats.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Learner:
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a learner snapshot of version {FORMAT_VERSION}")
        learner = cls(tz=data.get("tz", "UTC"))
        try:
            for row in data["stats"]:
                stats = learner._entry(str(row["action"]), str(row["goal_type"]))
                stats.successes = int(row["successes"])
                stats.failures = int(row["failures"])
                stats.mean_impact = float(row.get("mean_impact", 0.0))
                stats.impact_count = int(row.get("impact_count", 0))
                stats.last_at = datetime.fromisoformat(row["last_at"]) if row.get("last_at") else None
                stats.errors = Counter({str(k): int(v) for k, v in (row.get("errors") or {}).items()})
                stats.hours = {int(h): [int(sf[0]), int(sf[1])] for h, sf in (row.get("hours") or {}).items()}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed learner snapshot: {exc!r}") from exc
        return learner
