"""A small PSHost for the wire's tests: a few cmdlets over an in-memory VM list, settable faults."""

from __future__ import annotations

import enum
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hvdr.lab.seam import Cmdlet, Invocation, PSCustomObject, PSError, WireFaults


class VMState(enum.IntEnum):
    Running = 2
    Off = 3


class FakeHost:
    def __init__(self, name: str = "hv01.lab.local", vms: list[str] | None = None) -> None:
        self._name = name
        self.faults = WireFaults()
        self.lock = threading.Lock()
        self.calls: list[Invocation] = []
        self.vms: dict[str, dict[str, Any]] = {}
        for vm in vms if vms is not None else ["web-01", "db-01"]:
            self.add_vm(vm)

    @property
    def name(self) -> str:
        return self._name

    def add_vm(self, vm: str) -> None:
        self.vms[vm] = {
            "Name": vm,
            "Id": uuid.uuid5(uuid.NAMESPACE_DNS, vm),
            "State": VMState.Running,
            "Uptime": timedelta(hours=1, seconds=5),
            "CreationTime": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        }

    def wire_faults(self) -> WireFaults:
        return self.faults

    def cmdlet(self, name: str) -> Cmdlet | None:
        return {"get-vm": self._get_vm, "stop-vm": self._stop_vm}.get(name.lower())

    def _find(self, inv: Invocation) -> dict[str, Any]:
        name = dict((k.lower(), v) for k, v in inv.named).get("name")
        if name not in self.vms:
            raise PSError(
                f'Hyper-V was unable to find a virtual machine with name "{name}".',
                error_id="InvalidParameter",
                category="InvalidArgument",
                target=str(name),
            )
        return self.vms[name]

    def _get_vm(self, inv: Invocation) -> list[Any]:
        with self.lock:
            self.calls.append(inv)
            if not inv.named:
                return [PSCustomObject(dict(vm)) for vm in self.vms.values()]
            return [PSCustomObject(dict(self._find(inv)))]

    def _stop_vm(self, inv: Invocation) -> list[Any]:
        with self.lock:
            self.calls.append(inv)
            vm = self._find(inv)
            if vm["State"] is VMState.Off:
                raise PSError(
                    f"The operation cannot be performed while the virtual machine '{vm['Name']}' is in "
                    "its current state (Off).",
                    error_id="InvalidState",
                    category="InvalidOperation",
                    target=vm["Name"],
                )
            vm["State"] = VMState.Off
            return []
