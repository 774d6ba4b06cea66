"""Control and status endpoints: /v1/info*, /v1/status, /v1/query*, /v1/node, /v1/announce, /v1/task, /metrics.

Shapes follow Trino's ServerInfo, NodeStatus, BasicQueryInfo and OpenMetrics output; access
rules follow ResourceSecurity (PUBLIC, AUTHENTICATED_USER, MANAGEMENT_READ/WRITE).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from aiohttp import web

from xtrinode.trino_protocol import (
    NodeState,
    Path,
    QueryState,
    StandardError,
    format_airlift_duration,
    format_data_size,
)

from .auth import external_base, management_write_user, request_user
from .keys import LIFECYCLE, MANAGER, REGISTRY, SETTINGS
from .lifecycle import IllegalTransition, UnsupportedTransition
from .queries import Query, iso_time
from .statement import json_body, trino_error

__all__ = ["add_control_routes", "basic_query_info"]


def _duration(seconds: float) -> str:
    return format_airlift_duration(max(seconds, 0.0))


async def get_info(request: web.Request) -> web.Response:
    """ServerInfo exactly as Trino 476 sends it (no nodeId, state or coordinatorId: those came later)."""
    settings, lifecycle = request.app[SETTINGS], request.app[LIFECYCLE]
    return json_body({
        "nodeVersion": {"version": settings.version},
        "environment": settings.environment,
        "coordinator": settings.coordinator,
        "starting": lifecycle.starting,
        "uptime": _duration(lifecycle.uptime_seconds),
    })


async def get_state(request: web.Request) -> web.Response:
    return json_body(str(request.app[LIFECYCLE].state))


async def put_state(request: web.Request) -> web.Response:
    management_write_user(request, request.app[SETTINGS])
    if request.content_type != "application/json":
        return web.Response(status=415, text="Unsupported Media Type: send the state as JSON")
    try:
        value = json.loads(await request.text())
        target = NodeState(value)
    except (ValueError, TypeError):
        return web.Response(status=400, text="Invalid state: expected a JSON string such as \"SHUTTING_DOWN\"")
    try:
        request.app[LIFECYCLE].request_state(target)
    except IllegalTransition as e:
        return web.Response(status=400, text=str(e))
    except UnsupportedTransition as e:
        return web.Response(status=500, text=str(e))
    return web.Response(status=200, text="")


async def get_coordinator(request: web.Request) -> web.Response:
    return web.Response(status=200 if request.app[SETTINGS].coordinator else 404)


async def get_status(request: web.Request) -> web.Response:
    settings, lifecycle = request.app[SETTINGS], request.app[LIFECYCLE]
    processors = os.cpu_count() or 1
    max_bytes = 1 << 30
    return json_body({
        "nodeId": settings.node_id,
        "nodeVersion": {"version": settings.version},
        "environment": settings.environment,
        "coordinator": settings.coordinator,
        "uptime": _duration(lifecycle.uptime_seconds),
        "externalAddress": settings.advertised_host,
        "internalAddress": settings.advertised_host,
        "memoryInfo": {
            "availableProcessors": processors,
            "pool": {"maxBytes": max_bytes, "reservedBytes": 0, "reservedRevocableBytes": 0,
                     "queryMemoryReservations": {}, "queryMemoryAllocations": {},
                     "queryMemoryRevocableReservations": {}, "taskMemoryReservations": {},
                     "taskMemoryRevocableReservations": {}, "freeBytes": max_bytes},
        },
        "processors": processors,
        "processCpuLoad": 0.0,
        "systemCpuLoad": 0.0,
        "heapUsed": 0,
        "heapAvailable": max_bytes,
        "nonHeapUsed": 0,
    })


def _query_type(query: Query) -> str:
    first = query.sql.strip().split(None, 1)[0].upper() if query.sql.strip() else ""
    if first in ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "("):
        return "SELECT"
    if first in ("DESCRIBE", "DESC"):
        return "DESCRIBE"
    return "DATA_DEFINITION"


def basic_query_info(query: Query, base: str) -> dict[str, Any]:
    """BasicQueryInfo as `GET /v1/query` lists it (only what our code and tests read, Trino-shaped)."""
    identity = query.identity
    session: dict[str, Any] = {
        "queryId": query.query_id,
        "user": identity.user,
        "originalUser": identity.user,
        "timeZoneKey": 0,
        "timeZone": identity.time_zone or "UTC",
        "locale": "en_US",
        "clientTags": list(identity.client_tags),
        "clientCapabilities": [],
        "systemProperties": dict(identity.properties),
        "catalogProperties": {},
        "preparedStatements": {},
        "start": iso_time(query.created_wall),
    }
    for key, value in (("source", identity.source), ("catalog", identity.catalog), ("schema", identity.schema),
                       ("userAgent", identity.user_agent), ("clientInfo", identity.client_info)):
        if value is not None:
            session[key] = value
    produced = query.buffer.produced_rows if query.buffer is not None else 0
    produced_bytes = query.buffer.produced_bytes if query.buffer is not None else 0
    execution = query.execution_seconds()
    stats: dict[str, Any] = {
        "createTime": iso_time(query.created_wall),
        "queuedTime": _duration(query.queued_seconds()),
        "elapsedTime": _duration(query.elapsed_seconds()),
        "executionTime": _duration(execution),
        "failedTasks": 0,
        "totalDrivers": 1, "queuedDrivers": 0, "runningDrivers": 0 if query.state.done else 1,
        "completedDrivers": 1 if query.state.done else 0, "blockedDrivers": 0,
        "rawInputDataSize": format_data_size(produced_bytes),
        "rawInputPositions": produced,
        "spilledDataSize": format_data_size(0),
        "physicalInputDataSize": format_data_size(0),
        "physicalWrittenDataSize": format_data_size(0),
        "internalNetworkInputDataSize": format_data_size(0),
        "cumulativeUserMemory": 0.0,
        "failedCumulativeUserMemory": 0.0,
        "userMemoryReservation": format_data_size(0),
        "totalMemoryReservation": format_data_size(0),
        "peakUserMemoryReservation": format_data_size(produced_bytes),
        "peakTotalMemoryReservation": format_data_size(produced_bytes),
        "planningTime": _duration(query.planning_seconds()),
        "analysisTime": _duration(query.planning_seconds() / 2),
        "totalCpuTime": _duration(execution / 2),
        "failedCpuTime": _duration(0.0),
        "totalScheduledTime": _duration(execution),
        "failedScheduledTime": _duration(0.0),
        "finishingTime": _duration(query.finishing_seconds()),
        "physicalInputReadTime": _duration(0.0),
        "fullyBlocked": False,
        "blockedReasons": [],
        "progressPercentage": 100.0 if query.state == QueryState.FINISHED else 0.0,
    }
    if query.ended_wall is not None:
        stats["endTime"] = iso_time(query.ended_wall)
    info: dict[str, Any] = {
        "queryId": query.query_id,
        "session": session,
        "resourceGroupId": ["global"],
        "state": str(query.state),
        "scheduled": query.dispatched,
        "self": f"{base}{Path.QUERY}/{query.query_id}",
        "query": query.sql,
        "queryStats": stats,
        "queryType": _query_type(query),
        "retryPolicy": "NONE",
    }
    if query.result is not None and query.result.update_type is not None:
        info["updateType"] = query.result.update_type
    if query.failure is not None:
        info["errorType"] = str(query.failure.code.type)
        info["errorCode"] = query.failure.code.to_json()
    return info


async def list_queries(request: web.Request) -> web.Response:
    request_user(request, request.app[SETTINGS])
    state = request.query.get("state")
    base = external_base(request, request.app[SETTINGS])
    queries = [q for q in request.app[MANAGER].visible() if state is None or str(q.state) == state.upper()]
    return json_body([basic_query_info(q, base) for q in queries])


async def get_query(request: web.Request) -> web.Response:
    request_user(request, request.app[SETTINGS])
    query = request.app[MANAGER].get(request.match_info["query_id"])
    if query is None or not query.started:
        return trino_error(410, "HTTP 410 Gone")
    info = basic_query_info(query, external_base(request, request.app[SETTINGS]))
    if query.failure is not None:
        info["failureInfo"] = query.failure.to_json()["failureInfo"]
    return json_body(info)


async def delete_query(request: web.Request) -> web.Response:
    request_user(request, request.app[SETTINGS])
    manager = request.app[MANAGER]
    query = manager.get(request.match_info["query_id"])
    if query is not None:
        manager.cancel(query)
    return web.Response(status=204)


async def kill_query(request: web.Request) -> web.Response:
    request_user(request, request.app[SETTINGS])
    manager = request.app[MANAGER]
    query = manager.get(request.match_info["query_id"])
    if query is None or not query.started:
        return trino_error(410, "HTTP 410 Gone")
    if query.state.done:
        return web.Response(status=409)
    message = (await request.text()).strip() or "Query killed. No message provided."
    manager.cancel(query, StandardError.ADMINISTRATIVELY_KILLED, f"Query killed. Message: {message}")
    return web.Response(status=202)


async def list_nodes(request: web.Request) -> web.Response:
    request_user(request, request.app[SETTINGS])
    failed_only = request.path.endswith("/failed")
    now = time.time()
    nodes: list[dict[str, Any]] = []
    for node in request.app[REGISTRY].nodes.values():
        failing = node.state in (NodeState.GONE, NodeState.INACTIVE)
        if failed_only and not failing:
            continue
        nodes.append({
            "uri": node.uri,
            "nodeId": node.node_id,
            "state": str(node.state),
            "coordinator": node.coordinator,
            "nodeVersion": node.version,
            "recentRequests": float(node.requests),
            "recentFailures": float(node.failures),
            "recentSuccesses": float(node.requests - node.failures),
            "lastRequestTime": iso_time(node.last_request_wall) if node.last_request_wall else None,
            "lastResponseTime": iso_time(node.last_response_wall) if node.last_response_wall else None,
            "recentFailureRatio": node.failures / node.requests if node.requests else 0.0,
            "age": _duration(now - node.first_seen_wall),
            "recentFailuresByType": {},
        })
    return json_body(nodes)


async def post_announce(request: web.Request) -> web.Response:
    uri = (await request.text()).strip()
    if not uri.startswith(("http://", "https://")):
        return web.Response(status=400, text=f"Invalid node URI {uri[:100]!r}")
    request.app[REGISTRY].announce(uri)
    return web.Response(status=204)


async def get_announce(request: web.Request) -> web.Response:
    request_user(request, request.app[SETTINGS])
    return json_body(sorted(request.app[REGISTRY].nodes))


async def update_task(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    if not request.app[LIFECYCLE].update_task(task_id):
        return web.Response(status=503, text="Server is not accepting new tasks: " + str(request.app[LIFECYCLE].state))
    return json_body({"taskStatus": {"taskId": task_id, "state": "RUNNING",
                                             "nodeId": request.app[SETTINGS].node_id}})


async def delete_task(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    request.app[LIFECYCLE].remove_task(task_id)
    return json_body({"taskStatus": {"taskId": task_id, "state": "ABORTED",
                                             "nodeId": request.app[SETTINGS].node_id}})


async def list_tasks(request: web.Request) -> web.Response:
    return json_body([{"taskStatus": {"taskId": task_id, "state": "RUNNING"}}
                              for task_id in request.app[LIFECYCLE].active_tasks()])


def _gauge(name: str, value: float) -> str:
    return f"# TYPE {name} gauge\n{name} {float(value)}\n"


async def get_metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    request_user(request, settings)
    lines = []
    if settings.coordinator:
        manager, registry = request.app[MANAGER], request.app[REGISTRY]
        lines.append(_gauge("trino_execution_name_QueryManager_RunningQueries", manager.running_count()))
        lines.append(_gauge("trino_execution_name_QueryManager_QueuedQueries", manager.queued_count()))
        lines.append(_gauge("trino_metadata_name_DiscoveryNodeManager_ActiveNodeCount", registry.active_node_count()))
        lines.append(_gauge("trino_node_name_CoordinatorNodeManager_ActiveNodeCount", registry.active_node_count()))
        for state, attribute in ((NodeState.DRAINING, "DrainingNodeCount"), (NodeState.DRAINED, "DrainedNodeCount"),
                                 (NodeState.SHUTTING_DOWN, "ShuttingDownNodeCount")):
            lines.append(_gauge(f"trino_node_name_CoordinatorNodeManager_{attribute}", registry.count_in(state)))
    else:
        lines.append(_gauge("trino_execution_executor_name_TaskExecutor_Tasks",
                            len(request.app[LIFECYCLE].active_tasks())))
    body = "".join(lines) + "# EOF\n"
    return web.Response(text=body, headers={"Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8"})


async def get_ui_stats(request: web.Request) -> web.Response:
    """ClusterStats as `/ui/api/stats` reports it (authenticated like the client API, not by UI cookie)."""
    request_user(request, request.app[SETTINGS])
    settings, manager, registry = request.app[SETTINGS], request.app[MANAGER], request.app[REGISTRY]
    processors = os.cpu_count() or 1
    workers = registry.schedulable_count()
    return json_body({
        "runningQueries": manager.running_count(),
        "blockedQueries": 0,
        "queuedQueries": manager.queued_count(),
        "activeCoordinators": 1,
        "activeWorkers": workers,
        "runningDrivers": manager.running_count(),
        "totalAvailableProcessors": processors * max(workers, 1),
        "reservedMemory": 0.0,
        "totalInputRows": 0,
        "totalInputBytes": 0,
        "totalCpuTimeSecs": 0,
    })


def add_control_routes(app: web.Application, coordinator: bool) -> None:
    router = app.router
    router.add_get(Path.INFO, get_info)
    router.add_get(Path.INFO_STATE, get_state)
    router.add_put(Path.INFO_STATE, put_state)
    router.add_get(Path.INFO_COORDINATOR, get_coordinator)
    router.add_get(Path.STATUS, get_status)
    router.add_get(Path.METRICS, get_metrics)
    if coordinator:
        router.add_get(Path.QUERY, list_queries)
        router.add_get(Path.QUERY_ONE, get_query)
        router.add_delete(Path.QUERY_ONE, delete_query)
        router.add_put(Path.QUERY_KILLED, kill_query)
        router.add_get(Path.NODE, list_nodes)
        router.add_get(Path.NODE_FAILED, list_nodes)
        router.add_get(Path.UI_STATS, get_ui_stats)
        router.add_post(Path.ANNOUNCE, post_announce)
        router.add_get(Path.ANNOUNCE, get_announce)
    else:
        router.add_get("/v1/task", list_tasks)
        router.add_post(Path.TASK, update_task)
        router.add_delete(Path.TASK, delete_task)
