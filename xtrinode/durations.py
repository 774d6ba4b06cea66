"""Duration strings at the edges (`5m`, `90s`, `1h30m`, `250ms`, `0`) and `timedelta` in code.

Used by the resource model, settings and CLI flags. Go-style units: ms, s, m, h, d.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = ["Duration", "DURATION_PATTERN", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = r"^(0|(\d+(\.\d+)?(ms|s|m|h|d))+)$"


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse `90s`, `5m`, `1h30m`, `250ms`, `0` or a number of seconds into a timedelta."""
    try:
        return _parse_duration(value)
    except (ArithmeticError, OverflowError) as e:
        raise ValueError(f"duration {value!r} is too large; use at most a few years, e.g. '365d'") from e


def _parse_duration(value: str | int | float | timedelta) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"duration {value!r} is a boolean; write a duration such as '90s' or '5m'")
    elif isinstance(value, (int, float)):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        text = value.strip()
        if text == "0":
            return timedelta(0)
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos == 0 or pos != len(text):
            raise ValueError(
                f"invalid duration {value!r}: use a number with a unit ms, s, m, h or d, "
                "for example '90s', '5m' or '1h30m'"
            )
        result = timedelta(seconds=seconds)
    else:
        raise ValueError(f"invalid duration {value!r}: expected a string such as '5m'")
    if result < timedelta(0):
        raise ValueError(f"duration {value!r} is negative; durations must be zero or more")
    return result


def format_duration(value: timedelta) -> str:
    """The shortest canonical string for a duration: 0, 250ms, 90s, 5m, 1h30m, 2d."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0"
    if total_ms % 1000:
        return f"{total_ms}ms"
    seconds = total_ms // 1000
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _validate(value: Any) -> timedelta:
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str, when_used="json-unless-none"),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
"""A timedelta that reads and writes as a duration string in JSON and YAML."""
