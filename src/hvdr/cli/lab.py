"""``hvdr lab``: run the simulated Hyper-V estate, look at it, and break it on purpose."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from hvdr.cli.common import OutputFormat, emit, fail, guarded, say

app = typer.Typer(help="Run the simulated Hyper-V estate (the lab), look at it, inject faults.", no_args_is_help=True)
fault_app = typer.Typer(help="Inject and clear faults in the running lab.", no_args_is_help=True)
app.add_typer(fault_app, name="fault")

EndpointsOption = Annotated[
    Path | None,
    typer.Option("--endpoints", help="The lab's endpoints file (default: <HVDR_HOME>/lab/endpoints.json)."),
]
VM_COLUMNS = [
    "name",
    "host",
    "site",
    "power_state",
    "replication_mode",
    "replication_state",
    "replication_health",
    "disk_checksum",
    "split_brain",
]


def _endpoints_path(path: Path | None) -> Path:
    from hvdr.lab.runner import default_endpoints_path

    return path or default_endpoints_path()


def _control(path: Path | None) -> tuple[str, str, Path]:
    """The control API's URL and token from the endpoints file and the token file beside it."""
    from hvdr.lab.control import token_path

    file = _endpoints_path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"the lab is not running (no endpoints file at {file}); start it with `hvdr lab up`")
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"cannot read the lab's endpoints file {file}: {exc}")
    url = data.get("control") if isinstance(data, dict) else None
    if not url:
        fail(f"the endpoints file {file} names no control URL")
    tokens = token_path(file)
    try:
        token = tokens.read_text(encoding="utf-8").strip()
    except OSError as exc:
        fail(f"cannot read the lab's control token {tokens} ({exc.strerror or exc}); `hvdr lab up` writes it")
    return str(url), token, tokens


def _call(path: Path | None, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
    base, token, tokens = _control(path)
    url = base + route
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            fail(
                f"the lab at {base} refused the control token in {tokens} (HTTP 401): it belongs to another "
                "lab; use the --endpoints file of the running `hvdr lab up`, or restart it"
            )
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except (json.JSONDecodeError, AttributeError):
            message = exc.reason
        fail(f"the lab refused: {message}")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(f"the lab is not answering at {url} ({reason}); is `hvdr lab up` still running?")


@app.command()
@guarded
def up(
    topology: Annotated[
        Path | None, typer.Option("--topology", help="Topology YAML (default: the built-in lab).")
    ] = None,
    speed: Annotated[float | None, typer.Option("--speed", help="Simulated seconds per real second.", min=0)] = None,
    endpoints: EndpointsOption = None,
    https: Annotated[bool, typer.Option("--https", help="Serve WinRM over HTTPS (self-signed).")] = False,
    windows_auth: Annotated[
        bool,
        typer.Option(
            "--windows-auth",
            help="Accept only Negotiate (NTLM), with encrypted messages over HTTP, as a Windows host's WinRM "
            "service does by default (Basic off, AllowUnencrypted=false). Default: Negotiate and Basic.",
        ),
    ] = False,
) -> None:
    """Run the lab in the foreground (Ctrl-C stops it) and write its endpoints file and control token."""
    from hvdr.lab.control import token_path
    from hvdr.lab.runner import Lab, run_lab
    from hvdr.lab.wsman.auth import AuthPolicy

    def ready(lab: Lab, path: Path) -> None:
        hosts = lab.endpoints["hosts"]
        say(
            ("hvdr lab", "bold"),
            f" {len(hosts)} hosts, {len(lab.backend.all_vms())} VMs, speed "
            f"{lab.clock.speed:g}x; control {lab.control_url}",
        )
        for host in hosts:
            say(f"  {host['kind']:<6} {host['name']:<28} {host['site']:<8} {host['url']}")
        say(f"WinRM auth: {', '.join(lab.auth.schemes)}; transport for clients: {hosts[0]['transport']}")
        say(f"endpoints written to {path}, control token to {token_path(path)}; Ctrl-C to stop")
        say("workers and clients use this lab only when told: HVDR_LAB=1 (or lab = true in the config file)")

    auth = AuthPolicy.windows_default() if windows_auth else None
    run_lab(topology, speed=speed, endpoints_path=endpoints, https=https or None, auth=auth, on_ready=ready)


@app.command()
@guarded
def status(
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml")] = OutputFormat.table,
    endpoints: EndpointsOption = None,
) -> None:
    """Every VM copy on every host with its power, replication state and disk checksum."""
    rows = _call(endpoints, "GET", "/vms")
    if output is OutputFormat.table:
        for row in rows:
            row["disk_checksum"] = str(row.get("disk_checksum", ""))[:12]
            row["split_brain"] = "yes" if row.get("split_brain") else None
    emit(rows, VM_COLUMNS, output, title="lab VMs")
    split = sorted({f"{r['name']} ({r['host']})" for r in rows if r.get("split_brain")})
    if split and output is OutputFormat.table:
        say("split brain: two copies running and written since the failover: " + ", ".join(split))


def _inject(endpoints: Path | None, kind: str, **params: Any) -> None:
    fault = _call(endpoints, "POST", "/faults", {"kind": kind, **params})
    details = ", ".join(f"{k}={v}" for k, v in fault.items() if k not in ("id", "kind", "created"))
    say(f"fault {fault['id']}: {kind} {details}")


@fault_app.command("host-down")
@guarded
def host_down(host: str, endpoints: EndpointsOption = None) -> None:
    """Make a host unreachable: WinRM refuses connections, replication to and from it fails."""
    _inject(endpoints, "host_down", host=host)


@fault_app.command()
@guarded
def partition(site_a: str, site_b: str, endpoints: EndpointsOption = None) -> None:
    """Cut replication between two sites (WinRM still answers)."""
    _inject(endpoints, "partition", site_a=site_a, site_b=site_b)


@fault_app.command()
@guarded
def latency(host: str, seconds: float, endpoints: EndpointsOption = None) -> None:
    """Add latency to every WinRM request to a host."""
    _inject(endpoints, "latency", host=host, seconds=seconds)


@fault_app.command("error-rate")
@guarded
def error_rate(host: str, rate: float, endpoints: EndpointsOption = None) -> None:
    """Answer that fraction (0-1) of a host's WinRM requests with HTTP 500."""
    _inject(endpoints, "error_rate", host=host, rate=rate)


@fault_app.command("cmdlet-latency")
@guarded
def cmdlet_latency(host: str, cmdlet: str, seconds: float, endpoints: EndpointsOption = None) -> None:
    """Make one cmdlet slow on a host."""
    _inject(endpoints, "cmdlet_latency", host=host, cmdlet=cmdlet, seconds=seconds)


@fault_app.command("cmdlet-error")
@guarded
def cmdlet_error(host: str, cmdlet: str, endpoints: EndpointsOption = None) -> None:
    """Make one cmdlet fail on a host (``The operation failed.``) before it changes anything."""
    _inject(endpoints, "cmdlet_error", host=host, cmdlet=cmdlet)


@fault_app.command("storage-full")
@guarded
def storage_full(host: str, endpoints: EndpointsOption = None) -> None:
    """Fill a host's replica storage: replication into it fails."""
    _inject(endpoints, "storage_full", host=host)


@fault_app.command()
@guarded
def crash(host: str, endpoints: EndpointsOption = None) -> None:
    """Crash a host: VMs power off, replica logs are lost (resync needed); down until the fault is cleared."""
    _inject(endpoints, "crash", host=host)


@fault_app.command("hung-guest")
@guarded
def hung_guest(host: str, vm: str, endpoints: EndpointsOption = None) -> None:
    """Hang a VM's guest: it ignores shutdown (Stop-VM fails after 5 minutes, -Force turns it off then)."""
    _inject(endpoints, "hung_guest", host=host, vm=vm)


@fault_app.command("slow-boot")
@guarded
def slow_boot(host: str, vm: str, seconds: float, endpoints: EndpointsOption = None) -> None:
    """Make every boot of a VM take that many (simulated) seconds longer before its heartbeat appears."""
    _inject(endpoints, "slow_boot", host=host, vm=vm, seconds=seconds)


@fault_app.command("integration-services-off")
@guarded
def integration_services_off(host: str, vm: str, endpoints: EndpointsOption = None) -> None:
    """Stop a VM's integration services: no heartbeat, no IP addresses, no failover IP, no guest shutdown."""
    _inject(endpoints, "integration_services_off", host=host, vm=vm)


@fault_app.command("list")
@guarded
def list_faults(
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml")] = OutputFormat.table,
    endpoints: EndpointsOption = None,
) -> None:
    """The faults in force."""
    rows = _call(endpoints, "GET", "/faults")
    for row in rows:
        target = row.get("host") or f"{row.get('site_a')} <-> {row.get('site_b')}"
        row["target"] = f"{target} / {row['vm']}" if row.get("vm") else target
        row["value"] = row.get("seconds", row.get("rate", row.get("cmdlet", "")))
    emit(rows, ["id", "kind", "target", "value"], output, title="lab faults")


@fault_app.command()
@guarded
def clear(
    fault_id: Annotated[str | None, typer.Argument(help="The fault to clear (see `hvdr lab fault list`).")] = None,
    all_faults: Annotated[bool, typer.Option("--all", help="Clear every fault.")] = False,
    endpoints: EndpointsOption = None,
) -> None:
    """Clear one fault, or all of them with --all."""
    if (fault_id is None) == (not all_faults):
        fail("give a fault id or --all (not both)")
    result = _call(endpoints, "DELETE", "/faults" if all_faults else f"/faults/{fault_id}")
    cleared = result.get("cleared", [])
    say(f"cleared {len(cleared)} fault(s)" + (": " + ", ".join(f["id"] for f in cleared) if cleared else ""))
