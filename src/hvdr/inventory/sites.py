"""Which sites exist: the sites of the applied inventory, else of the configured topology file."""

from __future__ import annotations

from pathlib import Path

from hvdr.errors import ConfigError, NotFound
from hvdr.settings import Settings
from hvdr.topology import default_topology_path


def topology_path(settings: Settings) -> Path:
    path = settings.topology or default_topology_path()
    if not path.is_file():
        raise ConfigError(f"topology file {path} does not exist (set HVDR_TOPOLOGY to a topology YAML file)")
    return path


def configured_sites(settings: Settings) -> list[str]:
    """The names of the sites hvdr knows: the inventory's once a topology is applied, else the file's."""
    from hvdr.topology import load_topology

    if settings.inventory.database_url or (settings.home / "inventory.db").exists():
        from hvdr.inventory import queries
        from hvdr.inventory.db import session_for

        with session_for(settings) as session:
            applied = [site["name"] for site in queries.sites(session)]
        if applied:
            return applied
    topology = load_topology(topology_path(settings))
    return [site.name for site in topology.sites]


def require_sites(settings: Settings, names: list[str]) -> list[str]:
    """The given site names, checked; an unknown one is an error that lists the known ones."""
    known = configured_sites(settings)
    for name in names:
        if name not in known:
            raise NotFound(f"unknown site {name!r}: the topology has {', '.join(known) or 'no sites'}")
    return names
