"""The estate report (``hvdr report estate``): per protected VM its RPO history, health, last successful drill and
readiness, on one page.

Where each column comes from:

- **RPO history**: the VM's primary host monitor (``monitor/<host>``, query ``rpo_history``) keeps the peak RPO per
  15 minutes of host time for the last 24 hours (:class:`hvdr.monitor.RpoSeries`); where no monitor answers, the
  samples the VM's protection run kept (its last decisions, fewer).
- **health**: ``hvdr status`` (the protection run's status, with the monitor's live reading).
- **last successful drill**: the inventory's runs table, newest successful drill of a plan that holds the VM.
- **readiness**: a readiness check (``hvdr check``) run for the report: the findings about the VM (its own, and its
  hosts'), and those about nothing one VM holds (a plan, a recovery host) listed for the estate.

:func:`assemble` is pure, so it is tested without Temporal.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from hvdr.payloads import Durable
from hvdr.protection import ProtectionStatus
from hvdr.readiness import CheckReport, Finding, Severity, about_a_vm, findings_about


class RpoPoint(Durable):
    at: datetime
    """Host time (the lab's clock runs faster than the wall's)."""
    rpo_s: float


class DrillMark(Durable):
    plan: str
    at: datetime
    """When the drill finished."""


class EstateVM(Durable):
    vm: str
    phase: str
    primary_site: str = ""
    primary_host: str = ""
    replica_host: str = ""
    replication_state: str | None = None
    health: str | None = None
    rpo_s: float | None = None
    rpo_threshold_s: int | None = None
    rpo_history: list[RpoPoint] = Field(default_factory=list)
    rpo_history_from: str = "none"
    """``monitor`` (peak per 15 min of host time), ``protection run (why the monitor did not answer)`` (its
    decisions' samples) or ``none``."""
    open_alerts: list[str] = Field(default_factory=list)
    last_drill: DrillMark | None = None
    findings: list[Finding] = Field(default_factory=list)
    checked: bool = False

    @property
    def readiness(self) -> str:
        """ready, warnings, not ready, or not checked."""
        if not self.checked:
            return "not checked"
        if any(f.severity is Severity.ERROR for f in self.findings):
            return "not ready"
        return "warnings" if self.findings else "ready"


class EstateReport(Durable):
    generated_at: datetime
    vms: list[EstateVM]
    check_id: str | None = None
    checked_at: datetime | None = None
    check_error: str | None = None
    """Why no readiness check ran (the VMs' readiness is then ``not checked``)."""
    estate_findings: list[Finding] = Field(default_factory=list)
    """Findings about no single VM (a plan's drill, a host's reads, switches, storage or certificate)."""

    @property
    def ready(self) -> bool | None:
        if self.check_id is None:
            return None
        return not any(
            f.severity is Severity.ERROR for f in [*self.estate_findings, *(f for v in self.vms for f in v.findings)]
        )


def assemble(
    statuses: list[ProtectionStatus],
    histories: dict[str, tuple[str, list[RpoPoint]]],
    thresholds: dict[str, int],
    drills: dict[str, DrillMark],
    check: CheckReport | None,
    generated_at: datetime,
    check_error: str | None = None,
) -> EstateReport:
    """One row per protected VM. ``histories``, ``thresholds`` and ``drills`` are keyed by VM name in lower case;
    a finding belongs to a VM when its subject is the VM (or ``<plan>/<vm>``) or one of its two hosts; the findings
    about no VM (hosts, plans) are the estate's as well."""
    vms: list[EstateVM] = []
    findings = check.findings if check is not None else []
    for status in sorted(statuses, key=lambda s: s.vm.lower()):
        key = status.vm.lower()
        source, history = histories.get(key, ("none", []))
        mine = findings_about(status.vm, [status.primary_host, status.replica_host], findings)
        vms.append(
            EstateVM(
                vm=status.vm,
                phase=status.phase.value,
                primary_site=status.primary_site,
                primary_host=status.primary_host,
                replica_host=status.replica_host,
                replication_state=status.replication_state.value if status.replication_state else None,
                health=status.health.value if status.health else None,
                rpo_s=status.rpo_s,
                rpo_threshold_s=thresholds.get(key),
                rpo_history=history,
                rpo_history_from=source,
                open_alerts=[f"{a.severity.value}: {a.message}" for a in status.open_alerts],
                last_drill=drills.get(key),
                findings=mine,
                checked=check is not None,
            )
        )
    return EstateReport(
        generated_at=generated_at,
        vms=vms,
        check_id=check.check_id if check is not None else None,
        checked_at=check.checked_at if check is not None else None,
        check_error=check_error,
        estate_findings=[f for f in findings if not about_a_vm(f, {v.vm.lower() for v in vms})],
    )
