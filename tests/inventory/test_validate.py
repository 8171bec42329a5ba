"""Thirty-odd ways a topology can be wrong, each rejected with a precise message at the right line."""

from __future__ import annotations

import pytest

from hvdr.inventory.validate import TopologyInvalid, is_dns_name, validate_text
from hvdr.topology import default_topology_path

BASE = default_topology_path().read_text(encoding="utf-8")

# (case id, old text, new text, expected message part, text on the reported line)
CASES: list[tuple[str, str, str, str, str]] = [
    ("yaml-syntax", "sites:\n", "sites: [\n", "not valid YAML", ""),
    ("unknown-field", "    description: Primary datacenter", "    descripton: Primary", "unknown field", "descripton"),
    (
        "missing-required",
        "  - fqdn: hv-a2.site-a.lab.local\n",
        "  - cloud_only: x\n",
        "hosts[1].fqdn: required field 'fqdn' is missing",
        "cloud_only",
    ),
    ("wrong-type", "    copy_frequency_s: 300 ", "    copy_frequency_s: often ", "copy_frequency_s", "often"),
    ("bad-frequency", "    copy_frequency_s: 300 ", "    copy_frequency_s: 60 ", "copy_frequency_s", "60"),
    (
        "history-range",
        "recovery_point_hours: 4 ",
        "recovery_point_hours: 25 ",
        "recovery_point_hours",
        "recovery_point_hours",
    ),
    ("vss-range", "app_consistent_hours: 1 ", "app_consistent_hours: 13 ", "app_consistent_hours", "app_consistent"),
    (
        "vss-needs-history",
        "recovery_point_hours: 4 ",
        "recovery_point_hours: 0 ",
        "app_consistent_hours needs recovery_point_hours",
        "name: standard-5min",
    ),
    (
        "cert-without-thumbprint",
        "auth: {type: kerberos, port: 80}",
        "auth: {type: certificate}",
        "certificate_thumbprint",
        "auth:",
    ),
    ("duplicate-site", "  - name: site-b\n", "  - name: site-a\n", "duplicate name 'site-a'", "site-a"),
    (
        "duplicate-host",
        "  - fqdn: hv-a2.site-a.lab.local",
        "  - fqdn: hv-a1.site-a.lab.local",
        "duplicate name",
        "hv-a1",
    ),
    ("duplicate-vm", "{name: db-02,", "{name: db-01,", "duplicate name 'db-01'", "db-01"),
    ("duplicate-cloud", "  - name: cloud-b\n", "  - name: cloud-a\n", "duplicate name 'cloud-a'", "cloud-a"),
    (
        "duplicate-policy",
        "policies:\n",
        "policies:\n  - {name: standard-5min}\n",
        "duplicate name 'standard-5min'",
        "standard-5min",
    ),
    (
        "vmm-unknown-site",
        "    site: site-b\n    credential: lab-admin\n\n# A cloud",
        "    site: site-z\n    credential: lab-admin\n\n# A cloud",
        "unknown site 'site-z'",
        "site-z",
    ),
    ("vmm-ip-name", "  - name: vmm-b.site-b.lab.local\n", "  - name: 10.2.0.5\n", "is not a DNS name", "10.2.0.5"),
    (
        "cloud-unknown-site",
        "  - name: cloud-b\n    site: site-b",
        "  - name: cloud-b\n    site: site-q",
        "unknown site 'site-q'",
        "site-q",
    ),
    (
        "cloud-unknown-vmm",
        "    vmm_server: vmm-b.site-b.lab.local",
        "    vmm_server: vmm-z.site-b.lab.local",
        "unknown VMM server",
        "vmm-z",
    ),
    (
        "cloud-vmm-other-site",
        "    vmm_server: vmm-b.site-b.lab.local",
        "    vmm_server: vmm-a.site-a.lab.local",
        "manages site site-a, not the cloud's site site-b",
        "vmm-a",
    ),
    (
        "host-unknown-site",
        "  - fqdn: hv-b2.site-b.lab.local\n    site: site-b",
        "  - fqdn: hv-b2.site-b.lab.local\n    site: site-x",
        "unknown site 'site-x'",
        "site-x",
    ),
    (
        "host-unknown-cloud",
        "  - fqdn: hv-b2.site-b.lab.local\n    site: site-b\n    cloud: cloud-b",
        "  - fqdn: hv-b2.site-b.lab.local\n    site: site-b\n    cloud: cloud-x",
        "unknown cloud 'cloud-x'",
        "cloud-x",
    ),
    (
        "host-cloud-other-site",
        "  - fqdn: hv-b2.site-b.lab.local\n    site: site-b\n    cloud: cloud-b",
        "  - fqdn: hv-b2.site-b.lab.local\n    site: site-b\n    cloud: cloud-a",
        "cloud cloud-a is in site site-a",
        "cloud-a",
    ),
    (
        "host-ip-not-dns",
        "  - fqdn: hv-b2.site-b.lab.local",
        "  - fqdn: 10.2.0.22",
        "not a fully qualified DNS name",
        "10.2.0.22",
    ),
    (
        "host-short-name",
        "  - fqdn: hv-b2.site-b.lab.local",
        "  - fqdn: hv-b2",
        "not a fully qualified DNS name",
        "hv-b2",
    ),
    (
        "certificate-without-client-cert",
        "winrm: {transport: ntlm}",
        "winrm: {transport: certificate}",
        "certificate transport needs client_cert and client_key",
        "certificate",
    ),
    (
        "client-cert-on-ntlm",
        "winrm: {transport: ntlm}",
        "winrm:\n      transport: ntlm\n      client_cert: /etc/hvdr/op.pem\n      client_key: /etc/hvdr/op.key",
        "client certificates are only for transport: certificate (this host uses ntlm)",
        "client_cert",
    ),
    (
        "certificate-over-http",
        "winrm: {transport: ntlm}",
        "winrm: {transport: certificate, url: 'http://hv-a1.site-a.lab.local:5985/wsman', insecure: true, "
        "client_cert: op.pem, client_key: op.key}",
        "certificate transport needs https://",
        "http://",
    ),
    (
        "ca-cert-over-http",
        "winrm: {transport: ntlm}",
        "winrm:\n      url: 'http://hv-a1.site-a.lab.local:5985/wsman'\n      insecure: true\n"
        "      ca_cert: /etc/hvdr/corp-ca.pem",
        "ca_cert: only used over https://",
        "ca_cert",
    ),
    ("http-without-insecure", "    fqdn: hv-a1.site-a.lab.local\n", "", "", ""),  # replaced below
    ("bad-winrm-url", "", "", "", ""),  # replaced below
    (
        "vm-unknown-host",
        "{name: web-06, host: hv-a2.site-a.lab.local",
        "{name: web-06, host: hv-a9.site-a.lab.local",
        "unknown host 'hv-a9.site-a.lab.local'",
        "web-06",
    ),
    (
        "vm-unknown-switch",
        "disks: [{name: app-04-os.vhdx, size_gb: 60}], network_adapters: [{switch: vSwitch-Prod}]",
        "disks: [{name: app-04-os.vhdx, size_gb: 60}], network_adapters: [{switch: vSwitch-Nope}]",
        "has no switch 'vSwitch-Nope'",
        "vSwitch-Nope",
    ),
    (
        "vm-duplicate-disk",
        "disks: [{name: web-05-os.vhdx, size_gb: 40}]",
        "disks: [{name: web-05-os.vhdx, size_gb: 40}, {name: web-05-os.vhdx, size_gb: 10}]",
        "duplicate disk",
        "web-05",
    ),
    (
        "disk-size-zero",
        "{name: web-04-os.vhdx, size_gb: 40}",
        "{name: web-04-os.vhdx, size_gb: 0}",
        "size_gb",
        "web-04",
    ),
    (
        "pairing-unknown-cloud",
        "{primary_cloud: cloud-a, recovery_cloud: cloud-b",
        "{primary_cloud: cloud-z, recovery_cloud: cloud-b",
        "unknown cloud 'cloud-z'",
        "cloud-z",
    ),
    (
        "pairing-unknown-recovery",
        "{primary_cloud: cloud-a, recovery_cloud: cloud-b",
        "{primary_cloud: cloud-a, recovery_cloud: cloud-y",
        "unknown cloud 'cloud-y'",
        "cloud-y",
    ),
    ("pairing-unknown-policy", "policy: standard-5min}", "policy: gold}", "unknown policy 'gold'", "gold"),
    (
        "pairing-same-site",
        "{primary_cloud: cloud-a, recovery_cloud: cloud-b",
        "{primary_cloud: cloud-a, recovery_cloud: cloud-a",
        "both in site site-a",
        "primary_cloud",
    ),
    (
        "cloud-in-two-pairings",
        "  - {primary_cloud: cloud-a, recovery_cloud: cloud-b, policy: standard-5min}\n",
        "  - {primary_cloud: cloud-a, recovery_cloud: cloud-b, policy: standard-5min}\n"
        "  - {primary_cloud: cloud-b, recovery_cloud: cloud-a, policy: standard-5min}\n",
        "is already in cloud_pairings[0]; a cloud belongs to at most one pairing",
        "primary_cloud: cloud-b",
    ),
    (
        "mapping-unknown-site",
        "source_site: site-a, target_site: site-b}",
        "source_site: site-a, target_site: site-c}",
        "unknown site 'site-c'",
        "site-c",
    ),
    (
        "mapping-unknown-target-switch",
        "target_network: vSwitch-DR,",
        "target_network: vSwitch-Nowhere,",
        "no host in site site-b has a switch 'vSwitch-Nowhere'",
        "vSwitch-Nowhere",
    ),
    ("plan-unknown-vm", "vms: [db-01, db-02]", "vms: [db-01, db-09]", "unknown VM 'db-09'", "db-09"),
    (
        "plan-vm-in-two-groups",
        "vms: [app-01, app-02, app-03, app-04]",
        "vms: [app-01, app-02, app-03, db-01]",
        "VM 'db-01' is already in group 'databases'",
        "db-01",
    ),
    (
        "plan-unknown-action-host",
        "host: hv-b1.site-b.lab.local,\n",
        "host: hv-b7.site-b.lab.local,\n",
        "unknown host 'hv-b7.site-b.lab.local'",
        "hv-b7",
    ),
    (
        "plan-unknown-cloud",
        "    recovery_cloud: cloud-b\n    rto_target_s",
        "    recovery_cloud: cloud-q\n    rto_target_s",
        "unknown cloud 'cloud-q'",
        "cloud-q",
    ),
    ("plan-bad-on-failure", "on_failure: {planned: stop", "on_failure: {planned: panic", "on_failure", "panic"),
    ("plan-empty-group", "vms: [db-01, db-02]", "vms: []", "has no VMs", "vms: []"),
    (
        "action-unknown-type",
        "{type: delay, name: let-databases-settle, seconds: 60}",
        "{type: reboot, name: let-databases-settle, seconds: 60}",
        "pre_actions[0]",
        "reboot",
    ),
    (
        "action-name-twice-in-a-plan",
        "{type: delay, name: let-databases-settle, seconds: 60}",
        "{type: delay, name: Check-SQL, seconds: 60}",
        "plan 'three-tier' already has an action named 'Check-SQL' (in group 'databases')",
        "Check-SQL",
    ),
    (
        "action-script-too-long",
        "script: 'Get-VM -Name db-01 | Select-Object Name, State'",
        "script: '" + "Get-VM; " * 400 + "'",
        "a script action holds at most 2900 characters (this one has 3200)",
        "script:",
    ),
    (
        "action-script-timeout-zero",
        "timeout_s: 120, idempotent: true}",
        "timeout_s: 0, idempotent: true}",
        "timeout_s",
        "timeout_s: 0",
    ),
    (
        "action-idempotent-not-a-bool",
        "idempotent: true}",
        "idempotent: maybe}",
        "idempotent",
        "idempotent: maybe",
    ),
    ("unsupported-version", "version: 1\n", "version: 7\n", "unsupported topology version 7", "version: 7"),
]


def _case(old: str, new: str) -> str:
    assert old in BASE, f"the base topology no longer contains {old!r}"
    return BASE.replace(old, new, 1)


def _special(case_id: str) -> str:
    anchor = "  - fqdn: hv-a1.site-a.lab.local\n    site: site-a\n    cloud: cloud-a\n    credential: lab-admin\n"
    anchor += "    winrm: {transport: ntlm}\n"
    assert anchor in BASE
    url = "http://hv-a1.site-a.lab.local:5985/wsman" if case_id == "http-without-insecure" else "winrm://hv-a1"
    return BASE.replace(anchor, anchor.replace("{transport: ntlm}", f"{{transport: ntlm, url: '{url}'}}"), 1)


@pytest.mark.parametrize(("case_id", "old", "new", "message", "on_line"), CASES, ids=[c[0] for c in CASES])
def test_invalid_topology_is_rejected_precisely(case_id: str, old: str, new: str, message: str, on_line: str) -> None:
    if case_id == "http-without-insecure":
        text, message, on_line = _special(case_id), "plain HTTP sends credentials unprotected", "http://"
    elif case_id == "bad-winrm-url":
        text, message, on_line = _special(case_id), "is not an http(s)://host[:port]/wsman URL", "winrm://"
    else:
        text = _case(old, new)
    with pytest.raises(TopologyInvalid) as caught:
        validate_text(text, "t.yaml")
    problems = caught.value.problems
    matching = [p for p in problems if message in p.message]
    assert matching, [str(p) for p in problems]
    problem = matching[0]
    assert problem.line is not None
    assert str(problem).startswith(f"t.yaml:{problem.line}: ")
    if on_line:
        assert on_line in text.splitlines()[problem.line - 1], (str(problem), text.splitlines()[problem.line - 1])


def test_every_problem_is_reported_at_once() -> None:
    text = _case("policy: standard-5min}", "policy: gold}").replace("vms: [db-01, db-02]", "vms: [db-01, db-09]")
    with pytest.raises(TopologyInvalid) as caught:
        validate_text(text, "t.yaml")
    assert len(caught.value.problems) == 2
    assert str(caught.value).startswith("2 problems in the topology; nothing was changed:")


def test_the_cases_are_distinct() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("name", ["hv-a1.site-a.lab.local", "HV01.corp.example.com", "host"])
def test_dns_names(name: str) -> None:
    assert is_dns_name(name)


@pytest.mark.parametrize("name", ["10.0.0.1", "::1", "bad_name.example.com", "-lead.example.com", "1.2.3"])
def test_not_dns_names(name: str) -> None:
    assert not is_dns_name(name)


def test_tls_settings_for_real_hosts_are_accepted() -> None:
    text = _case(
        "winrm: {transport: ntlm}",
        "winrm: {transport: certificate, url: 'https://hv-a1.site-a.lab.local:5986/wsman', "
        "ca_cert: /etc/hvdr/corp-ca.pem, client_cert: /etc/hvdr/op.pem, client_key: /etc/hvdr/op.key}",
    )
    topology = validate_text(text, "t.yaml")
    winrm = topology.host("hv-a1.site-a.lab.local").winrm
    assert (winrm.ca_cert, winrm.client_cert, winrm.client_key) == (
        "/etc/hvdr/corp-ca.pem",
        "/etc/hvdr/op.pem",
        "/etc/hvdr/op.key",
    )


def test_every_winrm_problem_of_a_host_is_reported_at_once() -> None:
    text = _case(
        "winrm: {transport: ntlm}",
        "winrm: {transport: certificate, url: 'http://hv-a1.site-a.lab.local:5985/wsman', ca_cert: ca.pem}",
    )
    with pytest.raises(TopologyInvalid) as caught:
        validate_text(text, "t.yaml")
    messages = [p.message for p in caught.value.problems]
    for expected in (
        "certificate transport needs client_cert and client_key",
        "plain HTTP sends credentials unprotected",
        "certificate transport needs https://",
        "ca_cert: only used over https://",
    ):
        assert any(expected in m for m in messages), (expected, messages)
