"""Query failures as Trino reports them: the `error` object of QueryResults with its failureInfo.

`QueryFailure` is raised anywhere in planning or execution and rendered once, by `to_json`, in the
shape Trino 476 sends (failureInfo with `errorInfo`, `errorLocation` and, where Trino has one, a `cause`).
"""

from __future__ import annotations

from typing import Any, Final

from xtrinode.trino_protocol import ErrorCode, StandardError

__all__ = ["QueryFailure", "failure_from_exception"]

_TRINO_EXCEPTION: Final = "io.trino.spi.TrinoException"
_PARSING_EXCEPTION: Final = "io.trino.sql.parser.ParsingException"
_CAUSES: Final = {
    # What Trino 476 puts under failureInfo.cause for these codes (seen on the wire).
    StandardError.DIVISION_BY_ZERO.name: ("java.lang.ArithmeticException", "/ by zero"),
    StandardError.SYNTAX_ERROR.name: ("org.antlr.v4.runtime.InputMismatchException", None),
}


class QueryFailure(Exception):
    """Why a query failed: a Trino error code, a message and, when known, a 1-based location."""

    def __init__(self, code: ErrorCode, message: str, location: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location

    def to_json(self) -> dict[str, Any]:
        """QueryError: message, errorCode, errorName, errorType, errorLocation?, failureInfo."""
        exception_type = _PARSING_EXCEPTION if self.code == StandardError.SYNTAX_ERROR else _TRINO_EXCEPTION
        error_info = self.code.to_json(with_fatal=False)
        failure: dict[str, Any] = {"type": exception_type, "message": self.message}
        if self.code.name in _CAUSES:
            cause_type, cause_message = _CAUSES[self.code.name]
            cause: dict[str, Any] = {"type": cause_type}
            if cause_message is not None:
                cause["message"] = cause_message
            cause.update({"suppressed": [], "stack": [f"{cause_type}: emulated by xtrinode"], "errorInfo": error_info})
            failure["cause"] = cause
        failure.update({
            "suppressed": [],
            "stack": [f"{exception_type}: {self.message}", "\tat io.trino.emulator(xtrinode)"],
            "errorInfo": error_info,
        })
        error: dict[str, Any] = {
            "message": self.message,
            "errorCode": self.code.code,
            "errorName": self.code.name,
            "errorType": str(self.code.type),
        }
        if self.location is not None:
            location = {"lineNumber": self.location[0], "columnNumber": self.location[1]}
            error["errorLocation"] = location
            failure["errorLocation"] = location
        error["failureInfo"] = failure
        return error


def failure_from_exception(error: BaseException) -> QueryFailure:
    """Any unexpected exception becomes GENERIC_INTERNAL_ERROR, so the server never answers 500."""
    if isinstance(error, QueryFailure):
        return error
    return QueryFailure(StandardError.GENERIC_INTERNAL_ERROR, f"{type(error).__name__}: {error}")
