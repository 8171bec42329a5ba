"""The topology file format: the built-in default parses, and bad values are refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hvdr.errors import ConfigError
from hvdr.topology import Offline, Scheduled, default_topology, default_topology_path, load_topology, parse_topology


def test_default_topology_is_the_documented_estate() -> None:
    t = default_topology()
    assert [s.name for s in t.sites] == ["site-a", "site-b"]
    assert [h.fqdn for h in t.hosts] == [
        "hv-a1.site-a.lab.local",
        "hv-a2.site-a.lab.local",
        "hv-b1.site-b.lab.local",
        "hv-b2.site-b.lab.local",
    ]
    assert {v.site for v in t.vmm_servers} == {"site-a", "site-b"}
    assert len(t.vms) == 12 and {v.tier for v in t.vms} == {"db", "app", "web"}
    assert all(t.host(v.host) is not None and t.host(v.host).site == "site-a" for v in t.vms)  # type: ignore[union-attr]
    assert all(h.replica_server.enabled and h.replica_server.kerberos_port == 80 for h in t.hosts)
    (pairing,) = t.cloud_pairings
    policy = next(p for p in t.policies if p.name == pairing.policy)
    assert (pairing.primary_cloud, pairing.recovery_cloud, policy.copy_frequency_s) == ("cloud-a", "cloud-b", 300)
    assert t.network_mappings[0].test_network
    assert [g.name for g in t.recovery_plans[0].groups] == ["databases", "applications", "web"]
    assert t.host("hv-b2") is t.hosts[3]


def test_every_section_round_trips_through_yaml(tmp_path: Path) -> None:
    t = default_topology()
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(t.model_dump(mode="json")), encoding="utf-8")
    assert load_topology(path) == t


def test_initial_replication_methods_and_plan_actions_parse() -> None:
    data = yaml.safe_load(default_topology_path().read_text())
    data["policies"] = [
        {"name": "later", "initial_replication": {"method": "scheduled", "at": "2026-12-01T22:00:00Z"}},
        {
            "name": "media",
            "initial_replication": {"method": "offline", "export_path": "E:\\ir", "import_path": "F:\\ir"},
            "auth": {"type": "certificate", "certificate_thumbprint": "AB" * 20},
        },
    ]
    data["cloud_pairings"][0]["policy"] = "later"
    t = parse_topology(data)
    assert isinstance(t.policies[0].initial_replication, Scheduled)
    assert isinstance(t.policies[1].initial_replication, Offline)
    assert t.policies[1].auth.effective_port == 443
    kinds = [a.type for g in t.recovery_plans[0].groups for a in (*g.pre_actions, *g.post_actions)]
    assert sorted(kinds) == ["delay", "manual", "script"]


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"policies": [{"name": "p", "copy_frequency_s": 120}]}, "policies.0.copy_frequency_s"),
        ({"policies": [{"name": "p", "recovery_point_hours": 25}]}, "policies.0.recovery_point_hours"),
        ({"policies": [{"name": "p", "app_consistent_hours": 2}]}, "policies.0"),
        ({"policies": [{"name": "p", "auth": {"type": "certificate"}}]}, "policies.0.auth"),
        ({"version": 2}, "version"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_values_name_the_field(patch: dict[str, object], where: str) -> None:
    data = yaml.safe_load(default_topology_path().read_text())
    data.update(patch)
    with pytest.raises(ConfigError) as info:
        parse_topology(data, "t.yaml")
    assert info.value.message.startswith(f"t.yaml: {where}")


def test_unreadable_or_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read topology"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_topology(bad)
