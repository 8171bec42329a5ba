"""One host-name rule everywhere names are matched (hvdr.topology.same_host): case-insensitive, a trailing dot
or not, a short name for the FQDN whose first label it is — as Windows resolves them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.validate import validate_text
from hvdr.lab.runner import Lab
from hvdr.settings import load_settings
from hvdr.topology import default_topology_path, same_host
from hvdr.worker.hosts import HostDirectory


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("hv01.corp.example", "HV01.Corp.Example", True),
        ("hv01.corp.example.", "hv01.corp.example", True),
        ("HV01", "hv01.corp.example", True),
        ("hv01.corp.example", "hv01", True),
        ("hv01.corp.example", "hv01.other.example", False),  # two FQDNs: the whole name decides
        ("hv01", "hv02.corp.example", False),
        ("hv01", "hv010", False),
        ("", "hv01", False),
    ],
)
def test_the_host_name_rule(a: str, b: str, same: bool) -> None:
    assert same_host(a, b) is same


def test_a_host_applied_as_written_is_reached_under_the_name_the_lab_serves(
    hvdr_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = "HV-A1.Site-A.Lab.Local."
    text = (
        default_topology_path()
        .read_text(encoding="utf-8")
        .replace("fqdn: hv-a1.site-a.lab.local", f"fqdn: '{written}'")
    )
    assert written in text
    monkeypatch.setenv("HVDR_LAB", "1")
    settings = load_settings()
    with session_for(settings) as session:
        apply_topology(session, validate_text(text))
    with Lab(speed=1) as lab:
        lab.write_endpoints(settings.lab_endpoints)
        directory = HostDirectory(settings)
        try:
            for name in (written, "hv-a1.site-a.lab.local", "HV-A1"):
                assert directory.host(name).get_vm("db-01").name == "db-01", name
        finally:
            directory.close()
