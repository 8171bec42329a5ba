"""The worker's inventory for drills (:class:`hvdr.activities.drill.DrillBook`) and scheduled readiness checks
(:class:`hvdr.activities.readiness.CheckBook`)."""

from __future__ import annotations

from hvdr.drill import DrillRecord
from hvdr.inventory.db import session_for
from hvdr.inventory.drill import plan_groups, record_drill
from hvdr.inventory.readiness import check_request
from hvdr.inventory.testfailover import testfailover_spec
from hvdr.protection import Endpoint, ProtectionStatus
from hvdr.readiness import CheckRequest
from hvdr.settings import Settings, load_settings
from hvdr.testfailover import TestFailoverSpec


class InventoryDrills:
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> Settings:
        """The worker's settings, loaded when a drill first needs them (workers of tests that run no drill
        never read the inventory)."""
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def plan_groups(self, plan: str) -> tuple[int | None, list[tuple[str, list[str]]]]:
        with session_for(self.settings) as session:
            return plan_groups(session, plan)

    def test_spec(self, vm: str, status: ProtectionStatus) -> TestFailoverSpec:
        with session_for(self.settings) as session:
            return testfailover_spec(
                session,
                vm,
                Endpoint(site=status.primary_site, host=status.primary_host),
                Endpoint(site=status.replica_site, host=status.replica_host),
                policy=status.policy or None,
                keep_s=0.0,
                time_scale=self.settings.time_scale,
            )

    def check_request(self, check_id: str, cloud: str | None, site: str | None, certificate_days: int) -> CheckRequest:
        with session_for(self.settings) as session:
            return check_request(session, check_id, cloud=cloud, site=site, certificate_days=certificate_days)

    def record_drill(self, record: DrillRecord) -> None:
        with session_for(self.settings) as session:
            record_drill(session, record)
