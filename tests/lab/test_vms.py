"""VM power semantics, integration services, adapters, the host, and the VMM servers' view."""

from __future__ import annotations

import uuid

from hvdr.lab.cmdlets import ps_hosts
from hvdr.lab.models.enums import VMHeartbeatStatus, VMIntegrationComponentOperationalStatus, VMState
from hvdr.lab.seam import Invocation
from tests.lab.conftest import A1, Shell


def test_stop_vm_shutdown_force_turnoff_save(sh: Shell) -> None:
    sh(A1, "Stop-VM", "db-01")
    assert sh.vm(A1, "db-01").state is VMState.Off
    sh(A1, "Stop-VM", "db-01")  # already Off: Hyper-V only warns
    sh(A1, "Stop-VM", "app-01", Save=True)
    assert sh.vm(A1, "app-01").state is VMState.Saved
    error = sh.fails(A1, "Stop-VM", "app-01")
    assert error.error_id == "InvalidState" and "Saved" in error.message
    sh(A1, "Stop-VM", "app-01", TurnOff=True)
    assert sh.vm(A1, "app-01").state is VMState.Off
    assert sh.fails(A1, "Stop-VM", "web-01", TurnOff=True, Save=True).error_id == "InvalidParameter"


def test_a_booting_guest_cannot_shut_down_without_force(sh: Shell) -> None:
    sh(A1, "Stop-VM", "web-01", TurnOff=True)
    sh(A1, "Start-VM", "web-01")
    vm = sh.one(A1, "Get-VM", "web-01")
    assert vm["State"] is VMState.Running and vm["Heartbeat"] is VMHeartbeatStatus.NoContact
    assert sh.fails(A1, "Stop-VM", "web-01").error_id == "InvalidState"
    sh.advance(60)
    assert sh.one(A1, "Get-VM", "web-01")["Heartbeat"] is VMHeartbeatStatus.OkApplicationsUnknown
    sh(A1, "Stop-VM", "web-01", Force=True)
    assert sh.one(A1, "Get-VM", "web-01")["Heartbeat"] is None


def test_integration_services_report_the_guest(sh: Shell) -> None:
    services = {s.ps_get("Name"): s for s in sh(A1, "Get-VMIntegrationService", "db-01")}
    assert services["Heartbeat"].ps_get("PrimaryStatusDescription") == "OK"
    assert services["Heartbeat"].ps_get("PrimaryOperationalStatus") is VMIntegrationComponentOperationalStatus.Ok
    assert services["Guest Service Interface"].ps_get("Enabled") is False
    sh.vm(A1, "db-01").guest_responsive = False
    (hb,) = sh(A1, "Get-VMIntegrationService", "db-01", Name="Heartbeat")
    assert hb.ps_get("PrimaryStatusDescription") == "Lost Communication"
    sh(A1, "Stop-VM", "db-01", TurnOff=True)
    (hb,) = sh(A1, "Get-VMIntegrationService", VMName="db-01", Name="Heartbeat")
    assert hb.ps_get("PrimaryStatusDescription") is None


def test_get_vm_has_the_real_properties(sh: Shell) -> None:
    vm = sh.one(A1, "Get-VM", "db-01")
    for key in (
        "Name",
        "Id",
        "VMName",
        "VMId",
        "State",
        "Status",
        "Uptime",
        "ComputerName",
        "ReplicationState",
        "ReplicationHealth",
        "ReplicationMode",
        "Heartbeat",
        "ProcessorCount",
        "MemoryStartup",
        "Generation",
        "Path",
        "NetworkAdapters",
        "HardDrives",
    ):
        assert key in vm
    assert isinstance(vm["Id"], uuid.UUID) and vm["ProcessorCount"] == 8 and vm["ComputerName"] == "HV-A1"
    assert next(d.ps_get("Path") for d in vm["HardDrives"]).endswith("db-01-os.vhdx")
    assert vm["ReplicationMode"].name == "None" and vm["ReplicationState"].name == "Disabled"


def test_host_switches_and_adapters(sh: Shell) -> None:
    host = sh.one(A1, "Get-VMHost")
    assert (host["ComputerName"], host["FullyQualifiedDomainName"]) == ("HV-A1", A1)
    assert host["LogicalProcessorCount"] == 16 and host["MemoryCapacity"] == 256 * 1024**3
    assert [s.ps_get("Name") for s in sh(A1, "Get-VMSwitch")] == ["vSwitch-Prod", "vSwitch-Test"]
    assert sh.fails(A1, "Get-VMSwitch", "nope").error_id == "ObjectNotFound"
    (adapter,) = sh(A1, "Get-VMNetworkAdapter", "db-01")
    assert adapter.ps_get("SwitchName") == "vSwitch-Prod" and adapter.ps_get("IPAddresses") == ["10.1.0.11"]
    sh(A1, "Connect-VMNetworkAdapter", VMName="db-01", Name="Network Adapter", SwitchName="vSwitch-Test")
    assert sh(A1, "Get-VMNetworkAdapter", "db-01")[0].ps_get("SwitchName") == "vSwitch-Test"
    assert sh.fails(A1, "Connect-VMNetworkAdapter", VMName="db-01", SwitchName="nope").error_id == "ObjectNotFound"


def test_failover_ip_configuration_is_kept(sh: Shell) -> None:
    sh(
        A1,
        "Set-VMNetworkAdapterFailoverConfiguration",
        VMName="app-01",
        IPv4Address="10.2.0.21",
        IPv4SubnetMask="255.255.255.0",
        IPv4DefaultGateway="10.2.0.1",
        IPv4PreferredDNSServer="10.2.0.2",
    )
    setting = sh.one(A1, "Get-VMNetworkAdapterFailoverConfiguration", "app-01")
    keys = ("IPv4Address", "IPv4SubnetMask", "IPv4DefaultGateway", "IPv4PreferredDNSServer")
    assert {k: setting[k] for k in keys} == {
        "IPv4Address": "10.2.0.21",
        "IPv4SubnetMask": "255.255.255.0",
        "IPv4DefaultGateway": "10.2.0.1",
        "IPv4PreferredDNSServer": "10.2.0.2",
    }


def test_remove_vm_needs_it_off(sh: Shell) -> None:
    assert sh.fails(A1, "Remove-VM", "web-01", Force=True).error_id == "InvalidState"
    sh(A1, "Stop-VM", "web-01", TurnOff=True)
    sh(A1, "Remove-VM", "web-01", Force=True)
    assert sh(A1, "Get-VM", "web-0*")[0].ps_get("Name") == "web-03"


def test_computername_runs_the_cmdlet_on_that_host(sh: Shell) -> None:
    assert sh(A1, "Get-VM", ComputerName="hv-a2")[0].ps_get("ComputerName") == "HV-A2"
    unreachable = sh.fails(A1, "Get-VM", ComputerName="nowhere")
    assert (unreachable.error_id, unreachable.category) == ("Unspecified", "NotSpecified")
    assert unreachable.message.startswith("The operation on computer 'nowhere' failed: WinRM cannot process")


def test_vmm_servers_report_their_sites_inventory(sh: Shell) -> None:
    hosts = ps_hosts(sh.backend)
    vmm = hosts["vmm-a.site-a.lab.local"]
    assert vmm.cmdlet("Get-VM") is None and hosts[A1].cmdlet("Get-SCCloud") is None

    def run(name: str, **named: object) -> list[dict[str, object]]:
        fn = vmm.cmdlet(name)
        assert fn is not None
        return [o.ps_properties() for o in fn(Invocation(name, list(named.items())))]

    assert run("Get-SCVMMServer", ComputerName="vmm-a")[0]["Name"] == "vmm-a.site-a.lab.local"
    (cloud,) = run("Get-SCCloud")
    assert cloud["Name"] == "cloud-a" and isinstance(cloud["ID"], uuid.UUID)
    assert [g.ps_get("Path") for g in cloud["HostGroup"]] == ["All Hosts\\site-a\\cloud-a"]  # type: ignore[attr-defined]
    vmhosts = run("Get-SCVMHost")
    assert [(h["Name"], h["ComputerName"], h["OverallState"]) for h in vmhosts] == [
        (A1, "hv-a1", "OK"),
        ("hv-a2.site-a.lab.local", "hv-a2", "OK"),
    ]
    assert vmhosts[0]["VMHostGroup"].ps_get("Path") == "All Hosts\\site-a\\cloud-a"  # type: ignore[attr-defined]
    vms = {v["Name"]: v for v in run("Get-SCVirtualMachine")}
    assert len(vms) == 12 and vms["db-01"]["Status"] == "Running"
    assert vms["db-01"]["VMId"] == sh.vm(A1, "db-01").id
    assert vms["db-01"]["VMHost"].ps_get("Name") == A1  # type: ignore[attr-defined]
    assert vms["db-01"]["Cloud"].ps_get("Name") == "cloud-a"  # type: ignore[attr-defined]
    sh(A1, "Stop-VM", "db-01", TurnOff=True)
    assert run("Get-SCVirtualMachine", Name="db-01")[0]["Status"] == "PowerOff"
