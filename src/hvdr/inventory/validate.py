"""Validate a whole topology at once: every problem, each with file:line, before anything changes.

Field-level rules come from the schema (``hvdr.topology``); this module adds what needs the whole
document: unique names, references that resolve, a cloud in at most one pairing, a VM in at most one group
of a plan, DNS names where Hyper-V requires them, HTTPS unless a host is explicitly marked insecure.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlparse

from pydantic import BaseModel, ValidationError

from hvdr.errors import ConfigError
from hvdr.inventory.source import LineMap, Problem, TopologySourceError, parse_yaml, read_yaml
from hvdr.topology import Topology, WinRMEndpoint, host_key

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class TopologyInvalid(ConfigError):
    """A topology file has problems; all of them are listed, one per line, with file:line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the topology; nothing was changed:\n"
            + "\n".join(f"  {p}" for p in problems)
        )


def is_dns_name(name: str) -> bool:
    """A DNS host name (labels of 1–63 letters, digits and hyphens, 253 characters in all), not an IP address
    (Enable-VMReplication rejects IPs with InvalidParameter)."""
    try:
        ipaddress.ip_address(name)
        return False
    except ValueError:
        pass
    labels = name.rstrip(".").split(".")
    return (
        len(name.rstrip(".")) <= 253 and all(_DNS_LABEL.match(label) for label in labels) and not labels[-1].isdigit()
    )


def load_and_validate(path: Path) -> Topology:
    """Read, parse and validate a topology file; raise TopologyInvalid listing every problem."""
    try:
        data, lines = read_yaml(path)
    except TopologySourceError as exc:
        raise TopologyInvalid([exc.problem]) from exc
    return validate_document(data, lines, str(path))


def validate_text(text: str, source: str = "topology.yaml") -> Topology:
    try:
        data, lines = parse_yaml(text, source)
    except TopologySourceError as exc:
        raise TopologyInvalid([exc.problem]) from exc
    return validate_document(data, lines, source)


def validate_document(data: Any, lines: LineMap, source: str) -> Topology:
    if not isinstance(data, dict):
        raise TopologyInvalid([Problem(source, 1, "expected a mapping (sites:, hosts:, …) at the top level")])
    try:
        topology = Topology.model_validate(data)
    except ValidationError as exc:
        problems = [_schema_problem(error, lines, source) for error in exc.errors()]
        problems += _cross_check_valid_part(data, lines, source)
        raise TopologyInvalid(sorted(problems, key=lambda p: p.line or 0)) from exc
    problems = list(_cross_check(topology, lines, source))
    if problems:
        raise TopologyInvalid(sorted(problems, key=lambda p: p.line or 0))
    return topology


def _cross_check_valid_part(data: dict[str, Any], lines: LineMap, source: str) -> list[Problem]:
    """Cross-check the objects that are valid on their own, so one run reports every kind of problem.

    Objects that failed the schema are left out; references to them are not reported again as unknown.
    """
    partial = dict(data)
    failed: set[str] = set()
    for section, info in Topology.model_fields.items():
        items = data.get(section)
        args = get_args(info.annotation)
        if (
            not isinstance(items, list)
            or not args
            or not (isinstance(args[0], type) and issubclass(args[0], BaseModel))
        ):
            continue
        kept = []
        for item in items:
            try:
                args[0].model_validate(item)
                kept.append(item)
            except ValidationError:
                if isinstance(item, dict):
                    failed.update(str(item[k]) for k in ("name", "fqdn") if k in item)
        partial[section] = kept
    try:
        topology = Topology.model_validate(partial)
    except ValidationError:
        return []
    return [p for p in _cross_check(topology, lines, source) if not any(f"'{name}'" in p.message for name in failed)]


_UNIONS = frozenset({"initial_replication", "pre_actions", "post_actions"})
"""Fields holding a discriminated union (one value, or a list of them)."""


def _schema_problem(error: Any, lines: LineMap, source: str) -> Problem:
    raw = [part for part in error["loc"] if isinstance(part, int | str)]
    # Discriminated unions add the tag to the location (…, "offline", "export_path"); the file has no such key,
    # or one of that name (a script action's tag "script" and its field "script"): drop the tag by position.
    loc = [
        part
        for i, part in enumerate(raw)
        if not (
            i > 0
            and isinstance(part, str)
            and (raw[i - 1] in _UNIONS or (isinstance(raw[i - 1], int) and i > 1 and raw[i - 2] in _UNIONS))
        )
    ]
    path: list[str | int] = []
    for part in loc:
        if (*path, part) in lines.lines or isinstance(part, int):
            path.append(part)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see the documented example)"
    elif error["type"] == "missing":
        # The missing key is not in the file, so the location kept above ends at its parent: name it here.
        field = loc[-1] if loc else ""
        where = f"{where}.{field}".lstrip(".") if isinstance(field, str) else where
        message = f"required field {field!r} is missing" if isinstance(field, str) else "required field is missing"
    return Problem(source, lines.line(path), f"{where}: {message}")


def _duplicates(names: Iterable[tuple[int, str]], key_of: Callable[[str], str] = str.lower) -> list[tuple[int, str]]:
    items = list(names)
    counts = Counter(key_of(name) for _, name in items)
    seen: set[str] = set()
    repeated = []
    for index, name in items:
        key = key_of(name)
        if counts[key] > 1:
            if key in seen:
                repeated.append((index, name))
            seen.add(key)
    return repeated


def _cross_check(t: Topology, lines: LineMap, source: str) -> Iterable[Problem]:
    def at(*path: str | int) -> int | None:
        return lines.line(path)

    def problem(message: str, *path: str | int) -> Problem:
        return Problem(source, at(*path), message)

    collections: list[tuple[str, str, list[str]]] = [
        ("sites", "name", [s.name for s in t.sites]),
        ("vmm_servers", "name", [v.name for v in t.vmm_servers]),
        ("clouds", "name", [c.name for c in t.clouds]),
        ("hosts", "fqdn", [h.fqdn for h in t.hosts]),
        ("vms", "name", [v.name for v in t.vms]),
        ("policies", "name", [p.name for p in t.policies]),
        ("recovery_plans", "name", [p.name for p in t.recovery_plans]),
    ]
    for section, field_name, names in collections:
        # DNS names are the same name whatever their case and with or without the root's trailing dot.
        key_of = host_key if field_name == "fqdn" or section == "vmm_servers" else str.lower
        for index, name in _duplicates(enumerate(names), key_of):
            yield problem(f"{section}[{index}].{field_name}: duplicate name {name!r}", section, index, field_name)

    sites = {s.name for s in t.sites}
    vmms = {host_key(v.name): v for v in t.vmm_servers}
    clouds = {c.name: c for c in t.clouds}
    vms = {v.name: v for v in t.vms}
    policies = {p.name for p in t.policies}

    def host_named(name: str) -> Any:
        return t.host(name)

    for i, vmm in enumerate(t.vmm_servers):
        if vmm.site not in sites:
            yield problem(f"vmm_servers[{i}].site: unknown site {vmm.site!r}", "vmm_servers", i, "site")
        if not is_dns_name(vmm.name):
            yield problem(f"vmm_servers[{i}].name: {vmm.name!r} is not a DNS name", "vmm_servers", i, "name")
        yield from _check_winrm(vmm.winrm, f"vmm_servers[{i}]", ("vmm_servers", i), lines, source)

    for i, cloud in enumerate(t.clouds):
        if cloud.site not in sites:
            yield problem(f"clouds[{i}].site: unknown site {cloud.site!r}", "clouds", i, "site")
        if cloud.vmm_server:
            manager = vmms.get(host_key(cloud.vmm_server))
            if manager is None:
                yield problem(
                    f"clouds[{i}].vmm_server: unknown VMM server {cloud.vmm_server!r}",
                    "clouds",
                    i,
                    "vmm_server",
                )
            elif manager.site != cloud.site:
                yield problem(
                    f"clouds[{i}].vmm_server: {manager.name} manages site {manager.site}, "
                    f"not the cloud's site {cloud.site}",
                    "clouds",
                    i,
                    "vmm_server",
                )

    for i, host in enumerate(t.hosts):
        if host.site not in sites:
            yield problem(f"hosts[{i}].site: unknown site {host.site!r}", "hosts", i, "site")
        if not is_dns_name(host.fqdn) or "." not in host.fqdn:
            yield problem(
                f"hosts[{i}].fqdn: {host.fqdn!r} is not a fully qualified DNS name (Hyper-V Replica needs one, "
                "not an IP address)",
                "hosts",
                i,
                "fqdn",
            )
        if host.cloud is not None:
            host_cloud = clouds.get(host.cloud)
            if host_cloud is None:
                yield problem(f"hosts[{i}].cloud: unknown cloud {host.cloud!r}", "hosts", i, "cloud")
            elif host_cloud.site != host.site:
                yield problem(
                    f"hosts[{i}].cloud: cloud {host_cloud.name} is in site {host_cloud.site}, the host in {host.site}",
                    "hosts",
                    i,
                    "cloud",
                )
        yield from _check_winrm(host.winrm, f"hosts[{i}]", ("hosts", i), lines, source)

    for i, vm in enumerate(t.vms):
        if host_named(vm.host) is None:
            yield problem(f"vms[{i}].host: unknown host {vm.host!r}", "vms", i, "host")
        names = [d.name for d in vm.disks]
        for j, name in _duplicates(enumerate(names)):
            yield problem(f"vms[{i}].disks[{j}]: duplicate disk {name!r}", "vms", i, "disks", j)
        host = host_named(vm.host)
        switches = {s.name for s in host.switches} if host else set()
        for j, adapter in enumerate(vm.network_adapters):
            if host and switches and adapter.switch and adapter.switch not in switches:
                yield problem(
                    f"vms[{i}].network_adapters[{j}].switch: host {host.fqdn} has no switch {adapter.switch!r}",
                    "vms",
                    i,
                    "network_adapters",
                    j,
                    "switch",
                )

    in_pairing: dict[str, int] = {}
    for i, pairing in enumerate(t.cloud_pairings):
        primary = clouds.get(pairing.primary_cloud)
        recovery = clouds.get(pairing.recovery_cloud)
        if primary is None:
            yield problem(
                f"cloud_pairings[{i}].primary_cloud: unknown cloud {pairing.primary_cloud!r}",
                "cloud_pairings",
                i,
                "primary_cloud",
            )
        if recovery is None:
            yield problem(
                f"cloud_pairings[{i}].recovery_cloud: unknown cloud {pairing.recovery_cloud!r}",
                "cloud_pairings",
                i,
                "recovery_cloud",
            )
        if pairing.policy not in policies:
            yield problem(
                f"cloud_pairings[{i}].policy: unknown policy {pairing.policy!r}",
                "cloud_pairings",
                i,
                "policy",
            )
        if primary and recovery and primary.site == recovery.site:
            yield problem(
                f"cloud_pairings[{i}]: {primary.name} and {recovery.name} are both in site {primary.site}; "
                "a pairing protects one site's cloud at another site",
                "cloud_pairings",
                i,
            )
        for role, name in (
            ("primary_cloud", pairing.primary_cloud),
            ("recovery_cloud", pairing.recovery_cloud),
        ):
            if name in in_pairing:
                yield problem(
                    f"cloud_pairings[{i}].{role}: cloud {name!r} is already in cloud_pairings[{in_pairing[name]}]; "
                    "a cloud belongs to at most one pairing",
                    "cloud_pairings",
                    i,
                    role,
                )
            else:
                in_pairing[name] = i

    all_switches = {(h.site, s.name) for h in t.hosts for s in h.switches}
    sources: dict[tuple[str | None, str], int] = {}
    for i, mapping in enumerate(t.network_mappings):
        for role in ("source_site", "target_site"):
            site = getattr(mapping, role)
            if site is not None and site not in sites:
                yield problem(f"network_mappings[{i}].{role}: unknown site {site!r}", "network_mappings", i, role)
        key = (mapping.source_site, mapping.source_network)
        if key in sources:
            yield problem(
                f"network_mappings[{i}]: network {mapping.source_network!r} is already mapped by "
                f"network_mappings[{sources[key]}]",
                "network_mappings",
                i,
            )
        sources[key] = i
        for role, site in (
            ("source_network", mapping.source_site),
            ("target_network", mapping.target_site),
            ("test_network", mapping.target_site),
        ):
            network = getattr(mapping, role)
            if network is None or site is None or site not in sites:
                continue
            if any(s == site for s, _ in all_switches) and (site, network) not in all_switches:
                yield problem(
                    f"network_mappings[{i}].{role}: no host in site {site} has a switch {network!r}",
                    "network_mappings",
                    i,
                    role,
                )

    for i, plan in enumerate(t.recovery_plans):
        for role in ("primary_cloud", "recovery_cloud"):
            name = getattr(plan, role)
            if name is not None and name not in clouds:
                yield problem(f"recovery_plans[{i}].{role}: unknown cloud {name!r}", "recovery_plans", i, role)
        if not plan.groups:
            yield problem(f"recovery_plans[{i}].groups: a plan needs at least one group", "recovery_plans", i, "groups")
        placed: dict[str, str] = {}
        steps: dict[str, str] = {}
        for g, group in enumerate(plan.groups):
            if not group.vms:
                yield problem(
                    f"recovery_plans[{i}].groups[{g}].vms: group {group.name!r} has no VMs",
                    "recovery_plans",
                    i,
                    "groups",
                    g,
                    "vms",
                )
            for v, vm_name in enumerate(group.vms):
                path = ("recovery_plans", i, "groups", g, "vms", v)
                if t.vms and vm_name not in vms:
                    yield problem(f"recovery_plans[{i}].groups[{g}].vms[{v}]: unknown VM {vm_name!r}", *path)
                if vm_name in placed:
                    yield problem(
                        f"recovery_plans[{i}].groups[{g}].vms[{v}]: VM {vm_name!r} is already in group "
                        f"{placed[vm_name]!r} of plan {plan.name!r}; a VM belongs to one group of a plan",
                        *path,
                    )
                placed.setdefault(vm_name, group.name)
                member = vms.get(vm_name)
                member_host = host_named(member.host) if member else None
                if (
                    plan.primary_cloud
                    and member_host is not None
                    and member_host.cloud not in (None, plan.primary_cloud)
                ):
                    yield problem(
                        f"recovery_plans[{i}].groups[{g}].vms[{v}]: VM {vm_name!r} is in cloud {member_host.cloud}, "
                        f"not the plan's primary cloud {plan.primary_cloud}",
                        *path,
                    )
            for kind in ("pre_actions", "post_actions"):
                for a, action in enumerate(getattr(group, kind)):
                    here = f"recovery_plans[{i}].groups[{g}].{kind}[{a}]"
                    step = action.name.lower()  # `hvdr approve RUN STEP` names an action of the run's plan
                    if step in steps:
                        yield problem(
                            f"{here}.name: plan {plan.name!r} already has an action named {action.name!r} (in group "
                            f"{steps[step]!r}); give each action of a plan its own name",
                            "recovery_plans",
                            i,
                            "groups",
                            g,
                            kind,
                            a,
                            "name",
                        )
                    steps.setdefault(step, group.name)
                    if action.type == "script" and host_named(action.host) is None:
                        yield problem(
                            f"{here}.host: unknown host {action.host!r}",
                            "recovery_plans",
                            i,
                            "groups",
                            g,
                            kind,
                            a,
                            "host",
                        )


def _check_winrm(
    winrm: WinRMEndpoint, label: str, path: tuple[str | int, ...], lines: LineMap, source: str
) -> Iterable[Problem]:
    def at(field: str) -> int | None:
        return lines.line((*path, "winrm", field))

    certificate = winrm.transport == "certificate"
    if certificate and not (winrm.client_cert and winrm.client_key):
        yield Problem(
            source,
            at("transport"),
            f"{label}.winrm: certificate transport needs client_cert and client_key (PEM files on the site worker)",
        )
    if not certificate and (winrm.client_cert or winrm.client_key):
        field = "client_cert" if winrm.client_cert else "client_key"
        yield Problem(
            source,
            at(field),
            f"{label}.winrm.{field}: client certificates are only for transport: certificate "
            f"(this host uses {winrm.transport})",
        )
    url = winrm.url
    if url is None:
        return
    parsed = urlparse(url)
    line = at("url")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        yield Problem(source, line, f"{label}.winrm.url: {url!r} is not an http(s)://host[:port]/wsman URL")
    elif parsed.scheme == "http" and not winrm.insecure:
        yield Problem(
            source,
            line,
            f"{label}.winrm.url: plain HTTP sends credentials unprotected; use https:// or mark the host "
            "winrm.insecure: true",
        )
    if parsed.scheme == "http" and winrm.transport in ("certificate", "credssp"):
        yield Problem(source, line, f"{label}.winrm.url: {winrm.transport} transport needs https://")
    if parsed.scheme == "http" and winrm.ca_cert:
        yield Problem(source, at("ca_cert"), f"{label}.winrm.ca_cert: only used over https://, and the url is http://")
