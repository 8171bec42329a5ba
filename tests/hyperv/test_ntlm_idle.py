"""A sealed NTLM channel outlives the host's idle-connection timeout (HTTP.sys drops the connection, and its
authentication with it): the driver authenticates again instead of sending a message the host cannot unseal."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from hvdr.hyperv import WinRMHyperVHost
from hvdr.hyperv import transport as transport_module
from hvdr.hyperv.errors import HyperVError
from hvdr.lab.runner import Lab
from hvdr.lab.wsman.auth import AuthPolicy
from tests.hyperv.conftest import A1, LabDrivers

IDLE_S = 0.4


@pytest.fixture
def drivers() -> Iterator[LabDrivers]:
    lab = Lab(speed=600, auth=AuthPolicy.windows_default(), idle_timeout_s=IDLE_S)
    with lab:
        drivers = LabDrivers(lab, None, [])
        yield drivers
        for opened in drivers.opened:
            opened.close()


def _idle_past_the_hosts_timeout(host: WinRMHyperVHost) -> None:
    assert host.get_vm("db-01").name == "db-01"
    time.sleep(IDLE_S * 3)  # the lab has closed the kept-alive connection


def test_the_driver_authenticates_again_after_the_host_dropped_the_connection(
    drivers: LabDrivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "IDLE_REAUTH_S", IDLE_S / 2)
    host = drivers.host(A1)
    _idle_past_the_hosts_timeout(host)
    assert host.get_vm("db-01").name == "db-01"


def test_without_it_the_resent_message_cannot_be_unsealed(drivers: LabDrivers, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the lab models: requests-ntlm authenticates the new connection and resends the old sealed body."""
    monkeypatch.setattr(transport_module, "IDLE_REAUTH_S", 3600.0)
    host = drivers.host(A1)
    _idle_past_the_hosts_timeout(host)
    with pytest.raises(HyperVError, match="HTTP 400"):
        host.get_vm("db-01")
