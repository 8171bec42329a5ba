"""The worker's host directory turns a topology's WinRM settings into a validated connection."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hvdr.errors import ConfigError
from hvdr.hyperv import WinRMHyperVHost
from hvdr.hyperv.connection import TransportKind
from hvdr.hyperv.errors import AuthenticationFailed
from hvdr.lab.runner import Lab
from hvdr.lab.wsman.auth import AuthPolicy
from hvdr.lab.wsman.tls import generate_certificate
from hvdr.settings import load_settings
from hvdr.topology import WinRMEndpoint
from hvdr.worker.hosts import HostDirectory

A1 = "hv-a1.site-a.lab.local"


@pytest.fixture
def https_lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(speed=1, https=True, cert_dir=tmp_path / "tls") as lab:
        yield lab


@pytest.fixture
def directory(hvdr_home: Path, https_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> HostDirectory:
    ep = _a1(https_lab)
    monkeypatch.setenv("HVDR_CREDENTIAL_OPS_USERNAME", ep["username"])
    monkeypatch.setenv("HVDR_CREDENTIAL_OPS_PASSWORD", ep["password"])
    return HostDirectory(load_settings())


def _a1(lab: Lab) -> dict[str, Any]:
    return next(h for h in lab.endpoints["hosts"] if h["name"] == A1)


def test_a_host_is_validated_against_the_ca_cert_the_topology_names(directory: HostDirectory, https_lab: Lab) -> None:
    url, ca = _a1(https_lab)["url"], https_lab.endpoints["ca_cert"]
    trusted = WinRMHyperVHost.connect(
        directory.connection(A1, WinRMEndpoint(url=url, transport="ssl", ca_cert=ca), "ops")
    )
    untrusted = WinRMHyperVHost.connect(directory.connection(A1, WinRMEndpoint(url=url, transport="ssl"), "ops"))
    try:
        assert trusted.get_vm("db-01").name == "db-01"
        with pytest.raises(AuthenticationFailed, match="certificate could not be verified"):
            untrusted.get_vm("db-01")  # certifi's public CAs do not include the lab's
    finally:
        trusted.close()
        untrusted.close()


def test_files_the_topology_names_must_exist_on_the_worker(directory: HostDirectory, tmp_path: Path) -> None:
    missing = tmp_path / "corp-ca.pem"
    winrm = WinRMEndpoint(url=f"https://{A1}:5986/wsman", ca_cert=str(missing))
    with pytest.raises(ConfigError) as caught:
        directory.connection(A1, winrm, "ops")
    assert str(caught.value) == (
        f"host {A1}: winrm.ca_cert {missing} is not a file on this worker; copy it here or fix the path"
    )


def test_certificate_transport_carries_the_client_certificate_and_no_password(
    directory: HostDirectory, tmp_path: Path
) -> None:
    cert, key = generate_certificate(tmp_path, "hvdr-operator", stem="operator", client=True)
    winrm = WinRMEndpoint(
        url=f"https://{A1}:5986/wsman", transport="certificate", client_cert=str(cert), client_key=str(key)
    )
    connection = directory.connection(A1, winrm, None)
    assert connection.endpoint.transport is TransportKind.CERTIFICATE
    assert (connection.endpoint.client_cert_pem, connection.endpoint.client_key_pem) == (cert, key)
    assert connection.credential is None


async def test_an_activity_fails_at_once_on_a_missing_file_not_after_retries(hvdr_home: Path, tmp_path: Path) -> None:
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from hvdr.activities.discovery import DiscoveryActivities
    from hvdr.inventory.apply import apply_topology
    from hvdr.inventory.db import session_for
    from hvdr.inventory.validate import validate_text
    from hvdr.topology import default_topology_path

    missing = tmp_path / "corp-ca.pem"
    text = default_topology_path().read_text(encoding="utf-8")
    vmm_a = "  - name: vmm-a.site-a.lab.local\n    site: site-a\n    credential: lab-admin\n"
    assert vmm_a in text
    text = text.replace(vmm_a, f"{vmm_a}    winrm: {{ca_cert: '{missing}'}}\n", 1)
    settings = load_settings()
    with session_for(settings) as session:
        apply_topology(session, validate_text(text))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(DiscoveryActivities(HostDirectory(settings)).discover_site, "site-a")
    assert caught.value.type == "ConfigError" and caught.value.non_retryable
    assert f"winrm.ca_cert {missing} is not a file on this worker" in caught.value.message


def _set_password(home: Path, username: str, password: str, bump: int) -> None:
    """Rotate the ``ops`` credential in the worker's credentials file (mtime moved on, as an edit does)."""
    credentials = home / "credentials.toml"
    home.mkdir(parents=True, exist_ok=True)
    credentials.write_text(f"[ops]\nusername = '{username}'\npassword = '{password}'\n", encoding="utf-8")
    credentials.chmod(0o600)
    stat = credentials.stat()
    os.utime(credentials, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def _apply_a1(winrm: str) -> None:
    """Apply the default topology with hv-a1 on credential ``ops`` and the given ``winrm`` line."""
    from hvdr.inventory.apply import apply_topology
    from hvdr.inventory.db import session_for
    from hvdr.inventory.validate import validate_text
    from hvdr.topology import default_topology_path

    old = "    credential: lab-admin\n    winrm: {transport: ntlm}\n"
    text = default_topology_path().read_text(encoding="utf-8").replace(old, f"    credential: ops\n{winrm}", 1)
    with session_for(load_settings()) as session:
        apply_topology(session, validate_text(text))


def _rotate_wrong_then_right(home: Path, directory: HostDirectory, ep: dict[str, Any]) -> None:
    """A rotated password the host does not take is refused (401); the right one works without a restart."""
    _set_password(home, ep["username"], "rotated-but-wrong", 2)
    with pytest.raises(AuthenticationFailed, match="HTTP 401"):
        directory.host(A1).get_vm("db-01")
    _set_password(home, ep["username"], ep["password"], 4)
    assert directory.host(A1).get_vm("db-01").name == "db-01"


def test_a_host_gets_a_new_driver_when_its_settings_or_password_change(hvdr_home: Path, https_lab: Lab) -> None:
    ep = _a1(https_lab)
    ca = https_lab.endpoints["ca_cert"]
    _set_password(hvdr_home, ep["username"], ep["password"], 0)
    _apply_a1(f"    winrm: {{url: '{ep['url']}', transport: ssl, ca_cert: '{ca}'}}\n")
    directory = HostDirectory(load_settings())
    try:
        first = directory.host(A1)
        assert first.get_vm("db-01").name == "db-01"
        assert directory.host(A1) is first  # nothing changed: the same driver, its shells reused

        _rotate_wrong_then_right(hvdr_home, directory, ep)

        _apply_a1(f"    winrm: {{url: '{ep['url']}', transport: ssl}}\n")  # the CA dropped from the topology
        with pytest.raises(AuthenticationFailed, match="certificate could not be verified"):
            directory.host(A1).get_vm("db-01")
        assert first.get_vm("db-01").name == "db-01"  # a driver already handed out keeps working
    finally:
        directory.close()


@pytest.mark.parametrize("https", [False, True], ids=["http-sealed", "https"])
def test_ntlm_end_to_end_good_bad_and_rotated_password(hvdr_home: Path, tmp_path: Path, https: bool) -> None:
    """hvdr's default transport against hosts as Windows sets them up (Negotiate only, AllowUnencrypted=false):
    NTLM with sealed messages over HTTP, NTLM with channel binding over HTTPS."""
    with Lab(speed=1, https=https, cert_dir=tmp_path / "tls", auth=AuthPolicy.windows_default()) as lab:
        ep = _a1(lab)
        assert (ep["transport"], ep["auth"], ep["allow_unencrypted"]) == ("ntlm", ["negotiate"], False)
        tls = f"ca_cert: '{lab.endpoints['ca_cert']}'" if https else "insecure: true"
        _set_password(hvdr_home, ep["username"], ep["password"], 0)
        _apply_a1(f"    winrm: {{url: '{ep['url']}', transport: ntlm, {tls}}}\n")
        directory = HostDirectory(load_settings())
        try:
            first = directory.host(A1)
            assert first.get_vm("db-01").name == "db-01"
            assert [vm.name for vm in first.list_vms()] == [vm.name for vm in directory.host(A1).list_vms()]

            _rotate_wrong_then_right(hvdr_home, directory, ep)
            assert first.get_vm("db-01").name == "db-01"  # its connection stays authenticated
        finally:
            directory.close()


def test_a_stale_lab_file_does_not_redirect_a_host(
    hvdr_home: Path, https_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lab's endpoints file left behind (here: one still serving) names hv-a1; a worker not told to use the lab
    reaches hv-a1 where the inventory says, with the credential its own store holds."""
    settings = load_settings()
    https_lab.write_endpoints(settings.lab_endpoints)
    monkeypatch.setenv("HVDR_CREDENTIAL_OPS_USERNAME", "corp\\svc-hvdr")
    monkeypatch.setenv("HVDR_CREDENTIAL_OPS_PASSWORD", "real-secret")
    connection = HostDirectory(settings).connection(A1, WinRMEndpoint(), "ops")
    assert connection.endpoint.url == f"https://{A1}:5986/wsman"
    assert connection.endpoint.transport is TransportKind.NTLM
    assert connection.credential is not None and connection.credential.username == "corp\\svc-hvdr"

    told = HostDirectory(settings.model_copy(update={"lab": True})).connection(A1, WinRMEndpoint(), "ops")
    assert told.endpoint.url == _a1(https_lab)["url"]
    assert told.credential is not None and told.credential.username == _a1(https_lab)["username"]


def test_a_worker_told_to_use_a_windows_like_lab_speaks_ntlm_to_it(
    hvdr_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hvdr.inventory.apply import apply_topology
    from hvdr.inventory.db import session_for
    from hvdr.topology import default_topology

    monkeypatch.setenv("HVDR_LAB", "1")
    settings = load_settings()
    with session_for(settings) as session:
        apply_topology(session, default_topology())
    with Lab(speed=1, auth=AuthPolicy.windows_default()) as lab:
        lab.write_endpoints(settings.lab_endpoints)
        directory = HostDirectory(settings)
        try:
            assert directory.connection(A1, WinRMEndpoint(), None).endpoint.transport is TransportKind.NTLM
            assert directory.host(A1).get_vm("db-01").name == "db-01"
        finally:
            directory.close()
