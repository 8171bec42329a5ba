"""``hvdr apply``, ``hvdr export`` and the inventory reads (sites, hosts, clouds, vms, policies, plans)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from hvdr.cli.common import OutputFormat, Part, emit, guarded, say
from hvdr.inventory import queries
from hvdr.inventory.apply import Change, apply_topology, plan_changes
from hvdr.inventory.db import session_for
from hvdr.inventory.export import export_topology, topology_yaml
from hvdr.inventory.validate import load_and_validate
from hvdr.settings import load_settings

Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


@guarded
def apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="The topology YAML file.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show the changes; change nothing.")] = False,
) -> None:
    """Make the inventory match a topology file: validate all of it first, then apply it in one transaction.

    Every problem is reported at once with file:line, and nothing changes while any remains. Applying the
    same file again changes nothing. The changes are printed as + create, ~ update (fields), - delete.
    """
    topology = load_and_validate(file)
    settings = load_settings()
    # Everything printed is computed before the commit, and printing cannot raise (see hvdr.cli.common):
    # once the transaction commits, nothing is left that could fail.
    with session_for(settings) as session:
        if dry_run:
            changes = plan_changes(session, topology)
            session.rollback()
        else:
            changes = apply_topology(session, topology)
        report = _apply_report(changes, file, dry_run)
    for line in report:
        say(*line)


def _apply_report(changes: list[Change], file: Path, dry_run: bool) -> list[tuple[Part, ...]]:
    if not changes:
        return [(file, ": the inventory already matches; nothing to change.")]
    colours = {"create": "green", "update": "yellow", "delete": "red"}
    lines: list[tuple[Part, ...]] = [((str(change), colours[change.action]),) for change in changes]
    verb = "Would apply" if dry_run else "Applied"
    lines.append((f"{verb} {len(changes)} change{'s' if len(changes) != 1 else ''} from ", file, "."))
    return lines


@guarded
def export(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Write here instead of stdout.")] = None,
) -> None:
    """Write the inventory as a topology file that `hvdr apply -f` restores with no change."""
    with session_for(load_settings()) as session:
        text = topology_yaml(export_topology(session))
    if file is None:
        typer.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        say("Exported the inventory to ", file, ".")


def _reader(
    name: str, query: Callable[[Session], list[dict[str, Any]]], columns: list[str], doc: str
) -> Callable[..., None]:
    @guarded
    def read(output: Output = OutputFormat.table) -> None:
        with session_for(load_settings()) as session:
            rows = query(session)
        emit(rows, columns, output, title=None if rows else f"no {name} (apply a topology with `hvdr apply -f`)")

    read.__doc__ = doc
    read.__name__ = name
    return read


def register(app: typer.Typer) -> None:
    app.command()(apply)
    app.command()(export)
    app.command()(discover)
    readers = [
        ("sites", queries.sites, ["name", "description", "vmm_server", "hosts"], "List the sites."),
        ("hosts", queries.hosts, ["fqdn", "site", "cloud", "vms"], "List the Hyper-V hosts."),
        (
            "clouds",
            queries.clouds,
            ["name", "site", "hosts", "role", "paired_with", "policy"],
            "List the clouds and their pairings.",
        ),
        (
            "vms",
            queries.vms,
            ["name", "host", "site", "cloud", "tier", "power_state", "replication_state", "source"],
            "List the VMs (declared and discovered).",
        ),
        (
            "policies",
            queries.policies,
            ["name", "copy_frequency_s", "recovery_point_hours", "app_consistent_hours", "rpo_alert_threshold_s"],
            "List the replication policies.",
        ),
        (
            "plans",
            queries.plans,
            ["name", "primary_cloud", "recovery_cloud", "group_count", "vm_count", "rto_target_s", "on_failure"],
            "List the recovery plans.",
        ),
    ]
    for name, query, columns, doc in readers:
        app.command(name)(_reader(name, query, columns, doc))


@guarded
def discover(
    site: Annotated[list[str] | None, typer.Option("--site", "-s", help="Only these sites (default: all).")] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Find hosts, VMs and cloud membership through each site's VMM server (or its Hyper-V hosts directly
    where a site has none), on the site's worker, and record them in the inventory."""
    from hvdr.cli.common import run_async
    from hvdr.client import Client
    from hvdr.inventory.discovery import record_discovery
    from hvdr.inventory.sites import configured_sites, require_sites

    settings = load_settings()
    sites = require_sites(settings, site) if site else configured_sites(settings)

    async def run() -> list[Any]:
        return await (await Client.connect(settings)).discover(sites)

    results = run_async(run())
    with session_for(settings) as session:
        summary = record_discovery(session, results)
    if output is not OutputFormat.table:
        emit(summary, [], output)
        return
    for result in results:
        say(f"{result.site}: {len(result.vms)} VM copies on {len(result.hosts)} hosts (from {result.source})")
    say(f"Recorded {len(summary.vms_updated)} known VM(s), added {len(summary.vms_added)} new.")
    for host in summary.undeclared_hosts:
        say((f"host {host} is not in the topology; declare it to manage its VMs", "yellow"))
    for error in summary.errors:
        say((error, "red"))
