"""The access log's per-request line (`AccessLog.request`) is the line `AccessLog.line` writes for the same
fields, byte for byte, whatever the text holds (quotes, backslashes, control and non-ASCII characters)."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.accesslog import AccessLog

_TEXT = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(['a"b', "c\\d", "\x00\n\t", "zoë", "\u2028", "😀"]))


class _Fixed(AccessLog):
    def _stamp(self) -> str:
        return "2026-12-04T20:00:00.123+00:00"


@settings(max_examples=800, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "DELETE"]), path=_TEXT, status=st.integers(100, 599),
       ms=st.floats(min_value=0, max_value=1e7, allow_nan=False), principal=_TEXT, runtime=_TEXT, query_id=_TEXT,
       client=_TEXT, refused=_TEXT)
def test_a_request_line_is_the_line_of_its_fields(method: str, path: str | None, status: int, ms: float,
                                                  principal: str | None, runtime: str | None, query_id: str | None,
                                                  client: str | None, refused: str | None) -> None:
    ms = round(ms, 2)
    direct, general = io.StringIO(), io.StringIO()
    fast, slow = _Fixed(direct, batch=1), _Fixed(general, batch=1)  # each line written at once: no loop needed
    fast.request(method, path, status, ms, principal, runtime, query_id, client, refused)
    fields: dict[str, object] = {"principal": principal, "runtime": runtime, "method": method, "path": path,
                                 "status": status, "duration_ms": ms, "query_id": query_id, "client": client}
    if refused:
        fields["refused"] = refused
    slow.line(f"{method} {path or '<refused>'} {status}", fields)
    assert direct.getvalue() == general.getvalue()
    assert json.loads(direct.getvalue())["status"] == status
