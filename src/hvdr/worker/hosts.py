"""The worker's directory of hosts: a host name in, a connected driver out.

A workflow names a host (never a URL or a secret). The site worker looks the host up in the inventory
(WinRM URL, transport, credential reference), fills in what the lab assigns when the worker was told to use the
lab (settings ``lab``, ``HVDR_LAB=1``) and the host is a lab host (its loopback URL, account and transport, from
the lab's endpoints file), resolves the credential from its own store,
and keeps one driver per host so WinRM shells and connections are reused, until the host's settings or
credential change.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr

from hvdr.errors import ConfigError
from hvdr.hyperv.certificate import certificate_not_after
from hvdr.hyperv.connection import Credential, HostConnection, HostEndpoint, TransportKind
from hvdr.hyperv.host import WinRMHyperVHost, WinRMVMMServer
from hvdr.hyperv.protocol import HyperVHost, VMMServer
from hvdr.inventory import queries
from hvdr.inventory.db import session_for
from hvdr.inventory.placement import record_placement, record_placements
from hvdr.models import DiscoveredHost
from hvdr.settings import Settings
from hvdr.topology import WinRMEndpoint, host_key, same_host
from hvdr.worker.credentials import CredentialStore

# The topology speaks pywinrm's transport names; "plaintext" and "ssl" are Basic over HTTP / HTTPS.
_TRANSPORTS = {
    "basic": TransportKind.BASIC,
    "plaintext": TransportKind.BASIC,
    "ssl": TransportKind.BASIC,
    "ntlm": TransportKind.NTLM,
    "kerberos": TransportKind.KERBEROS,
    "credssp": TransportKind.CREDSSP,
    "certificate": TransportKind.CERTIFICATE,
}

_WORKER_FILES = ("ca_cert", "client_cert", "client_key")
D = TypeVar("D", HyperVHost, VMMServer)


def _worker_file(host: str, field: str, value: str | None) -> Path | None:
    """A PEM file the topology names; it must exist on this worker (the topology is applied elsewhere)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"host {host}: winrm.{field} {value} is not a file on this worker; copy it here or fix the path"
        )
    return path


class HostDirectory:
    """Connected drivers by host name, shared by every activity of the worker (thread-safe).

    The worker's implementation of :class:`hvdr.activities.hosts.Hosts`.
    """

    def __init__(self, settings: Settings, credentials: CredentialStore | None = None) -> None:
        self.settings = settings
        self.credentials = credentials or CredentialStore(settings)
        self._hosts: dict[str, tuple[HostConnection, HyperVHost]] = {}
        self._vmms: dict[str, tuple[HostConnection, VMMServer]] = {}
        self._retired: list[HyperVHost | VMMServer] = []
        self._lock = threading.Lock()

    def _lab_entry(self, name: str) -> dict[str, Any] | None:
        if not self.settings.lab:
            return None  # a real estate: an endpoints file left behind by `hvdr up` must not redirect a host
        path: Path = self.settings.lab_endpoints
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        for entry in data.get("hosts", []):
            if same_host(str(entry.get("name", "")), name):
                return {**entry, "ca_cert": entry.get("ca_cert") or data.get("ca_cert")}
        return None

    def connection(self, name: str, winrm: WinRMEndpoint, credential_ref: str | None) -> HostConnection:
        """How to reach a host: the inventory's settings, completed by the lab's endpoints where it has them."""
        lab = self._lab_entry(name)
        if winrm.url is None and lab is not None:
            url = str(lab["url"])
            endpoint = HostEndpoint(
                name=name,
                url=url,
                transport=_TRANSPORTS.get(str(lab.get("transport")), TransportKind.BASIC),
                insecure=url.startswith("http://") or winrm.insecure,
                ca_path=Path(lab["ca_cert"]) if lab.get("ca_cert") else None,
            )
            credential = Credential(username=str(lab["username"]), password=SecretStr(str(lab["password"])))
            return HostConnection(endpoint=endpoint, credential=credential)
        url = winrm.url or f"https://{name}:5986/wsman"
        files = {field: _worker_file(name, field, getattr(winrm, field)) for field in _WORKER_FILES}
        try:
            endpoint = HostEndpoint(
                name=name,
                url=url,
                transport=_TRANSPORTS[winrm.transport],
                insecure=winrm.insecure,
                credential_ref=credential_ref,
                ca_path=files["ca_cert"],
                client_cert_pem=files["client_cert"],
                client_key_pem=files["client_key"],
            )
        except ValueError as exc:
            raise ConfigError(f"host {name}: {exc}") from None
        return HostConnection.resolve(endpoint, self.credentials.resolve)

    def host(self, name: str) -> HyperVHost:
        """The driver for a Hyper-V host of the inventory.

        The inventory and the credential are read on every call: when ``hvdr apply`` changed the host's WinRM
        settings or a rotated password reached the credentials file, the next call gets a new driver.
        """
        with session_for(self.settings) as session:
            spec = queries.host(session, name)
        connection = self.connection(spec.fqdn, spec.winrm, spec.credential)
        return self._driver(self._hosts, host_key(spec.fqdn), connection, WinRMHyperVHost.connect)

    def certificate_not_after(self, name: str) -> datetime | None:
        """When the certificate of the host's WinRM HTTPS listener expires; None when it is reached over HTTP."""
        with session_for(self.settings) as session:
            spec = queries.host(session, name)
        url = self.connection(spec.fqdn, spec.winrm, spec.credential).endpoint.url
        return certificate_not_after(url, host=spec.fqdn)

    def vmm(self, site: str) -> VMMServer | None:
        """The driver for the site's VMM server, or None where the site has none."""
        with session_for(self.settings) as session:
            spec = queries.vmm_server(session, site)
        if spec is None:
            return None
        connection = self.connection(spec.name, spec.winrm, spec.credential)
        return self._driver(self._vmms, site, connection, WinRMVMMServer.connect)

    def site_hosts(self, site: str) -> list[DiscoveredHost]:
        """The Hyper-V hosts the inventory declares for the site."""
        with session_for(self.settings) as session:
            declared = queries.site_hosts(session, site)
        return [DiscoveredHost(name=h.fqdn, cloud=h.cloud) for h in declared]

    def record_placement(self, vm: str, host: str, site: str) -> None:
        """The inventory records that ``vm`` now runs on ``host`` (after a failover)."""
        with session_for(self.settings) as session:
            record_placement(session, vm, host)

    def record_placements(self, placed: Sequence[tuple[str, str, str]]) -> None:
        """Several VMs' placements (vm, host, site) in one transaction: all or none."""
        with session_for(self.settings) as session:
            record_placements(session, [(vm, host) for vm, host, _ in placed])

    def _driver(
        self,
        cache: dict[str, tuple[HostConnection, D]],
        key: str,
        connection: HostConnection,
        connect: Callable[[HostConnection], D],
    ) -> D:
        with self._lock:
            cached = cache.get(key)
            if cached is not None and cached[0] == connection:
                return cached[1]
            driver = connect(connection)
            cache[key] = (connection, driver)
            if cached is not None:
                # Activities that already hold the old driver finish on it; it is closed with the directory.
                self._retired.append(cached[1])
            return driver

    def close(self) -> None:
        with self._lock:
            drivers = [d for _, d in self._hosts.values()] + [d for _, d in self._vmms.values()] + self._retired
            self._hosts.clear()
            self._vmms.clear()
            self._retired = []
        for driver in drivers:
            driver.close()
