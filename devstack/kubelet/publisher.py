"""`ServicePublisher`: keeps the Endpoints and EndpointSlices of the kubelet's Services in step with its pods.

Both come from the same pod snapshot in the same sync, so they agree on readiness; an object is
written only when it changed, and deleted when its Service is gone. Slices another run of this
kubelet left behind are found by their managed-by label on the first sync and replaced or deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from .api import ClusterApi, ClusterApiError
from .endpointslices import MANAGED_BY, MANAGED_BY_LABEL, build_endpoint_slices
from .objects import JsonDict, ObjectKey, key_of
from .servicemap import LocalEndpoint, build_endpoints

__all__ = ["ServicePublisher"]

log = logging.getLogger("devstack.kubelet")


class ServicePublisher:
    """What this kubelet last wrote, per object; `publish` writes the difference."""

    def __init__(self, manages: Callable[[str], bool]) -> None:
        self._manages = manages
        self._endpoints: dict[ObjectKey, JsonDict] = {}
        self._slices: dict[ObjectKey, JsonDict] | None = None
        """(namespace, slice name) -> the slice as written; None until the existing ones are listed."""

    async def publish(self, api: ClusterApi, services: Sequence[JsonDict], pods: Sequence[LocalEndpoint]) -> None:
        """Write changed Endpoints and EndpointSlices, delete those of Services that are gone; a failed
        write is logged and tried again on the next sync."""
        await self._publish_endpoints(api, services, pods)
        await self._publish_slices(api, services, pods)

    async def _publish_endpoints(self, api: ClusterApi, services: Sequence[JsonDict],
                                 pods: Sequence[LocalEndpoint]) -> None:
        keys = set()
        for service in services:
            key = key_of(service)
            keys.add(key)
            desired = build_endpoints(service, pods)
            if desired is not None and self._endpoints.get(key) != desired:
                try:
                    await api.put_endpoints(key[0], key[1], desired)
                except ClusterApiError as e:
                    log.warning("cannot write endpoints; retrying", extra={"error": str(e)})
                    continue
                self._endpoints[key] = desired
        for key in [k for k in self._endpoints if k not in keys]:
            del self._endpoints[key]
            try:
                await api.delete_endpoints(*key)
            except ClusterApiError as e:
                log.warning("cannot delete endpoints of a deleted service", extra={"error": str(e)})

    async def _publish_slices(self, api: ClusterApi, services: Sequence[JsonDict],
                              pods: Sequence[LocalEndpoint]) -> None:
        if self._slices is None:
            found = await api.list_endpoint_slices(f"{MANAGED_BY_LABEL}={MANAGED_BY}")
            # What an earlier run wrote: compared as unknown ({}), so each is rewritten or deleted once.
            self._slices = {key_of(s): {} for s in found if self._manages(key_of(s)[0])}
        written = self._slices
        desired: dict[ObjectKey, JsonDict] = {}
        for service in services:
            for endpoint_slice in build_endpoint_slices(service, pods) or []:
                desired[key_of(endpoint_slice)] = endpoint_slice
        for key, body in desired.items():
            if written.get(key) == body:
                continue
            try:
                await api.put_endpoint_slice(key[0], key[1], body)
            except ClusterApiError as e:
                log.warning("cannot write endpointslice; retrying", extra={"error": str(e)})
                continue
            written[key] = body
        for key in [k for k in written if k not in desired]:
            try:
                await api.delete_endpoint_slice(*key)
            except ClusterApiError as e:
                log.warning("cannot delete an endpointslice; retrying", extra={"error": str(e)})
                continue
            del written[key]
