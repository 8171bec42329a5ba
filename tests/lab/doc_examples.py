r"""Examples from Microsoft's Hyper-V Replica pages, verbatim, for ``tests/hyperv/test_doc_examples.py``.

Read through the search tools on 2026-12-01:

- repository MicrosoftDocs/windows-powershell-docs, ``docset/winserver2022-ps/hyper-v/<Cmdlet>.md``, section
  EXAMPLES: each code block as printed, ``PS C:\>`` prompts included (the prompt is the page's, not the command's;
  :func:`commands` removes it, nothing else);
- repository MicrosoftDocs/windowsserverdocs, ``WindowsServerDocs/virtualization/hyper-v/replication-failover.md``,
  tab "PowerShell": one code block per step. That page says "Be sure to replace placeholder `<values>` with your
  own": :data:`PLACEHOLDERS` is that replacement, the only change made to its text.

``refused`` is None for an example that runs unchanged; otherwise it says why no lab (and no real host set up as
the page describes) can run it, and the test asserts the refusal is PowerShell's or Hyper-V's real error.

Pages read with no example in scope: Set-VMNetworkAdapter (no ``-TestReplicaSwitchName`` example; its examples are
DHCP guard, port mirroring, VMQ, teaming and bandwidth), Get-VMSnapshot (``-SnapshotType Standard`` only, on
``TestVM``), replication-virtual-machines.md (enabling replication; failover is on replication-failover.md).
"""

from __future__ import annotations

import re
from typing import NamedTuple

REFERENCE = "MicrosoftDocs/windows-powershell-docs:docset/winserver2022-ps/hyper-v/"
FAILOVER_PAGE = "MicrosoftDocs/windowsserverdocs:WindowsServerDocs/virtualization/hyper-v/replication-failover.md"

PRIMARY = "MyPrimary.contoso.com"
REPLICA = "MyReplica.contoso.com"
"""The hosts of Start-VMFailover's Example 4 (and Start-VMInitialReplication's Example 4)."""


class DocExample(NamedTuple):
    page: str
    title: str
    code: str
    refused: str | None = None


def _ref(cmdlet: str, title: str, code: str, refused: str | None = None) -> DocExample:
    return DocExample(f"{REFERENCE}{cmdlet}.md", title, code, refused)


def _step(title: str, code: str) -> DocExample:
    return DocExample(FAILOVER_PAGE, title, code)


# Start-VMFailover.md
FAILOVER_SNAPSHOT = _ref(
    "Start-VMFailover",
    "Example 1",
    r"PS C:\> Get-VMSnapshot VM01 -Name Snapshot01 | Start-VMFailover",
    "Snapshot01 names a recovery point; Hyper-V names recovery points itself "
    "('VM01 - Standard Replica - (<date> - <time>)') and refuses user checkpoints on a Replica VM, "
    "so no replica ever holds one named Snapshot01",
)
FAILOVER_AS_TEST = _ref("Start-VMFailover", "Example 2", r"PS C:\> Start-VMFailover VM01 -AsTest")
FAILOVER_SNAPSHOT_AS_TEST = _ref(
    "Start-VMFailover",
    "Example 3",
    r"PS C:\> Get-VMSnapshot VM01 -Name Snapshot01 | Start-VMFailover -AsTest",
    FAILOVER_SNAPSHOT.refused,
)
PLANNED_FAILOVER = _ref(
    "Start-VMFailover",
    "Example 4",
    "PS C:\\> Start-VMFailover -Prepare -VMName VM01  -computername MyPrimary.contoso.com\n"
    "PS C:\\> Start-VMFailover -VMName VM01 -computername MyReplica.contoso.com\n"
    "PS C:\\> Set-VMReplication -Reverse -VMName VM01 -computername MyReplica.contoso.com\n"
    "PS C:\\> Start-VM -VMName VM01 -computername MyReplica.contoso.com",
)

# Stop-VMFailover.md, Complete-VMFailover.md
STOP_FAILOVER = _ref("Stop-VMFailover", "Example 1", "Stop-VMFailover VM01")
STOP_FAILOVER_ALL = _ref("Stop-VMFailover", "Example 2", "Stop-VMFailover *")
COMPLETE_FAILOVER = _ref("Complete-VMFailover", "Example 1", "Complete-VMFailover VM01")
COMPLETE_FAILOVER_ALL = _ref("Complete-VMFailover", "Example 2", "Complete-VMFailover *")

# Set-VMReplication.md (the examples about reversing and replica roles, and Example 1 for its misspelt parameter)
RESYNC_TYPO = _ref(
    "Set-VMReplication",
    "Example 1",
    r'PS C:\>  Set-VMReplication VM01 -AutoResynchronizedDisabled $true -AutoResynchronizeIntervalStart "18:30:00" '
    r'-AutoResynchronizeIntervalEnd "06:00:00"',
    "the page misspells the parameter: Set-VMReplication has no -AutoResynchronizedDisabled "
    "(it has -AutoResynchronizeEnabled), so PowerShell's binder refuses it on any host",
)
AS_REPLICA_FROM = _ref(
    "Set-VMReplication",
    "Example 2",
    r"PS C:\>  Set-VMReplication VM01 -AsReplica -AllowedPrimaryServer server01.domain01.contoso.com",
)
REVERSE = _ref("Set-VMReplication", "Example 4", r"PS C:\>  Set-VMReplication VM01 -Reverse")

# Start-VMInitialReplication.md
INITIAL_REPLICATION = _ref("Start-VMInitialReplication", "Example 1", r"PS C:\> Start-VMInitialReplication VM01")
INITIAL_FROM_BACKUP = _ref(
    "Start-VMInitialReplication",
    "Example 4",
    "PS C:\\> Enable-VMReplication VM01 -AsReplica -computername MyReplica.contoso.com\n"
    "PS C:\\> Enable-VMReplication VMO1 -ReplicaServerName ReplicaServer01 -ReplicaServerPort 80 "
    "-AuthenticationType Kerberos -computername MyPrimary.contoso.comPS\n"
    "PS C:\\> Start-VMInitialReplication VM01 -usebackup -computername MyPrimary.contoso.com",
    "the second line is garbled on the page (VM 'VMO1' with a letter O, computer 'MyPrimary.contoso.comPS'): "
    "it fails as an unreachable computer does, and -UseBackup then finds no replication enabled",
)

# Set-/Get-VMNetworkAdapterFailoverConfiguration.md
FAILOVER_IPV4 = _ref(
    "Set-VMNetworkAdapterFailoverConfiguration",
    "Example 1",
    r"PS C:\> Get-VMNetworkAdapter VM01 NetworkAdapter01 | Set-VMNetworkAdapterFailoverConfiguration "
    r"-IPv4Address 10.100.1.100 -IPv4SubnetMask 255.255.255.0",
)
CLEAR_IPV4 = _ref(
    "Set-VMNetworkAdapterFailoverConfiguration",
    "Example 2",
    r"PS C:\> Get-VMNetworkAdapter VM01 NetworkAdapter01 | Set-VMNetworkAdapterFailoverConfiguration "
    r"-ClearFailoverIPv4Settings",
)
FAILOVER_IPV6 = _ref(
    "Set-VMNetworkAdapterFailoverConfiguration",
    "Example 3",
    r"PS C:\> Get-VMNetworkAdapter VM01 NetworkAdapter01 | Set-VMNetworkAdapterFailoverConfiguration "
    r"-Ipv6Address aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaa:aaaa -Ipv6SubnetPrefixLength 12",
)
CLEAR_IPV6 = _ref(
    "Set-VMNetworkAdapterFailoverConfiguration",
    "Example 4",
    r"PS C:\> Get-VMNetworkAdapter VM01 NetworkAdapter01 | Set-VMNetworkAdapterFailoverConfiguration "
    r"-ClearFailoverIPv6Settings",
)
GET_FAILOVER_IP = _ref(
    "Get-VMNetworkAdapterFailoverConfiguration", "Example 1", "Get-VMNetworkAdapterFailoverConfiguration VM01"
)
GET_FAILOVER_IP_ADAPTER = _ref(
    "Get-VMNetworkAdapterFailoverConfiguration",
    "Example 2",
    "Get-VMNetworkAdapterFailoverConfiguration VM01 -VMNetworkAdapterName NetworkAdapter",
)

# Stop-VM.md, Start-VM.md: the power steps of every failover sequence, on the pages' own VMs (TestVM, VM1)
STOP_VM = _ref("Stop-VM", "Example 1", r"PS C:\> Stop-VM -Name TestVM")
STOP_VM_FORCE = _ref("Stop-VM", "Example 2", r"PS C:\> Stop-VM -Name VM1 -Force")
TURN_OFF = _ref("Stop-VM", "Example 3", r"PS C:\> Stop-VM -Name TestVM -TurnOff")
START_VM = _ref("Start-VM", "Example 1", r"PS C:\> Start-VM -Name TestVM")
START_VMS = _ref("Start-VM", "Example 2", r"PS C:\> Start-VM -Name Test*")

# replication-failover.md, tab PowerShell: "Test failover by using PowerShell"
TEST_FAILOVER = [
    _step("Test failover: initiate", "Start-VMFailover -VMName '<VM Name>' -AsTest"),
    _step("Test failover: start the test VM", "Start-VM -Name '<VM Name> - Test'"),
    _step("Test failover: stop", "Stop-VMFailover -VMName '<VM Name>'"),
]
# "Planned failover using PowerShell": the first two steps on the primary host, the rest on the replica host
PLANNED_ON_PRIMARY = [
    _step("Planned failover: shut down", "Stop-VM -Name '<VM Name>'"),
    _step("Planned failover: prepare", "Start-VMFailover -VMName '<VM Name>' -Prepare"),
]
PLANNED_ON_REPLICA = [
    _step("Planned failover: fail over", "Start-VMFailover -VMName '<VM Name>'"),
    _step("Planned failover: reverse", "Set-VMReplication -VMName '<VMName>' -Reverse"),
    _step("Planned failover: start", "Start-VM -Name '<VM Name>'"),
]
# "Unplanned failover using PowerShell" (replica host)
CHECK = "Get-VMReplication -VMName '<VM Name>' | FL VMName, ReplicationMode, ReplicationState"
UNPLANNED = [
    _step("Unplanned failover: fail over", "Start-VMFailover -VMName '<VM Name>'"),
    _step("Unplanned failover: start", "Start-VM -Name '<VM Name>'"),
    _step("Unplanned failover: complete", "Complete-VMFailover -VMName '<VM Name>'"),
    _step("Unplanned failover: check", CHECK),
]
# "Reverse replication after unplanned failover using PowerShell": first on the original primary host ...
REVERSE_ON_OLD_PRIMARY = [
    _step("Reverse after unplanned: mark as replica", "Set-VMReplication -VMName '<VM Name>' -AsReplica"),
    _step("Reverse after unplanned: check the original primary", CHECK),
]
# ... then on the replica host
REVERSE_ON_NEW_PRIMARY = [
    _step(
        "Reverse after unplanned: reverse",
        "Set-VMReplication -VMName '<VMName>' -Reverse -ReplicaServerName '<Replica cluster broker or server FQDN>'",
    ),
    _step("Reverse after unplanned: start replication", "Start-VMInitialReplication -VMName '<VM Name>'"),
    _step("Reverse after unplanned: check", CHECK),
]

PLACEHOLDERS = {
    "<VM Name>": "VM01",
    "<VMName>": "VM01",
    "<Replica cluster broker or server FQDN>": PRIMARY,
}
"""replication-failover.md's placeholders, filled with Start-VMFailover Example 4's VM and original primary."""

_PROMPT = re.compile(r"^PS C:\\>\s*", re.MULTILINE)


def commands(example: DocExample) -> str:
    """The example's script: the page's text without its ``PS C:\\>`` prompts and with its placeholders filled."""
    script = _PROMPT.sub("", example.code)
    for placeholder, value in PLACEHOLDERS.items():
        script = script.replace(placeholder, value)
    return script


def _collect() -> list[DocExample]:
    found: list[DocExample] = []
    for value in list(globals().values()):
        if isinstance(value, DocExample):
            found.append(value)
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, DocExample) and v not in found)
    return found


ALL_EXAMPLES = _collect()
"""Every example above, so a test can check each is exercised."""
