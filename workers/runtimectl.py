"""`xtrinode runtime list|status|resume|suspend|events`: the API server for people.

Talks to the API server (`--server`, `--token`; or XTRINODE_API_URL / XTRINODE_API_TOKEN; or the
devstack's values from `<state-dir>/devstack.json`). `resume --wait` shows the phase and the step
running while it waits. Exit codes scripts can rely on:

| code | meaning |
|---|---|
| 0 | done (or accepted, without --wait) |
| 1 | the runtime refused or failed the action (the message says why) |
| 2 | usage or configuration error |
| 3 | no such runtime (or not visible to this token) |
| 4 | not authenticated or not allowed |
| 5 | the API server is unreachable, failed, or --wait ran out |
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import yaml

__all__ = ["main"]

EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_DENIED, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5


class CliError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Target:
    server: str
    token: str


def _connection_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every command takes, before or after its name (`-o json` at the end works too)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--server", default=default(os.environ.get("XTRINODE_API_URL")),
                        help="API server URL (env XTRINODE_API_URL)")
    parser.add_argument("--token", default=default(os.environ.get("XTRINODE_API_TOKEN")),
                        help="bearer token (env XTRINODE_API_TOKEN)")
    parser.add_argument("--token-file", default=default(None), help="read the bearer token from this file")
    parser.add_argument("--state-dir", default=default(".xtrinode"),
                        help="devstack state dir for defaults (default .xtrinode)")
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default=default("table"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtrinode runtime", description="Runtimes through the XTrinode API server.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    _connection_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="every runtime you may see", parents=[common])
    listing.add_argument("-n", "--namespace")
    for name, text in (("status", "one runtime's status"), ("events", "its lifecycle steps and Kubernetes Events")):
        command = sub.add_parser(name, help=text, parents=[common])
        command.add_argument("runtime", help="NAMESPACE/NAME")
    for name in ("resume", "suspend"):
        command = sub.add_parser(name, help=f"{name} a runtime", parents=[common])
        command.add_argument("runtime", help="NAMESPACE/NAME")
        command.add_argument("--wait", action="store_true", help="wait until the phase is reached, showing progress")
        command.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits (default 600)")
        command.add_argument("--reason", default="cli")
        if name == "resume":
            command.add_argument("--wake-min-workers", type=int, help="worker floor held after the resume")
            command.add_argument("--wake-ttl", help="how long the floor holds, e.g. 30m")
    return parser


def _target(args: argparse.Namespace) -> Target:
    server, token = args.server, args.token
    if args.token_file:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
    info_file = Path(args.state_dir) / "devstack.json"
    if (server is None or token is None) and info_file.exists():
        info = json.loads(info_file.read_text(encoding="utf-8"))
        server = server or info.get("api_url")
        if token is None and info.get("api_token_file"):
            token = Path(info["api_token_file"]).read_text(encoding="utf-8").strip()
    if not server or not token:
        raise CliError(EXIT_USAGE, "no API server: pass --server and --token (or XTRINODE_API_URL and XTRINODE_API_TOKEN),"
                                   " or run it where `xtrinode dev up` keeps its state (--state-dir)")
    return Target(server.rstrip("/"), token)


def _ref(text: str) -> tuple[str, str]:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise CliError(EXIT_USAGE, f"{text!r} is not NAMESPACE/NAME")
    return namespace, name


class Api:
    def __init__(self, http: aiohttp.ClientSession, target: Target) -> None:
        self.http, self.target = http, target

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        try:
            async with self.http.request(method, self.target.server + path, json=body,
                                         headers={"Authorization": f"Bearer {self.target.token}"}) as response:
                data = await response.json(content_type=None) if response.content_length != 0 else {}
                return response.status, data
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise CliError(EXIT_UNAVAILABLE, f"the API server at {self.target.server} cannot be reached: "
                                             f"{type(e).__name__}: {str(e)[:200]}") from e

    async def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        status, data = await self.call(method, path, body)
        if status < 300:
            return status, data
        message = data.get("error", f"HTTP {status}") if isinstance(data, dict) else f"HTTP {status}"
        code = {404: EXIT_NOT_FOUND, 401: EXIT_DENIED, 403: EXIT_DENIED, 409: EXIT_FAILED, 400: EXIT_USAGE}.get(
            status, EXIT_UNAVAILABLE)
        raise CliError(code, message)


def _emit(data: Any, output: str, table: str, out: TextIO) -> None:
    if output == "json":
        print(json.dumps(data, indent=2, sort_keys=True), file=out)
    elif output == "yaml":
        print(yaml.safe_dump(data, sort_keys=False).rstrip(), file=out)
    else:
        print(table, file=out)


def _step_text(view: dict[str, Any]) -> str:
    step = view.get("step")
    if not step:
        return "-"
    return f"{step['name']} ({step.get('seconds') or 0:.1f}s)"


def _rows(items: list[dict[str, Any]]) -> str:
    header = ("NAMESPACE", "NAME", "PHASE", "WORKERS", "STEP", "LAST ACTIVITY")
    rows = [header] + [(i["namespace"], i["name"], i["phase"], f"{i['workers']['ready']}/{i['workers']['desired']}",
                        _step_text(i), i.get("lastActivity") or "-") for i in items]
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(header))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _status_table(view: dict[str, Any]) -> str:
    lines = [f"{view['namespace']}/{view['name']}", f"  phase:          {view['phase']}",
             f"  message:        {view.get('message') or '-'}",
             f"  workers:        {view['workers']['ready']} ready / {view['workers']['desired']} desired",
             f"  step:           {_step_text(view)}", f"  last activity:  {view.get('lastActivity') or '-'}",
             f"  coordinator:    {view.get('coordinatorUrl') or '-'}", f"  workflow:       {view['workflowId']}"]
    return "\n".join(lines)


async def _progress(api: Api, path: str, started: float, err: TextIO) -> None:
    """Print phase and step while an action waits (only when they change)."""
    last = ""
    while True:
        status, view = await api.call("GET", path)
        if status == 200 and isinstance(view, dict):
            line = f"{view['phase']:<12} step {_step_text(view)}"
            if line != last:
                print(f"  {time.monotonic() - started:6.1f}s  {line}", file=err, flush=True)
                last = line
        await asyncio.sleep(0.5)


async def _act(api: Api, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    namespace, name = _ref(args.runtime)
    body: dict[str, Any] = {"reason": args.reason}
    if args.command == "resume":
        if args.wake_min_workers is not None:
            body["wakeMinWorkers"] = args.wake_min_workers
        if args.wake_ttl:
            body["wakeTtl"] = args.wake_ttl
    path = f"/v1/runtimes/{namespace}/{name}"
    started = time.monotonic()
    if not args.wait:
        _, answer = await api.ok("POST", f"{path}/{args.command}", body)
        _emit(answer, args.output, f"{namespace}/{name}: {args.command} {answer['state']} "
                                   f"(phase {answer['runtime']['phase']})", out)
        return 0
    print(f"{args.command} {namespace}/{name}: waiting (at most {args.timeout:.0f}s)", file=err, flush=True)
    progress = asyncio.create_task(_progress(api, path, started, err))
    try:
        action = api.ok("POST", f"{path}/{args.command}?wait=true", body)
        status, answer = await asyncio.wait_for(action, args.timeout)
    except TimeoutError as e:
        raise CliError(EXIT_UNAVAILABLE, f"{namespace}/{name} did not finish {args.command} within {args.timeout:.0f}s; "
                                         f"see `xtrinode runtime events {namespace}/{name}`") from e
    finally:
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
    if status == 202:
        raise CliError(EXIT_UNAVAILABLE, f"{namespace}/{name} is still on its way ({answer['runtime']['phase']})")
    view = answer["runtime"]
    _emit(answer, args.output, f"{namespace}/{name}: {view['phase']} after {time.monotonic() - started:.1f}s", out)
    return 0


async def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = _target(args)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        api = Api(http, target)
        if args.command == "list":
            query = f"?namespace={args.namespace}" if args.namespace else ""
            _, listed = await api.ok("GET", f"/v1/runtimes{query}")
            _emit(listed, args.output, _rows(listed["items"]), out)
            return 0
        if args.command == "status":
            namespace, name = _ref(args.runtime)
            _, view = await api.ok("GET", f"/v1/runtimes/{namespace}/{name}")
            _emit(view, args.output, _status_table(view), out)
            return 0
        if args.command == "events":
            namespace, name = _ref(args.runtime)
            _, events = await api.ok("GET", f"/v1/runtimes/{namespace}/{name}/events")
            table = "\n".join(f"{e['time'] or '-':<32} {e['source']:<10} {e['type']:<9} {e['reason']:<18} {e['message']}"
                              for e in events["items"])
            _emit(events, args.output, table or "(no events)", out)
            return 0
        return await _act(api, args, out, err)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args, sys.stdout, sys.stderr))
    except CliError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return e.code
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
