"""Failover cmdlets and recovery points (reference §1.11, §3)."""

from __future__ import annotations

import uuid
from typing import Any

from hvdr.lab.cmdlets.base import (
    AS_JOB,
    PASSTHRU,
    SHOULD_PROCESS,
    Context,
    cmdlet,
    remoting,
    resolve_vms,
    vm_sets,
)
from hvdr.lab.cmdlets.binding import Param
from hvdr.lab.cmdlets.patterns import matches
from hvdr.lab.models import errors, failover
from hvdr.lab.models.disks import RecoveryPoint
from hvdr.lab.models.enums import SnapshotType
from hvdr.lab.models.objects import ModelObject
from hvdr.lab.models.replication import Relationship
from hvdr.lab.models.vms import VirtualMachine


def _points(vm: VirtualMachine) -> list[tuple[Relationship, RecoveryPoint]]:
    rel = vm.replication
    return [(rel, p) for p in rel.history.points] if rel is not None and vm.test_of is None else []


@cmdlet(
    "Get-VMSnapshot",
    *remoting("VMName", "Id"),
    Param("Id", "guid", position=0, mandatory=True, pipeline_types=("Guid",), by_property_name=True, sets=("Id",)),
    Param("Name", "string", position=1, sets=("VMName", "VMObject")),
    Param(
        "SnapshotType",
        "enum",
        ("VMRecoveryCheckpoint",),
        enum=SnapshotType,
        sets=("VMName", "VMObject"),
    ),
    *vm_sets(),
    default_set="VMName",
)
def get_vmsnapshot(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    if "Id" in bound and "VMName" not in bound and not bound.get("VM"):
        vms = list(ctx.host.vms.values())
    else:
        vms = resolve_vms(ctx, bound)
    wanted = bound.get("SnapshotType")
    names = [bound["Name"]] if "Name" in bound else []
    found = [
        (rel, point)
        for vm in sorted(vms, key=lambda v: v.name.lower())
        for rel, point in _points(vm)
        if (wanted is None or point.snapshot_type is wanted)
        and matches(point.name, names)
        and ("Id" not in bound or point.id == bound["Id"])
    ]
    if not found and (("Id" in bound) or (names and not any(ch in n for n in names for ch in "*?["))):
        what = f'id "{bound["Id"]}"' if "Id" in bound else f'name "{names[0]}"'
        raise errors.object_not_found(f"Hyper-V was unable to find a checkpoint with {what}.")
    return [rel.snapshot_object(point) for rel, point in found]


def _snapshot(ctx: Context, value: object) -> tuple[Relationship, RecoveryPoint, uuid.UUID]:
    """The recovery point a ``-VMRecoverySnapshot`` argument stands for on this host."""
    obj = value[0] if isinstance(value, list) and len(value) == 1 else value
    if isinstance(obj, ModelObject) and isinstance(obj.ref, tuple) and len(obj.ref) == 2:
        rel, point = obj.ref
        if isinstance(rel, Relationship) and isinstance(point, RecoveryPoint):
            current = ctx.host.vms.get(rel.vm.id)
            if current is not None and current.replication is not None:
                return current.replication, point, rel.vm.id
    if isinstance(obj, ModelObject) and obj.ps_get("Id") is not None:
        for vm in ctx.host.vms.values():
            for rel, point in _points(vm):
                if str(point.id) == str(obj.ps_get("Id")):
                    return rel, point, vm.id
    raise errors.invalid_argument(
        "The VMRecoverySnapshot parameter needs a recovery point from Get-VMSnapshot on this Replica server.",
        "VMRecoverySnapshot",
    )


@cmdlet(
    "Start-VMFailover",
    AS_JOB,
    Param("AsTest", "switch", mandatory=True, sets=("VMName_Test", "VMObject_Test", "VMSnapshot_Test")),
    *remoting("VMName", "VMName_Test"),
    PASSTHRU,
    Param("Prepare", "switch", sets=("VMName", "VMObject")),
    Param(
        "VM",
        "objects",
        position=0,
        mandatory=True,
        pipeline_types=("VirtualMachine",),
        sets=("VMObject", "VMObject_Test"),
    ),
    Param("VMName", "strings", position=0, mandatory=True, pipeline_types=("String",), sets=("VMName", "VMName_Test")),
    Param(
        "VMRecoverySnapshot",
        "object",
        ("VMRecoveryCheckpoint",),
        position=0,
        mandatory=True,
        pipeline_types=("VMSnapshot",),
        sets=("VMSnapshot", "VMSnapshot_Test"),
    ),
    *SHOULD_PROCESS,
    default_set="VMName",
)
def start_failover(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    snapshot = bound.get("VMRecoverySnapshot")
    point: RecoveryPoint | None = None
    owner: uuid.UUID | None = None
    if snapshot is not None:
        rel, point, owner = _snapshot(ctx, snapshot)
        vms = resolve_vms(ctx, bound) if ("VMName" in bound or bound.get("VM")) else [rel.vm]
    else:
        vms = resolve_vms(ctx, bound)
    results: list[Any] = []
    for vm in vms:
        test = failover.start_failover(
            ctx.backend,
            vm,
            prepare=bool(bound.get("Prepare")),
            as_test=bool(bound.get("AsTest")),
            point=point,
            point_owner=owner,
        )
        if bound.get("Passthru"):  # -AsTest writes the test VM, and only with -Passthru (as documented)
            results.append((test or vm).to_object(ctx.backend.now()))
    return results


@cmdlet("Complete-VMFailover", *remoting("VMName"), PASSTHRU, *vm_sets(), *SHOULD_PROCESS, default_set="VMName")
def complete_failover(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound, wildcard_applies=failover.awaits_completion)
    for vm in vms:
        failover.complete_failover(ctx.backend, vm)
    return [vm.to_object(ctx.now) for vm in vms] if bound.get("Passthru") else []


@cmdlet("Stop-VMFailover", AS_JOB, *remoting("VMName"), PASSTHRU, *vm_sets(), *SHOULD_PROCESS, default_set="VMName")
def stop_failover(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound, wildcard_applies=failover.failover_in_progress)
    for vm in vms:
        failover.stop_failover(ctx.backend, vm)
    return [vm.to_object(ctx.now) for vm in vms if vm.id in ctx.host.vms] if bound.get("Passthru") else []
