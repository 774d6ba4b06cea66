"""Duration strings and Kubernetes quantities: parsing, formatting, and the errors users see."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtrinode.durations import format_duration, parse_duration
from xtrinode.quantity import format_bytes, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("2d", timedelta(days=2)),
        ("0", timedelta(0)),
        ("1.5s", timedelta(seconds=1.5)),
        (45, timedelta(seconds=45)),
    ],
)
def test_duration_strings_parse_to_timedeltas(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["5", "5 m", "m5", "-5m", "5min", "", "1h 30m", "5mm"])
def test_bad_duration_is_rejected_with_an_example(bad: str) -> None:
    with pytest.raises(ValueError, match="for example"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(0), "0"), (timedelta(seconds=90), "1m30s"), (timedelta(minutes=5), "5m"),
     (timedelta(milliseconds=250), "250ms"), (timedelta(days=1, hours=2), "1d2h")],
)
def test_durations_format_in_the_shortest_form(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_formatted_duration_parses_back_to_the_same_value(ms: int) -> None:
    value = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500m", Decimal("0.5")), ("2", Decimal(2)), ("4Gi", Decimal(4 * 2**30)), ("1.5G", Decimal("1.5e9")),
     ("128974848", Decimal(128974848)), ("129e6", Decimal(129000000)), ("1k", Decimal(1000)), (3, Decimal(3))],
)
def test_quantities_parse_to_exact_values(text: str | int, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("bad", ["4GB", "abc", "-1", "1.2.3", "Gi", ""])
def test_bad_quantity_is_rejected_with_an_example(bad: str) -> None:
    with pytest.raises(ValueError, match="such as"):
        parse_quantity(bad)


def test_bytes_format_as_the_largest_whole_jvm_unit() -> None:
    assert format_bytes(6 * 2**30) == "6G"
    assert format_bytes(1536 * 2**20) == "1536M"
    assert format_bytes(2**10 * 3) == "3K"


@pytest.mark.parametrize("huge", ["99999999999d", 8.64e13])
def test_overflowing_duration_is_a_value_error_not_a_crash(huge: str | float) -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_duration(huge)


def test_overflowing_quantity_is_a_value_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_quantity("1e99999999")
