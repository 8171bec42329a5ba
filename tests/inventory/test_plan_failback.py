"""What `hvdr failback --plan` takes from the inventory: the plan's VMs away from home go back, those already home
are skipped and named, and a plan entirely at home is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvdr.errors import Conflict
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import declared_plan, failback_selection, plan_spec
from hvdr.protection import Endpoint
from hvdr.settings import Settings, load_settings
from hvdr.topology import default_topology

A1, A2 = Endpoint(site="site-a", host="hv-a1.site-a.lab.local"), Endpoint(site="site-a", host="hv-a2.site-a.lab.local")
B1, B2 = Endpoint(site="site-b", host="hv-b1.site-b.lab.local"), Endpoint(site="site-b", host="hv-b2.site-b.lab.local")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings({"HVDR_HOME": str(tmp_path / "home")})
    with session_for(settings) as session:
        apply_topology(session, default_topology())
    return settings


def test_vms_away_go_back_in_plan_order_and_those_home_are_skipped(settings: Settings) -> None:
    # db-01 and web-02 were failed over (they run at site-b and replicate home); the others never left.
    directions = {"db-01": (B1, A1), "web-02": (B2, A2), "app-01": (A1, B1)}
    with session_for(settings) as session:
        plan = declared_plan(session, "three-tier")
        away, home = failback_selection(session, plan, directions)
        spec = plan_spec(session, plan, directions, only=away)
    assert away == {"db-01", "web-02"}
    assert home == ["db-02", "app-01", "app-02", "app-03", "app-04", "web-01", "web-03", "web-04", "web-05", "web-06"]
    assert [(g.name, [(v.vm, v.source.host, v.target.host) for v in g.vms]) for g in spec.groups] == [
        ("databases", [("db-01", B1.host, A1.host)]),
        ("web", [("web-02", B2.host, A2.host)]),
    ]
    assert spec.groups[1].after[0].name == "switch-dns", "the plan's actions come along"


def test_a_plan_entirely_at_home_is_refused_in_one_line(settings: Settings) -> None:
    with session_for(settings) as session, pytest.raises(Conflict) as refused:
        failback_selection(session, declared_plan(session, "three-tier"), {"db-01": (A1, B1)})
    assert str(refused.value) == (
        "plan three-tier: every VM is already home (12 VMs on their declared hosts' sites); nothing to fail back"
    )


def test_a_vm_away_that_does_not_replicate_home_is_refused(settings: Settings) -> None:
    elsewhere = Endpoint(site="site-c", host="hv-c1.site-c.lab.local")
    with session_for(settings) as session, pytest.raises(Conflict, match=r"^plan three-tier: db-01 runs at site-b"):
        failback_selection(session, declared_plan(session, "three-tier"), {"db-01": (B1, elsewhere)})
