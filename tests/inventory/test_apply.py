"""apply / export on SQLite and PostgreSQL: every object kind, idempotent, lossless, transactional."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvdr.inventory import queries
from hvdr.inventory.apply import apply_topology, plan_changes
from hvdr.inventory.db import session_for
from hvdr.inventory.export import export_topology, topology_yaml
from hvdr.inventory.validate import TopologyInvalid, validate_text
from hvdr.settings import Settings, load_settings
from hvdr.topology import default_topology, default_topology_path


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings({"HVDR_HOME": str(tmp_path / "home"), "HVDR_DATABASE_URL": database_url})


def test_every_kind_applies_exports_and_reapplies_with_no_change(settings: Settings) -> None:
    topology = validate_text(default_topology_path().read_text(), "default_topology.yaml")
    with session_for(settings) as session:
        changes = apply_topology(session, topology)
    kinds = {c.kind for c in changes}
    assert kinds == {
        "site",
        "VMM server",
        "cloud",
        "host",
        "policy",
        "cloud pairing",
        "network mapping",
        "VM",
        "recovery plan",
    }
    assert all(c.action == "create" for c in changes)
    with session_for(settings) as session:
        assert plan_changes(session, topology) == []
        exported = topology_yaml(export_topology(session))
    again = validate_text(exported, "exported.yaml")
    with session_for(settings) as session:
        assert apply_topology(session, again) == []
        assert topology_yaml(export_topology(session)) == exported
        clouds = {c["name"]: c for c in queries.clouds(session)}
        assert clouds["cloud-a"]["paired_with"] == "cloud-b" and clouds["cloud-a"]["role"] == "primary"
        assert len(queries.vms(session, cloud="cloud-a")) == 12
        plan = queries.plan(session, "three-tier")
        assert [g.name for g in plan.groups] == ["databases", "applications", "web"]


def test_changes_are_reported_by_field_and_deletions_happen(settings: Settings) -> None:
    topology = default_topology()
    with session_for(settings) as session:
        apply_topology(session, topology)
    edited = topology.model_copy(deep=True)
    edited.policies[0].copy_frequency_s = 30
    edited.policies[0].rpo_alert_threshold_s = 120
    edited.recovery_plans = []
    with session_for(settings) as session:
        changes = [str(c) for c in apply_topology(session, edited)]
    assert "~ policy standard-5min (copy_frequency_s, rpo_alert_threshold_s)" in changes
    assert "- recovery plan three-tier" in changes
    assert len(changes) == 2
    with session_for(settings) as session:
        assert queries.policy(session, "standard-5min").copy_frequency_s == 30
        assert queries.plans(session) == []


def test_dry_run_changes_nothing(settings: Settings) -> None:
    with session_for(settings) as session:
        assert len(plan_changes(session, default_topology())) == 26
    with session_for(settings) as session:
        assert queries.sites(session) == []


def test_an_invalid_file_changes_nothing(settings: Settings) -> None:
    with session_for(settings) as session:
        apply_topology(session, default_topology())
        before = topology_yaml(export_topology(session))
    broken = default_topology_path().read_text().replace("policy: standard-5min}", "policy: gold}")
    with pytest.raises(TopologyInvalid, match="unknown policy 'gold'"):
        validate_text(broken)
    with session_for(settings) as session:
        assert topology_yaml(export_topology(session)) == before


def test_protection_spec_from_the_inventory(settings: Settings) -> None:
    from hvdr.inventory.protection import protection_spec, vms_to_protect

    with session_for(settings) as session:
        apply_topology(session, default_topology())
        names = vms_to_protect(session, None, "cloud-a")
        specs = {name: protection_spec(session, name) for name in names}
    assert len(specs) == 12
    db = specs["db-01"]
    assert (db.primary.site, db.primary.host, db.replica.site) == ("site-a", "hv-a1.site-a.lab.local", "site-b")
    assert db.policy.name == "standard-5min" and db.recovery_cloud == "cloud-b"
    assert db.replicated_bytes == 260 * 2**30
    web = specs["web-06"]
    assert web.excluded_vhd_paths == ["web-06-pagefile.vhdx"] and web.replicated_bytes == 40 * 2**30
    assert {s.replica.host for s in specs.values()} == {"hv-b1.site-b.lab.local", "hv-b2.site-b.lab.local"}
