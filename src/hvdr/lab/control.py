"""The lab's control API (aiohttp, loopback only, behind a token): the truth about every VM copy, faults,
call counts, clock.

=========================  =====================================================================================
``GET /health``            status, simulated time, speed, counts, ``split_brain`` (VMs with two copies running
                           that both wrote since the failover: name, id, hosts, modes, failed_over_at)
``GET /vms``               every VM copy on every host: name, host, site, power_state, replication_mode,
                           replication_state, replication_health, disk_checksum, replicated_checksum (over
                           the disks replication carries) (+ id, tier, pending_bytes, heartbeat, split_brain …)
``GET /hosts``             the endpoints document (``{"control", "hosts": [...]}``)
``GET /faults``            faults in force
``POST /faults``           inject ``{"kind": ..., <params>}`` (see ``hvdr.lab.models.faults``) → 201 + the fault
``DELETE /faults``         clear every fault;  ``DELETE /faults/{id}`` clears one (404 when unknown)
``GET /calls``             cmdlet calls per host, cmdlet and VM: ``{"total": n, "calls": [{host, cmdlet, vm, count}]}``
``GET /calls/log``         the calls in order: ``{"log": [{seq, at, host, cmdlet, vm}]}`` (the last 200,000)
``DELETE /calls``          reset the counters and the log
``GET /failovers``         every failover of a replica (not a test): vm, id, kind (Planned / Regular /
                           ApplicationConsistent), at, source_host, replica_host, source_checksum,
                           replica_checksum, blocks_lost (the source as it was at that moment)
``POST /clock``            ``{"advance_s": seconds}`` and/or ``{"speed": factor}`` → the new status
=========================  =====================================================================================

Errors are ``{"error": message}`` with status 400 (bad input) or 404.

Every route needs the lab's token (``Authorization: Bearer <token>``; 401 without it or with another): the API
serves the hosts' accounts and breaks the estate on request, so only who can read the token file beside the
endpoints file (mode 600, :func:`token_path`) may call it. It listens on loopback only.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hvdr.lab.models.backend import LabBackend

BACKEND: web.AppKey[LabBackend] = web.AppKey("backend", LabBackend)
ENDPOINTS: web.AppKey[Callable[[], dict[str, Any]]] = web.AppKey("endpoints")
TOKEN: web.AppKey[str] = web.AppKey("token", str)


def token_path(endpoints: Path) -> Path:
    """The control API's token file beside an endpoints file: ``endpoints.json`` → ``endpoints.token``."""
    return endpoints.with_suffix(".token")


@web.middleware
async def _require_token(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), request.app[TOKEN].encode()):
        return web.json_response(
            {"error": "the lab's control token is missing or wrong"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="hvdr-lab"'},
        )
    return await handler(request)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"invalid JSON: {exc}"}), content_type="application/json"
        ) from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "expected a JSON object"}), content_type="application/json")
    return data


async def health(request: web.Request) -> web.Response:
    return web.json_response(request.app[BACKEND].status())


async def vms(request: web.Request) -> web.Response:
    return web.json_response(request.app[BACKEND].vm_report())


async def hosts(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENDPOINTS]())


async def list_faults(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    with backend.lock:
        return web.json_response([f.to_json() for f in backend.faults.faults.values()])


async def add_fault(request: web.Request) -> web.Response:
    data = await _body(request)
    kind = str(data.pop("kind", "")).replace("-", "_")
    try:
        fault = request.app[BACKEND].add_fault(kind, **data)
    except (ValueError, TypeError) as exc:
        return _error(400, str(exc))
    return web.json_response(fault.to_json(), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    removed = request.app[BACKEND].clear_faults()
    return web.json_response({"cleared": [f.to_json() for f in removed]})


async def clear_fault(request: web.Request) -> web.Response:
    fault_id = request.match_info["fault_id"]
    removed = request.app[BACKEND].clear_fault(fault_id)
    if removed is None:
        return _error(404, f"no fault with id {fault_id!r}")
    return web.json_response({"cleared": [removed.to_json()]})


async def calls(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    with backend.lock:
        rows = backend.call_counts()
    return web.json_response({"total": sum(r["count"] for r in rows), "calls": rows})


async def call_log(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    with backend.lock:
        rows = [
            {"seq": seq, "at": at, "host": host, "cmdlet": cmdlet, "vm": vm}
            for seq, (at, host, cmdlet, vm) in enumerate(backend.call_log)
        ]
    return web.json_response({"log": rows})


async def failovers(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    with backend.lock:
        rows = list(backend.failovers)
    return web.json_response(rows)


async def reset_calls(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    with backend.lock:
        backend.calls.clear()
        backend.call_log.clear()
    return web.json_response({"total": 0, "calls": []})


async def clock(request: web.Request) -> web.Response:
    data = await _body(request)
    backend = request.app[BACKEND]
    try:
        speed = float(data["speed"]) if "speed" in data else None
        advance = float(data["advance_s"]) if "advance_s" in data else None
        with backend.lock:
            backend.sync()
            if speed is not None:
                backend.clock.set_speed(speed)
            if advance is not None:
                backend.advance(advance)
    except (ValueError, TypeError) as exc:
        return _error(400, str(exc))
    return web.json_response(backend.status())


def create_app(
    backend: LabBackend, endpoints: Callable[[], dict[str, Any]] | None = None, *, token: str
) -> web.Application:
    if not token:
        raise ValueError("the control API needs a token")
    app = web.Application(middlewares=[_require_token])
    app[TOKEN] = token
    app[BACKEND] = backend
    app[ENDPOINTS] = endpoints or (lambda: {})
    app.router.add_get("/health", health)
    app.router.add_get("/vms", vms)
    app.router.add_get("/hosts", hosts)
    app.router.add_get("/faults", list_faults)
    app.router.add_post("/faults", add_fault)
    app.router.add_delete("/faults", clear_faults)
    app.router.add_delete("/faults/{fault_id}", clear_fault)
    app.router.add_get("/calls", calls)
    app.router.add_get("/calls/log", call_log)
    app.router.add_delete("/calls", reset_calls)
    app.router.add_get("/failovers", failovers)
    app.router.add_post("/clock", clock)
    return app
