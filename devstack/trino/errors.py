"""Query failures as Trino reports them: the `error` object of QueryResults with its failureInfo.

`QueryFailure` is raised anywhere in planning or execution and rendered once, by `to_json`.
"""

from __future__ import annotations

from typing import Any

from xtrinode.trino_protocol import ErrorCode, StandardError

__all__ = ["QueryFailure", "failure_from_exception"]

_EXCEPTION_TYPES = {
    "USER_ERROR": "io.trino.spi.TrinoException",
    "INTERNAL_ERROR": "io.trino.spi.TrinoException",
    "INSUFFICIENT_RESOURCES": "io.trino.spi.TrinoException",
    "EXTERNAL": "io.trino.spi.TrinoException",
}
_SYNTAX_EXCEPTION = "io.trino.sql.parser.ParsingException"


class QueryFailure(Exception):
    """Why a query failed: a Trino error code, a message and, when known, a 1-based location."""

    def __init__(self, code: ErrorCode, message: str, location: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location

    def to_json(self) -> dict[str, Any]:
        """QueryError: message, errorCode, errorName, errorType, errorLocation?, failureInfo."""
        exception_type = (
            _SYNTAX_EXCEPTION if self.code == StandardError.SYNTAX_ERROR else _EXCEPTION_TYPES[str(self.code.type)]
        )
        failure: dict[str, Any] = {
            "type": exception_type,
            "message": self.message,
            "suppressed": [],
            "stack": [f"{exception_type}: {self.message}", "\tat io.trino.emulator(xtrinode)"],
        }
        error: dict[str, Any] = {
            "message": self.message,
            "errorCode": self.code.code,
            "errorName": self.code.name,
            "errorType": str(self.code.type),
            "failureInfo": failure,
        }
        if self.location is not None:
            location = {"lineNumber": self.location[0], "columnNumber": self.location[1]}
            error["errorLocation"] = location
            failure["errorLocation"] = location
        return error


def failure_from_exception(error: BaseException) -> QueryFailure:
    """Any unexpected exception becomes GENERIC_INTERNAL_ERROR, so the server never answers 500."""
    if isinstance(error, QueryFailure):
        return error
    return QueryFailure(StandardError.GENERIC_INTERNAL_ERROR, f"{type(error).__name__}: {error}")
