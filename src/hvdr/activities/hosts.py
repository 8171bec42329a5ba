"""What activities need of the worker's hosts, as a protocol: the worker implements it, tests fake it.

Activities never import the worker (``worker/`` imports the activities to register them); the worker passes
an object with these methods to the activity classes it builds. Methods are synchronous and may block (an
inventory read, a connection): activities call them off the event loop.
"""

from __future__ import annotations

from typing import Protocol

from hvdr.hyperv.protocol import HyperVHost, VMMServer
from hvdr.models import DiscoveredHost


class Hosts(Protocol):
    def host(self, name: str) -> HyperVHost:
        """The connected driver of a Hyper-V host, by FQDN or short name."""
        ...

    def vmm(self, site: str) -> VMMServer | None:
        """The driver of the site's VMM server, or None where the site has none."""
        ...

    def site_hosts(self, site: str) -> list[DiscoveredHost]:
        """The Hyper-V hosts declared for the site (name = FQDN, and the cloud each belongs to)."""
        ...
