"""What every part of the condition language shares: its limits and its error."""

from __future__ import annotations

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MAX_MATCH_INPUT", "MAX_REGEX_LENGTH", "ConditionError"]

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_REGEX_LENGTH = 200
MAX_MATCH_INPUT = 20_000
# Longest value quoted back in an error message.
_MAX_SHOWN = 40


class ConditionError(ValueError):
    """The condition cannot be compiled or evaluated.

    ``column`` is the 1-based position in the source the problem was found at, when there
    is one; it is also part of the message.
    """

    def __init__(self, message: str, *, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return self.message


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
