"""Trino HTTP protocol names: headers, paths, query and node states, error codes, id formats.

Shared by the gateway, the activities and the devstack Trino emulator (see
/work/shared/notes/trino-protocol.md); like trino-python-client's `constants.py`, no I/O here.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

__all__ = [
    "ALT_HEADER_PREFIX",
    "COORDINATOR_ID_ALPHABET",
    "ErrorCode",
    "ErrorType",
    "FORWARDED_HEADERS",
    "Header",
    "NodeState",
    "Path",
    "QUERY_ID_IN_PATH",
    "QUERY_ID_PATTERN",
    "QueryState",
    "StandardError",
    "format_airlift_duration",
    "format_data_size",
    "query_id_from_path",
]

HEADER_PREFIX: Final = "X-Trino-"
ALT_HEADER_PREFIX: Final = "X-Presto-"


class Header:
    """Request and response header names (`X-Trino-<Name>`)."""

    USER: Final = "X-Trino-User"
    ORIGINAL_USER: Final = "X-Trino-Original-User"
    SOURCE: Final = "X-Trino-Source"
    CATALOG: Final = "X-Trino-Catalog"
    SCHEMA: Final = "X-Trino-Schema"
    PATH: Final = "X-Trino-Path"
    TIME_ZONE: Final = "X-Trino-Time-Zone"
    LANGUAGE: Final = "X-Trino-Language"
    TRACE_TOKEN: Final = "X-Trino-Trace-Token"
    SESSION: Final = "X-Trino-Session"
    ROLE: Final = "X-Trino-Role"
    PREPARED_STATEMENT: Final = "X-Trino-Prepared-Statement"
    TRANSACTION_ID: Final = "X-Trino-Transaction-Id"
    CLIENT_INFO: Final = "X-Trino-Client-Info"
    CLIENT_TAGS: Final = "X-Trino-Client-Tags"
    CLIENT_CAPABILITIES: Final = "X-Trino-Client-Capabilities"
    RESOURCE_ESTIMATE: Final = "X-Trino-Resource-Estimate"
    EXTRA_CREDENTIAL: Final = "X-Trino-Extra-Credential"
    QUERY_DATA_ENCODING: Final = "X-Trino-Query-Data-Encoding"
    ROUTING_GROUP: Final = "X-Trino-Routing-Group"
    INTERNAL_BEARER: Final = "X-Trino-Internal-Bearer"

    SET_CATALOG: Final = "X-Trino-Set-Catalog"
    SET_SCHEMA: Final = "X-Trino-Set-Schema"
    SET_PATH: Final = "X-Trino-Set-Path"
    SET_SESSION: Final = "X-Trino-Set-Session"
    CLEAR_SESSION: Final = "X-Trino-Clear-Session"
    SET_ROLE: Final = "X-Trino-Set-Role"
    ADDED_PREPARE: Final = "X-Trino-Added-Prepare"
    DEALLOCATED_PREPARE: Final = "X-Trino-Deallocated-Prepare"
    STARTED_TRANSACTION_ID: Final = "X-Trino-Started-Transaction-Id"
    CLEAR_TRANSACTION_ID: Final = "X-Trino-Clear-Transaction-Id"
    SET_AUTHORIZATION_USER: Final = "X-Trino-Set-Authorization-User"
    RESET_AUTHORIZATION_USER: Final = "X-Trino-Reset-Authorization-User"

    FORWARDED_PROTO: Final = "X-Forwarded-Proto"
    FORWARDED_HOST: Final = "X-Forwarded-Host"
    FORWARDED_PORT: Final = "X-Forwarded-Port"
    FORWARDED_FOR: Final = "X-Forwarded-For"
    FORWARDED_PREFIX: Final = "X-Forwarded-Prefix"


FORWARDED_HEADERS: Final = (
    Header.FORWARDED_PROTO,
    Header.FORWARDED_HOST,
    Header.FORWARDED_PORT,
    Header.FORWARDED_FOR,
    Header.FORWARDED_PREFIX,
)


class Path:
    """Server paths; `{id}` style placeholders follow aiohttp's route syntax."""

    STATEMENT: Final = "/v1/statement"
    QUEUED: Final = "/v1/statement/queued/{query_id}/{slug}/{token}"
    EXECUTING: Final = "/v1/statement/executing/{query_id}/{slug}/{token}"
    PARTIAL_CANCEL: Final = "/v1/statement/executing/partialCancel/{query_id}/{stage}/{slug}/{token}"
    INFO: Final = "/v1/info"
    INFO_STATE: Final = "/v1/info/state"
    INFO_COORDINATOR: Final = "/v1/info/coordinator"
    STATUS: Final = "/v1/status"
    QUERY: Final = "/v1/query"
    QUERY_ONE: Final = "/v1/query/{query_id}"
    QUERY_KILLED: Final = "/v1/query/{query_id}/killed"
    NODE: Final = "/v1/node"
    NODE_FAILED: Final = "/v1/node/failed"
    ANNOUNCE: Final = "/v1/announce"
    TASK: Final = "/v1/task/{task_id}"
    METRICS: Final = "/metrics"
    UI_QUERY: Final = "/ui/query.html"
    UI_STATS: Final = "/ui/api/stats"


class QueryState(enum.StrEnum):
    """`execution/QueryState.java`; only FINISHED and FAILED are terminal."""

    QUEUED = "QUEUED"
    WAITING_FOR_RESOURCES = "WAITING_FOR_RESOURCES"
    DISPATCHING = "DISPATCHING"
    PLANNING = "PLANNING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FINISHING = "FINISHING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"

    @property
    def done(self) -> bool:
        return self in (QueryState.FINISHED, QueryState.FAILED)

    @property
    def queued(self) -> bool:
        """Counted as queued by `QueryManager.QueuedQueries`."""
        return self in (QueryState.QUEUED, QueryState.WAITING_FOR_RESOURCES, QueryState.DISPATCHING)


class NodeState(enum.StrEnum):
    """`node/NodeState.java` (DRAINING and DRAINED since trinodb/trino#24444)."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    INVALID = "INVALID"
    GONE = "GONE"
    DRAINING = "DRAINING"
    DRAINED = "DRAINED"
    SHUTTING_DOWN = "SHUTTING_DOWN"


class ErrorType(enum.StrEnum):
    USER_ERROR = "USER_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INSUFFICIENT_RESOURCES = "INSUFFICIENT_RESOURCES"
    EXTERNAL = "EXTERNAL"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One `StandardErrorCode` entry: code, name and type as Trino reports them."""

    code: int
    name: str
    type: ErrorType

    @property
    def fatal(self) -> bool:
        """`ErrorCode.isFatal()`: true for every USER_ERROR code of StandardErrorCode (Trino 476)."""
        return self.type == ErrorType.USER_ERROR

    def to_json(self, with_fatal: bool = True) -> dict[str, object]:
        """The `errorCode` object of BasicQueryInfo (with `fatal`), or failureInfo's `errorInfo` (without)."""
        body: dict[str, object] = {"code": self.code, "name": self.name, "type": str(self.type)}
        if with_fatal:
            body["fatal"] = self.fatal
        return body


class StandardError:
    """The subset of `io.trino.spi.StandardErrorCode` our code produces or inspects."""

    GENERIC_USER_ERROR: Final = ErrorCode(0, "GENERIC_USER_ERROR", ErrorType.USER_ERROR)
    SYNTAX_ERROR: Final = ErrorCode(1, "SYNTAX_ERROR", ErrorType.USER_ERROR)
    ABANDONED_QUERY: Final = ErrorCode(2, "ABANDONED_QUERY", ErrorType.USER_ERROR)
    USER_CANCELED: Final = ErrorCode(3, "USER_CANCELED", ErrorType.USER_ERROR)
    PERMISSION_DENIED: Final = ErrorCode(4, "PERMISSION_DENIED", ErrorType.USER_ERROR)
    NOT_FOUND: Final = ErrorCode(5, "NOT_FOUND", ErrorType.USER_ERROR)
    FUNCTION_NOT_FOUND: Final = ErrorCode(6, "FUNCTION_NOT_FOUND", ErrorType.USER_ERROR)
    INVALID_FUNCTION_ARGUMENT: Final = ErrorCode(7, "INVALID_FUNCTION_ARGUMENT", ErrorType.USER_ERROR)
    DIVISION_BY_ZERO: Final = ErrorCode(8, "DIVISION_BY_ZERO", ErrorType.USER_ERROR)
    INVALID_CAST_ARGUMENT: Final = ErrorCode(9, "INVALID_CAST_ARGUMENT", ErrorType.USER_ERROR)
    NOT_SUPPORTED: Final = ErrorCode(13, "NOT_SUPPORTED", ErrorType.USER_ERROR)
    INVALID_SESSION_PROPERTY: Final = ErrorCode(14, "INVALID_SESSION_PROPERTY", ErrorType.USER_ERROR)
    NUMERIC_VALUE_OUT_OF_RANGE: Final = ErrorCode(19, "NUMERIC_VALUE_OUT_OF_RANGE", ErrorType.USER_ERROR)
    UNKNOWN_TRANSACTION: Final = ErrorCode(20, "UNKNOWN_TRANSACTION", ErrorType.USER_ERROR)
    NOT_IN_TRANSACTION: Final = ErrorCode(21, "NOT_IN_TRANSACTION", ErrorType.USER_ERROR)
    INCOMPATIBLE_CLIENT: Final = ErrorCode(27, "INCOMPATIBLE_CLIENT", ErrorType.USER_ERROR)
    ADMINISTRATIVELY_KILLED: Final = ErrorCode(38, "ADMINISTRATIVELY_KILLED", ErrorType.USER_ERROR)
    CATALOG_NOT_FOUND: Final = ErrorCode(44, "CATALOG_NOT_FOUND", ErrorType.USER_ERROR)
    SCHEMA_NOT_FOUND: Final = ErrorCode(45, "SCHEMA_NOT_FOUND", ErrorType.USER_ERROR)
    TABLE_NOT_FOUND: Final = ErrorCode(46, "TABLE_NOT_FOUND", ErrorType.USER_ERROR)
    COLUMN_NOT_FOUND: Final = ErrorCode(47, "COLUMN_NOT_FOUND", ErrorType.USER_ERROR)
    MISSING_CATALOG_NAME: Final = ErrorCode(56, "MISSING_CATALOG_NAME", ErrorType.USER_ERROR)
    MISSING_SCHEMA_NAME: Final = ErrorCode(57, "MISSING_SCHEMA_NAME", ErrorType.USER_ERROR)
    TYPE_MISMATCH: Final = ErrorCode(58, "TYPE_MISMATCH", ErrorType.USER_ERROR)
    INVALID_LITERAL: Final = ErrorCode(59, "INVALID_LITERAL", ErrorType.USER_ERROR)
    AMBIGUOUS_NAME: Final = ErrorCode(62, "AMBIGUOUS_NAME", ErrorType.USER_ERROR)
    EXPRESSION_NOT_AGGREGATE: Final = ErrorCode(73, "EXPRESSION_NOT_AGGREGATE", ErrorType.USER_ERROR)
    INVALID_PARAMETER_USAGE: Final = ErrorCode(80, "INVALID_PARAMETER_USAGE", ErrorType.USER_ERROR)
    GENERIC_INTERNAL_ERROR: Final = ErrorCode(65536, "GENERIC_INTERNAL_ERROR", ErrorType.INTERNAL_ERROR)
    NO_NODES_AVAILABLE: Final = ErrorCode(65541, "NO_NODES_AVAILABLE", ErrorType.INTERNAL_ERROR)
    SERVER_SHUTTING_DOWN: Final = ErrorCode(65545, "SERVER_SHUTTING_DOWN", ErrorType.INTERNAL_ERROR)
    SERVER_STARTING_UP: Final = ErrorCode(65548, "SERVER_STARTING_UP", ErrorType.INTERNAL_ERROR)
    GENERIC_INSUFFICIENT_RESOURCES: Final = ErrorCode(
        131072, "GENERIC_INSUFFICIENT_RESOURCES", ErrorType.INSUFFICIENT_RESOURCES
    )
    QUERY_QUEUE_FULL: Final = ErrorCode(131074, "QUERY_QUEUE_FULL", ErrorType.INSUFFICIENT_RESOURCES)
    EXCEEDED_TIME_LIMIT: Final = ErrorCode(131075, "EXCEEDED_TIME_LIMIT", ErrorType.INSUFFICIENT_RESOURCES)
    EXCEEDED_LOCAL_MEMORY_LIMIT: Final = ErrorCode(
        131079, "EXCEEDED_LOCAL_MEMORY_LIMIT", ErrorType.INSUFFICIENT_RESOURCES
    )
    ADMINISTRATIVELY_PREEMPTED: Final = ErrorCode(
        131080, "ADMINISTRATIVELY_PREEMPTED", ErrorType.INSUFFICIENT_RESOURCES
    )


COORDINATOR_ID_ALPHABET: Final = "abcdefghijkmnpqrstuvwxyz23456789"
"""`QueryIdGenerator`: a-z without l and o, 2-9; five of these make the coordinator id."""

QUERY_ID_PATTERN: Final = re.compile(r"^\d{8}_\d{6}_\d{5}_[a-km-np-z2-9]{5}$")
"""A query id as `QueryIdGenerator` makes it: `YYYYMMDD_HHMMSS_NNNNN_ccccc` (UTC)."""

QUERY_ID_IN_PATH: Final = re.compile(r"\d+_\d+_\d+_\w+")
"""What trino-gateway uses to find the query id in a follow-up request path."""

_FOLLOW_UP_PATH: Final = re.compile(
    r"^/v1/(?:statement/(?:queued|executing)(?:/partialCancel)?|query)/(\d+_\d+_\d+_\w+)(?:[/?.]|$)"
)


def query_id_from_path(path: str) -> str | None:
    """The query a follow-up request targets (statement queued/executing URIs, partialCancel, /v1/query/{id}).

    None for `POST /v1/statement` and every path that names no query.
    """
    match = _FOLLOW_UP_PATH.match(path)
    return match.group(1) if match else None


_DURATION_UNITS: Final = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6))


def format_airlift_duration(value: timedelta | float) -> str:
    """airlift `Duration.toString()`: the most succinct unit with two decimals, `5.00m`, `300.00ms`."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    for unit, size in _DURATION_UNITS:
        if seconds >= size:
            return f"{seconds / size:.2f}{unit}"
    return f"{seconds * 1e9:.2f}ns"


_AIRLIFT_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d)\s*$")
_UNIT_SECONDS: Final = {**dict(_DURATION_UNITS), "ns": 1e-9}


def airlift_duration_seconds(text: str) -> float | None:
    """Seconds of an airlift `Duration` text (`2m`, `30s`, `5.00m`, `250ms`); None when it is not one."""
    match = _AIRLIFT_DURATION.match(text)
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else None


def format_data_size(num_bytes: int) -> str:
    """airlift `DataSize.succinct()`: `0B`, `12.50kB`, `3MB` style."""
    size = float(num_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)}{unit}" if size == int(size) else f"{size:.2f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")
