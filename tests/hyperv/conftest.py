"""The in-process lab (``hvdr.lab.runner.Lab``) served over real WinRM, and drivers connected to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hvdr.hyperv import HostConnection, WinRMHyperVHost, WinRMVMMServer
from hvdr.hyperv.connection import Credential, HostEndpoint
from hvdr.lab.runner import Lab
from hvdr.lab.wsman.auth import AuthPolicy
from hvdr.topology import Topology, default_topology

A1, A2 = "hv-a1.site-a.lab.local", "hv-a2.site-a.lab.local"
B1, B2 = "hv-b1.site-b.lab.local", "hv-b2.site-b.lab.local"
VMM_A = "vmm-a.site-a.lab.local"


@dataclass
class LabDrivers:
    lab: Lab
    ca_path: Path | None
    opened: list[WinRMHyperVHost | WinRMVMMServer]

    def endpoint(self, name: str) -> dict[str, Any]:
        return next(h for h in self.lab.endpoints["hosts"] if h["name"] == name)

    def connection(self, name: str, *, password: str | None = None, **settings: Any) -> HostConnection:
        ep = self.endpoint(name)
        if self.ca_path is None:
            settings.setdefault("insecure", True)
        else:
            settings.setdefault("ca_path", self.ca_path)
        if ep["transport"] == "ntlm":  # a Windows-like lab: the driver's default transport, sealed over HTTP
            endpoint = HostEndpoint.model_validate({"name": name, "url": ep["url"], "transport": "ntlm", **settings})
            secret = SecretStr(password or ep["password"])
            return HostConnection(endpoint=endpoint, credential=Credential(username=ep["username"], password=secret))
        return HostConnection.basic(name, ep["url"], ep["username"], password or ep["password"], **settings)

    def host(self, name: str, **settings: Any) -> WinRMHyperVHost:
        host = WinRMHyperVHost.connect(self.connection(name, **settings))
        self.opened.append(host)
        return host

    def vmm(self, name: str = VMM_A) -> WinRMVMMServer:
        server = WinRMVMMServer.connect(self.connection(name))
        self.opened.append(server)
        return server

    def password(self, name: str) -> str:
        return str(self.endpoint(name)["password"])


def with_vms(names: list[str], host: str = A1) -> Topology:
    """The default estate plus extra VMs on one host."""
    from hvdr.topology import VM

    topology = default_topology()
    extra = [VM(name=name, host=host) for name in names]
    return Topology.model_validate(
        {**topology.model_dump(), "vms": [*topology.model_dump()["vms"], *[vm.model_dump() for vm in extra]]}
    )


def start_lab(
    tmp: Path, *, https: bool, topology: Topology | None = None, auth: AuthPolicy | None = None
) -> Iterator[LabDrivers]:
    cert_dir = tmp / "tls" if https else None
    lab = Lab(topology, speed=600, https=https, cert_dir=cert_dir, auth=auth)
    lab.start()
    drivers = LabDrivers(lab, cert_dir / "lab-wsman.pem" if cert_dir else None, [])
    try:
        yield drivers
    finally:
        for opened in drivers.opened:
            opened.close()
        lab.stop()


@pytest.fixture(params=["http", "https", "http-ntlm"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LabDrivers]:
    """Basic over HTTP and HTTPS, and NTLM with sealed messages to hosts as Windows sets them up."""
    windows = AuthPolicy.windows_default() if request.param.endswith("ntlm") else None
    yield from start_lab(tmp_path, https=request.param == "https", auth=windows)


@pytest.fixture
def http_lab(tmp_path: Path) -> Iterator[LabDrivers]:
    yield from start_lab(tmp_path, https=False)


LabFactory = Callable[..., LabDrivers]
