"""The gateway's edge: one canonical request target, header hygiene, endpoint classes and trusted proxies.

Every request passes `canonical_target` (dot segments, encoded `.` `/` `\\`, empty segments and
control bytes refused with a plain 400) and `header_problem` before anything else looks at it; the
path that is classified, authorised and forwarded is that one canonical path, never the raw one.
`classify` maps method + canonical path to an `Endpoint` by exact patterns (SPEC 4, issue #11).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from multidict import CIMultiDictProxy

__all__ = [
    "HEADERS_VERDICT",
    "BadTarget",
    "ClientView",
    "Endpoint",
    "EndpointKind",
    "IDENTITY_HEADERS",
    "RequestTarget",
    "TrustedProxies",
    "canonical_target",
    "classify",
    "header_problem",
    "page_poll",
]

HEADERS_VERDICT: Final = "edge.headers"
"""Memo key (GatewayRequest.memo): the edge's verdict on a connection's header lines (a ClientView when
they are usable, else the refusal), shared by its requests while their lines are identical."""


class BadTarget(ValueError):
    """The request target is not one canonical origin-form path; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """The canonical path (decoded, no dot or empty segments) and the query string as received."""

    path: str
    query: str
    forwarded: str | None = field(default=None, compare=False)
    """The target to forward when known up front (a plain path needs no re-encoding)."""

    @property
    def path_qs(self) -> str:
        """What is forwarded: the canonical path, percent-encoded where needed, plus the raw query."""
        if self.forwarded is not None:
            return self.forwarded
        encoded = quote(self.path, safe="/:@!$&'()*+,;=-._~")
        return f"{encoded}?{self.query}" if self.query else encoded


_HEX: Final = frozenset("0123456789abcdefABCDEF")
_FORBIDDEN_DECODED: Final = {".": "'.'", "/": "'/'", "\\": "'\\'", "%": "'%'"}


def _decode_path(raw: str) -> str:
    """Percent-decode `raw`, refusing encodings of `.`, `/`, `\\`, `%` and of control or non-ASCII bytes."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "%":
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise BadTarget("the path has a malformed percent-encoding; encode '%' as %25 only where needed")
            code = int(pair, 16)
            decoded = chr(code)
            if decoded in _FORBIDDEN_DECODED:
                raise BadTarget(f"the path percent-encodes {_FORBIDDEN_DECODED[decoded]}; send plain path segments")
            if code < 0x20 or code >= 0x7F:
                raise BadTarget("the path percent-encodes a control or non-ASCII byte; Trino paths never hold one")
            out.append(decoded)
            i += 3
            continue
        out.append(char)
        i += 1
    return "".join(out)


_PLAIN_PATH: Final = re.compile(r"^(?:/[A-Za-z0-9_~:@!$&'()*+,;=-][A-Za-z0-9_~:@!$&'()*+,;=.-]*)+/?$|^/$")
"""A path of plain segments (no `%`, no segment starting with a dot, no empty one): canonical as it is."""
_PLAIN_QUERY: Final = re.compile(r"^[\x21-\x7e]*$")


def canonical_target(raw_target: str) -> RequestTarget:
    """The canonical form of a request target as received (`request.raw_path`); raises BadTarget.

    Refused: anything but an origin-form path, backslashes, NUL and control or non-ASCII characters,
    `.` and `..` segments (plain or percent-encoded), encoded `/` `\\` `%`, and empty segments (`//`);
    one trailing slash is allowed (`/ui/`).
    """
    path, _, query = raw_target.partition("?")
    if _PLAIN_PATH.match(path) and "#" not in query and _PLAIN_QUERY.match(query):
        return RequestTarget(path, query, raw_target)  # the common case: nothing to decode or re-encode
    if not path.startswith("/"):
        raise BadTarget("the request target must be a path starting with '/'")
    for text, where in ((path, "path"), (query, "query")):
        for char in text:
            code = ord(char)
            if code < 0x21 or code >= 0x7F:
                raise BadTarget(f"the {where} holds a control, space or non-ASCII character; percent-encode it")
    if "\\" in path:
        raise BadTarget("the path holds a backslash; use '/' between segments")
    if "#" in path or "#" in query:
        raise BadTarget("the request target holds a fragment ('#'); send the path only")
    decoded = _decode_path(path)
    segments = decoded.split("/")[1:]
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            raise BadTarget("the path holds a '.' or '..' segment; send the path it resolves to")
        if segment == "" and index != len(segments) - 1:
            raise BadTarget("the path holds an empty segment ('//'); remove the extra '/'")
    return RequestTarget(decoded, query)


IDENTITY_HEADERS: Final = (
    "Authorization",
    "X-API-Key",
    "X-Trino-User",
    "X-Trino-Original-User",
    "X-Presto-User",
    "X-Trino-XTrinode",
    "X-Trino-Routing-Group",
    "Host",
    "Content-Length",
    "Content-Encoding",
)
"""Headers that may appear at most once: a second copy could mean one thing to us and another upstream."""


def header_problem(headers: CIMultiDictProxy[str]) -> str | None:
    """Why the headers are unusable (invalid UTF-8, control characters, duplicated identity headers), or None.

    aiohttp decodes header bytes as UTF-8 with surrogate escapes: a surrogate means invalid bytes.
    The message names the header, never its value.
    """
    for name, value in headers.items():
        if value.isascii() and value.isprintable() and name.isascii() and name.isprintable():
            continue  # the common case, decided in C
        for char in value:
            code = ord(char)
            if 0xDC80 <= code <= 0xDCFF:
                return f"header {_safe_name(name)} is not valid UTF-8; send it as UTF-8 text"
            if (code < 0x20 and char != "\t") or code == 0x7F:
                return f"header {_safe_name(name)} holds a control character"
        for char in name:
            if ord(char) >= 0x7F or ord(char) <= 0x20:
                return "a header name holds a non-ASCII or control character"
    for name in IDENTITY_HEADERS:
        if len(headers.getall(name, ())) > 1:
            return f"header {name} appears more than once; send it once"
    return None


def _safe_name(name: str) -> str:
    return name if name.isascii() and name.isprintable() else "<non-ASCII name>"


class EndpointKind(enum.Enum):
    OPEN = "open"
    """`/healthz`, `/readyz`, `/metrics`: no auth, no rate limit."""
    STATEMENT = "statement"
    """`POST /v1/statement`: a new query."""
    PAGE = "page"
    """`GET`/`DELETE` of a statement's queued or executing URI (and partialCancel)."""
    QUERY = "query"
    """`/v1/query/{id}` and its `killed`/`preempted` actions, the UI page and API of one query."""
    QUERY_LIST = "query_list"
    """`GET /v1/query`: every query of a runtime, with its SQL (admin only when auth is on)."""
    INFO = "info"
    """`/v1/info`, `/v1/info/state` (GET), `/v1/info/coordinator`, `/v1/status`: the selected runtime."""
    UI = "ui"
    """The Trino web UI's static assets under `/ui/` (not its API)."""
    UI_API = "ui_api"
    """The Trino web UI's API (`/ui/api/...`) other than one query: lists everyone's queries (admin only)."""
    INTERNAL = "internal"
    """`/v1/xtrinode/...`: served on the internal listener only."""
    UNKNOWN = "unknown"
    """Nothing the gateway serves: 404."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: EndpointKind
    query_id: str | None = None
    slug: str | None = None
    """The slug of a statement page (held statements check it)."""

    @property
    def metric_kind(self) -> str:
        """The `kind` label of the requests metric."""
        return _METRIC_KIND.get(self.kind, "other")


_METRIC_KIND: Final = {
    EndpointKind.OPEN: "internal",
    EndpointKind.STATEMENT: "statement",
    EndpointKind.PAGE: "follow_up",
    EndpointKind.QUERY: "follow_up",
    EndpointKind.INTERNAL: "internal",
}


_ID: Final = r"(?P<id>\d{8}_\d{6}_\d{5}_[a-z0-9]{5})"
_SLUG: Final = r"(?P<slug>[A-Za-z0-9_-]{1,128})"
_PAGE: Final = re.compile(rf"^/v1/statement/(?P<phase>queued|executing)/{_ID}/{_SLUG}/(?P<token>\d{{1,18}})$")
_PARTIAL_CANCEL: Final = re.compile(rf"^/v1/statement/executing/partialCancel/{_ID}/\d{{1,9}}/{_SLUG}/\d{{1,18}}$")
_QUERY: Final = re.compile(rf"^/v1/query/{_ID}$")
_QUERY_ACTION: Final = re.compile(rf"^/v1/query/{_ID}/(?:killed|preempted)$")
_UI_QUERY_API: Final = re.compile(rf"^/ui/api/query/{_ID}$")
_UI_QUERY_PAGE_ID: Final = re.compile(rf"^{_ID}$")
_OPEN: Final = frozenset({"/healthz", "/readyz", "/metrics"})
_INFO: Final = frozenset({"/v1/info", "/v1/info/coordinator", "/v1/status"})
_READ: Final = frozenset({"GET", "HEAD"})


def page_poll(raw_target: str) -> tuple[RequestTarget, Endpoint] | None:
    """`canonical_target` and `classify` of a GET in one match, for the common case of a statement page poll
    without a query string (its id, slug and token allow no `.`, `%` or empty segment, so it is canonical as
    received); None for anything else (then ask those two)."""
    page = _PAGE.fullmatch(raw_target)  # not match: `$` also matches before a final newline
    if page is None:
        return None
    return RequestTarget(raw_target, "", raw_target), Endpoint(EndpointKind.PAGE, page["id"], page["slug"])


def classify(method: str, path: str, query: str) -> Endpoint:
    """The endpoint a canonical request addresses, by exact patterns; UNKNOWN for anything else."""
    if path in _OPEN:
        return Endpoint(EndpointKind.OPEN if method in _READ else EndpointKind.UNKNOWN)
    if path == "/v1/statement":
        return Endpoint(EndpointKind.STATEMENT if method == "POST" else EndpointKind.UNKNOWN)
    if path.startswith("/v1/statement/"):
        page = _PAGE.match(path)
        if page is not None and method in ("GET", "DELETE"):
            return Endpoint(EndpointKind.PAGE, page["id"], page["slug"])
        partial = _PARTIAL_CANCEL.match(path)
        if partial is not None and method == "DELETE":
            return Endpoint(EndpointKind.PAGE, partial["id"], partial["slug"])
        return Endpoint(EndpointKind.UNKNOWN)
    if path.startswith("/v1/query"):
        if path == "/v1/query":
            return Endpoint(EndpointKind.QUERY_LIST if method in _READ else EndpointKind.UNKNOWN)
        one = _QUERY.match(path)
        if one is not None and method in ("GET", "HEAD", "DELETE"):
            return Endpoint(EndpointKind.QUERY, one["id"])
        action = _QUERY_ACTION.match(path)
        if action is not None and method == "PUT":
            return Endpoint(EndpointKind.QUERY, action["id"])
        return Endpoint(EndpointKind.UNKNOWN)
    if path in _INFO or path == "/v1/info/state":
        return Endpoint(EndpointKind.INFO if method in _READ else EndpointKind.UNKNOWN)
    if path.startswith("/v1/xtrinode/"):
        return Endpoint(EndpointKind.INTERNAL)
    if path == "/ui" or path.startswith("/ui/"):
        if method not in _READ:
            return Endpoint(EndpointKind.UNKNOWN)
        if path == "/ui/query.html":
            found = _UI_QUERY_PAGE_ID.match(query)
            return Endpoint(EndpointKind.QUERY, found["id"]) if found else Endpoint(EndpointKind.UI)
        if path.startswith("/ui/api/"):
            one_ui = _UI_QUERY_API.match(path)
            return Endpoint(EndpointKind.QUERY, one_ui["id"]) if one_ui else Endpoint(EndpointKind.UI_API)
        return Endpoint(EndpointKind.UI)
    return Endpoint(EndpointKind.UNKNOWN)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ClientView:
    """Who the client is and how it reached us, after deciding which forwarded headers to believe."""

    address: str
    """The client's address: the TCP peer, or the first untrusted hop of a trusted proxy's chain."""
    forwarded_for: str
    """The X-Forwarded-For chain to send upstream (the trusted chain, then the peer)."""
    scheme: str
    host: str
    port: str | None
    prefix: str | None


_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_HOST: Final = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$")
_PREFIX: Final = re.compile(r"^(?:/[A-Za-z0-9._~-]+)+$")


class TrustedProxies:
    """The CIDRs whose X-Forwarded-* headers we believe; from anyone else they are dropped and replaced."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)

    def trusts(self, address: str | None) -> bool:
        if not self.networks or not address:
            return False
        parsed = _address(address)
        return parsed is not None and any(parsed in net for net in self.networks)

    def view(self, peer: str | None, scheme: str, host: str, headers: Mapping[str, str]) -> ClientView:
        """The client's view of this request; forwarded headers count only when `peer` is trusted."""
        peer = peer or "unknown"
        own_host = host if _HOST.match(host or "") else "unknown"
        if not self.trusts(peer):
            return ClientView(peer, peer, scheme, own_host, _port_of(own_host, scheme), None)
        chain = [hop.strip() for hop in headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
        address = peer
        # The client is the right-most hop that is not one of our proxies.
        for hop in reversed(chain):
            address = hop
            if not self.trusts(hop):
                break
        forwarded_for = ", ".join([*chain, peer]) if chain else peer
        proto = _first(headers.get("X-Forwarded-Proto"))
        fwd_scheme = proto.lower() if proto and proto.lower() in _DEFAULT_PORTS else scheme
        fwd_host = _first(headers.get("X-Forwarded-Host"))
        fwd_host = fwd_host if fwd_host and _HOST.match(fwd_host) else own_host
        fwd_port = _first(headers.get("X-Forwarded-Port"))
        port = fwd_port if fwd_port and fwd_port.isdigit() else _port_of(fwd_host, fwd_scheme)
        prefix = _first(headers.get("X-Forwarded-Prefix"))
        return ClientView(address, forwarded_for, fwd_scheme, fwd_host, port, prefix if prefix and _PREFIX.match(prefix) else None)


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",")[0].strip() or None


def _port_of(host: str, scheme: str) -> str | None:
    if host.startswith("["):
        tail = host[host.find("]") + 1 :]
        return tail[1:] if tail.startswith(":") else _DEFAULT_PORTS.get(scheme)
    if ":" in host:
        return host.rsplit(":", 1)[1]
    return _DEFAULT_PORTS.get(scheme)
