"""JSON helpers shared by the apps."""

from __future__ import annotations

import json
from typing import Any


def jsonable(value: Any) -> Any:
    """`value` as JSON types only (what a JSONField will store): anything else, such as
    datetimes or decimals, becomes its string."""
    return json.loads(json.dumps(value, default=str))
