"""Why a run was skipped, as a code to branch on (the reason is text for people).

The start decision (agents.services.start_runs) sets the code on the runs it returns
(`run.skip_code`, in memory, no column). A skipped run read back from the database has
only its reason, which the decision writes with fixed opening words: `skip_code` reads
those here, in one place, so no caller looks for a word inside the reason ("quota" in a
pause reason written by a user must not turn a 409 into a 429).
"""

from __future__ import annotations

from django.db import models

from agents.models import Run, RunStatus


class SkipCode(models.TextChoices):
    DISABLED = "disabled", "The agent is disabled"
    PAUSED = "paused", "The agent is paused"
    OVERLAP_SKIP = "overlap_skip", "Overlap policy 'skip': a run is active"
    OVERLAP_QUEUE_ONE = "overlap_queue_one", "Overlap policy 'queue one': a run is already waiting"
    QUOTA = "quota", "The workspace's hourly run quota is used up"
    INPUT_INVALID = "input_invalid", "The input does not match the agent's input schema"
    OTHER = "other", "Another reason"


INPUT_INVALID_OPENING = "Input does not match the agent's input schema:"

OVERLAP = frozenset({SkipCode.OVERLAP_SKIP, SkipCode.OVERLAP_QUEUE_ONE})

# The opening words agents.services gives each reason (see _refusal and start_runs there).
_OPENINGS = (
    ("Agent is disabled.", SkipCode.DISABLED),
    ("Agent is paused:", SkipCode.PAUSED),
    ("Overlap policy 'skip':", SkipCode.OVERLAP_SKIP),
    ("Overlap policy 'queue one':", SkipCode.OVERLAP_QUEUE_ONE),
    ("Workspace quota of ", SkipCode.QUOTA),
    (INPUT_INVALID_OPENING, SkipCode.INPUT_INVALID),
)


def skip_code_for(reason: str) -> SkipCode:
    """The code of a skipped run's reason."""
    for opening, code in _OPENINGS:
        if reason.startswith(opening):
            return code
    return SkipCode.OTHER


def skip_code(run: Run) -> SkipCode | None:
    """Why `run` was skipped (None when it was not): the code the start decision set on it,
    else the one its reason's opening words say."""
    if run.status != RunStatus.SKIPPED:
        return None
    code = getattr(run, "skip_code", None)
    return SkipCode(code) if code else skip_code_for(run.reason or "")
