"""Facts transcribed from Microsoft's cmdlet reference, one entry per cmdlet the lab serves.

Source: repository MicrosoftDocs/windows-powershell-docs, ``docset/winserver2022-ps/hyper-v/<Cmdlet>.md`` (the
``page`` of each entry), read through the search tools: the SYNTAX section's parameter sets and default set, and
each parameter block's Type, Parameter Sets, Aliases, Required, Position and "Accept pipeline input".

A parameter is ``(name, type, sets, position, required, aliases, pipeline)``: ``sets`` ``("*",)`` means "(All)";
``position`` None means "Named"; ``pipeline`` is the text after "True" ("ByValue", "ByPropertyName",
"ByPropertyName, ByValue") or "" for False. A parameter documented once per group of sets appears once per block.
"""

from __future__ import annotations

from typing import NamedTuple


class P(NamedTuple):
    name: str
    type: str
    sets: tuple[str, ...]
    position: int | None
    required: bool
    aliases: tuple[str, ...] = ()
    pipeline: str = ""


class Cmdlet(NamedTuple):
    page: str
    default_set: str | None
    params: tuple[P, ...]
    not_simulated: dict[str, str] = {}
    """Documented parameters the lab leaves out, with the reason (calling them gives NamedParameterNotFound)."""


ALL = ("*",)
DOCS = "docset/winserver2022-ps/hyper-v/"


def _remoting(*sets: str) -> tuple[P, ...]:
    return (
        P("CimSession", "CimSession[]", sets, None, False),
        P("ComputerName", "String[]", sets, None, False),
        P("Credential", "PSCredential[]", sets, None, False),
    )


SHOULD_PROCESS = (
    P("Confirm", "SwitchParameter", ALL, None, False, ("cf",)),
    P("WhatIf", "SwitchParameter", ALL, None, False, ("wi",)),
)
AS_JOB = P("AsJob", "SwitchParameter", ALL, None, False)
PASSTHRU = P("Passthru", "SwitchParameter", ALL, None, False)


def _vm_sets(
    name_set: str = "VMName", object_set: str = "VMObject", name: str = "VMName", aliases: tuple[str, ...] = ()
) -> tuple[P, ...]:
    return (
        P(name, "String[]", (name_set,), 0, True, aliases, "ByValue"),
        P("VM", "VirtualMachine[]", (object_set,), 0, True, (), "ByValue"),
    )


REFERENCE: dict[str, Cmdlet] = {
    "Start-VMFailover": Cmdlet(
        DOCS + "Start-VMFailover.md",
        "VMName",
        (
            AS_JOB,
            P("AsTest", "SwitchParameter", ("VMName_Test", "VMObject_Test", "VMSnapshot_Test"), None, True),
            *_remoting("VMName", "VMName_Test"),
            PASSTHRU,
            P("Prepare", "SwitchParameter", ("VMName", "VMObject"), None, False),
            P("VM", "VirtualMachine[]", ("VMObject", "VMObject_Test"), 0, True, (), "ByValue"),
            P("VMName", "String[]", ("VMName", "VMName_Test"), 0, True, (), "ByValue"),
            P(
                "VMRecoverySnapshot",
                "VMSnapshot",
                ("VMSnapshot", "VMSnapshot_Test"),
                0,
                True,
                ("VMRecoveryCheckpoint",),
                "ByValue",
            ),
            *SHOULD_PROCESS,
        ),
    ),
    "Complete-VMFailover": Cmdlet(
        DOCS + "Complete-VMFailover.md",
        "VMName",
        (*_remoting("VMName"), PASSTHRU, *_vm_sets(), *SHOULD_PROCESS),
    ),
    "Stop-VMFailover": Cmdlet(
        DOCS + "Stop-VMFailover.md",
        "VMName",
        (AS_JOB, *_remoting("VMName"), PASSTHRU, *_vm_sets(), *SHOULD_PROCESS),
    ),
    "Get-VMSnapshot": Cmdlet(
        DOCS + "Get-VMSnapshot.md",
        "VMName",
        (
            P("ChildOf", "VMSnapshot", ("Child",), None, True),
            *_remoting("VMName", "Id"),
            P("Id", "Guid", ("Id",), 0, True, (), "ByPropertyName, ByValue"),
            P("Name", "String", ("VMName", "VMObject", "Parent", "Child"), 1, False),
            P("ParentOf", "VirtualMachineBase", ("Parent",), None, True),
            P(
                "SnapshotType",
                "SnapshotType",
                ("VMName", "VMObject", "Parent", "Child"),
                None,
                False,
                ("VMRecoveryCheckpoint",),
            ),
            *_vm_sets(),
        ),
        {
            "ChildOf": "replica recovery points form no tree in the lab",
            "ParentOf": "replica recovery points form no tree in the lab",
        },
    ),
    "Get-VM": Cmdlet(
        DOCS + "Get-VM.md",
        "Name",
        (
            *_remoting("Name", "Id"),
            P("ClusterObject", "PSObject", ("ClusterObject",), 0, True, (), "ByValue"),
            P("Id", "Guid", ("Id",), 0, False, (), "ByPropertyName, ByValue"),
            P("Name", "String[]", ("Name",), 0, False, ("VMName",), "ByValue"),
        ),
        {"ClusterObject": "the lab has no failover clusters"},
    ),
    "Start-VM": Cmdlet(
        DOCS + "Start-VM.md",
        "Name",
        (AS_JOB, *_remoting("Name"), PASSTHRU, *_vm_sets("Name", name="Name", aliases=("VMName",)), *SHOULD_PROCESS),
    ),
    "Stop-VM": Cmdlet(
        DOCS + "Stop-VM.md",
        "Name",
        (
            AS_JOB,
            *_remoting("Name"),
            P("Force", "SwitchParameter", ALL, None, False),
            PASSTHRU,
            P("Save", "SwitchParameter", ALL, None, False),
            P("TurnOff", "SwitchParameter", ALL, None, False),
            *_vm_sets("Name", name="Name", aliases=("VMName",)),
            *SHOULD_PROCESS,
        ),
    ),
    "Remove-VM": Cmdlet(
        DOCS + "Remove-VM.md",
        "Name",
        (
            AS_JOB,
            *_remoting("Name"),
            P("Force", "SwitchParameter", ALL, None, False),
            PASSTHRU,
            *_vm_sets("Name", name="Name", aliases=("VMName",)),
            *SHOULD_PROCESS,
        ),
    ),
    "Get-VMHost": Cmdlet(
        DOCS + "Get-VMHost.md",
        "ComputerName",
        (
            P("CimSession", "CimSession[]", ("CimSession",), 0, True, (), "ByPropertyName"),
            P("ComputerName", "String[]", ("ComputerName",), 0, False, (), "ByValue"),
            P("Credential", "PSCredential[]", ("ComputerName",), 1, False, (), "ByValue"),
        ),
    ),
    "Get-VMSwitch": Cmdlet(
        DOCS + "Get-VMSwitch.md",
        "Name",
        (
            P("CimSession", "CimSession[]", ALL, None, False),
            P("ComputerName", "String[]", ALL, None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            P("Id", "Guid[]", ("Id",), 0, False, ("SwitchId",), "ByPropertyName, ByValue"),
            P("Name", "String", ("Name",), 0, False, ("SwitchName",)),
            P("ResourcePoolName", "String[]", ALL, 1, False),
            P("SwitchType", "VMSwitchType[]", ALL, None, False),
        ),
        {"Id": "switches in the lab are known by name", "ResourcePoolName": "the lab has no resource pools"},
    ),
    "Get-VMNetworkAdapter": Cmdlet(
        DOCS + "Get-VMNetworkAdapter.md",
        "VMName",
        (
            P("All", "SwitchParameter", ("All",), None, True),
            *_remoting("VMName", "ManagementOS", "All"),
            P("IsLegacy", "Boolean", ("VMName", "VMObject"), None, False),
            P("ManagementOS", "SwitchParameter", ("ManagementOS",), None, True),
            P("Name", "String", ALL, 1, False, ("VMNetworkAdapterName",)),
            P("SwitchName", "String", ("ManagementOS",), None, False),
            *_vm_sets(),
            P("VMSnapshot", "VMSnapshot", ("VMSnapshot",), 0, True, ("VMCheckpoint",), "ByValue"),
        ),
        {
            "IsLegacy": "the lab's adapters are all synthetic",
            "ManagementOS": "the lab models no host adapters",
            "SwitchName": "only with -ManagementOS",
            "VMSnapshot": "the lab's checkpoints carry no adapters",
        },
    ),
    "Connect-VMNetworkAdapter": Cmdlet(
        DOCS + "Connect-VMNetworkAdapter.md",
        "Name_SwitchName",
        (
            *_remoting("Name_SwitchName", "Name_UseAutomaticConnection"),
            P(
                "Name",
                "String[]",
                ("Name_SwitchName", "Name_SwitchObject", "Name_UseAutomaticConnection"),
                1,
                False,
                ("VMNetworkAdapterName",),
            ),
            PASSTHRU,
            P("SwitchName", "String", ("Name_SwitchName", "Object_SwitchName"), 1, True),
            P(
                "UseAutomaticConnection",
                "SwitchParameter",
                ("Object_UseAutomaticConnection", "Name_UseAutomaticConnection"),
                None,
                True,
            ),
            P("VMName", "String[]", ("Name_SwitchName", "Name_SwitchObject", "Name_UseAutomaticConnection"), 0, True),
            P(
                "VMNetworkAdapter",
                "VMNetworkAdapter[]",
                ("Object_SwitchName", "Object_SwitchObject", "Object_UseAutomaticConnection"),
                0,
                True,
                (),
                "ByValue",
            ),
            P("VMSwitch", "VMSwitch", ("Object_SwitchObject", "Name_SwitchObject"), 2, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
        {"UseAutomaticConnection": "the lab has no resource pools"},
    ),
    "Get-VMIntegrationService": Cmdlet(
        DOCS + "Get-VMIntegrationService.md",
        "VMName",
        (
            *_remoting("VMName"),
            P("Name", "String[]", ALL, 1, False),
            *_vm_sets(),
            P("VMSnapshot", "VMSnapshot", ("VMSnapshot",), 0, True, ("VMCheckpoint",), "ByValue"),
        ),
        {"VMSnapshot": "the lab's checkpoints carry no integration services"},
    ),
    "Set-VMNetworkAdapterFailoverConfiguration": Cmdlet(
        DOCS + "Set-VMNetworkAdapterFailoverConfiguration.md",
        "VMName",
        (
            *_remoting("VMName"),
            P("ClearFailoverIPv4Settings", "SwitchParameter", ALL, None, False),
            P("ClearFailoverIPv6Settings", "SwitchParameter", ALL, None, False),
            P("IPv4Address", "String", ALL, None, False),
            P("IPv4AlternateDNSServer", "String", ALL, None, False),
            P("IPv4DefaultGateway", "String", ALL, None, False),
            P("IPv4PreferredDNSServer", "String", ALL, None, False),
            P("IPv4SubnetMask", "String", ALL, None, False),
            P("IPv6Address", "String", ALL, None, False),
            P("IPv6AlternateDNSServer", "String", ALL, None, False),
            P("IPv6DefaultGateway", "String", ALL, None, False),
            P("IPv6PreferredDNSServer", "String", ALL, None, False),
            P("IPv6SubnetPrefixLength", "Int32", ALL, None, False),
            PASSTHRU,
            P("VM", "VirtualMachine", ("VMObject",), 0, True, (), "ByValue"),
            P("VMName", "String", ("VMName",), 0, True, (), "ByValue"),
            P("VMNetworkAdapter", "VMNetworkAdapter", ("ResourceObject",), 0, True, (), "ByPropertyName, ByValue"),
            P("VMNetworkAdapterName", "String", ("VMName", "VMObject"), None, False),
            *SHOULD_PROCESS,
        ),
    ),
    "Get-VMReplicationServer": Cmdlet(
        DOCS + "Get-VMReplicationServer.md",
        "ComputerName",
        (
            P("CimSession", "CimSession[]", ("CimSession",), 0, True, (), "ByValue"),
            P("ComputerName", "String[]", ("ComputerName",), 0, False, (), "ByValue"),
            P("Credential", "PSCredential[]", ("ComputerName",), 1, False),
        ),
    ),
    "Test-VMReplicationConnection": Cmdlet(
        DOCS + "Test-VMReplicationConnection.md",
        None,
        (
            P("AuthenticationType", "ReplicationAuthenticationType", ALL, 2, True, ("AuthType",)),
            P("BypassProxyServer", "Boolean", ALL, None, False),
            P("CertificateThumbprint", "String", ALL, 3, False, ("Thumbprint",), "ByPropertyName"),
            P("CimSession", "CimSession[]", ALL, None, False),
            P("ComputerName", "String[]", ALL, None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            P("ReplicaServerName", "String", ALL, 0, True, ("ReplicaServer",)),
            P("ReplicaServerPort", "Int32", ALL, 1, True, ("ReplicaPort",)),
        ),
    ),
    "Suspend-VMReplication": Cmdlet(
        DOCS + "Suspend-VMReplication.md",
        "VMName",
        (
            *_remoting("VMName"),
            PASSTHRU,
            P(
                "ReplicationRelationshipType",
                "VMReplicationRelationshipType",
                ("VMName",),
                None,
                False,
                ("Relationship",),
            ),
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Resume-VMReplication": Cmdlet(
        DOCS + "Resume-VMReplication.md",
        "VMName",
        (
            AS_JOB,
            P("CimSession", "CimSession[]", ALL, None, False),
            P("ComputerName", "String[]", ("VMName",), None, False),
            P("Continue", "SwitchParameter", ALL, None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            PASSTHRU,
            P(
                "ReplicationRelationshipType",
                "VMReplicationRelationshipType",
                ("VMName", "VMObject"),
                None,
                False,
                ("Relationship",),
            ),
            P("Resynchronize", "SwitchParameter", ALL, None, False, ("Resync",)),
            P("ResynchronizeStartTime", "DateTime", ALL, None, False, ("ResyncStart",)),
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Stop-VMReplication": Cmdlet(
        DOCS + "Stop-VMReplication.md",
        "VMName",
        (
            P("CimSession", "CimSession[]", ALL, None, False),
            P("ComputerName", "String[]", ("VMName",), None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            PASSTHRU,
            P(
                "ReplicationRelationshipType",
                "VMReplicationRelationshipType",
                ("VMName", "VMObject"),
                None,
                False,
                ("Relationship",),
            ),
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Remove-VMReplication": Cmdlet(
        DOCS + "Remove-VMReplication.md",
        "VMName",
        (
            *_remoting("VMName"),
            PASSTHRU,
            P(
                "ReplicationRelationshipType",
                "VMReplicationRelationshipType",
                ("VMName",),
                None,
                False,
                ("Relationship",),
            ),
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Get-VMReplication": Cmdlet(
        DOCS + "Get-VMReplication.md",
        "VMName",
        (
            *_remoting("VMName"),
            P("PrimaryServerName", "String", ("VMName",), None, False, ("PrimaryServer",)),
            P("ReplicaServerName", "String", ("VMName",), None, False, ("ReplicaServer",)),
            P("ReplicationHealth", "VMReplicationHealthState", ("VMName",), None, False, ("Health",)),
            P("ReplicationMode", "VMReplicationMode", ("VMName",), None, False, ("Mode",)),
            P("ReplicationRelationshipType", "VMReplicationRelationshipType", ALL, None, False, ("Relationship",)),
            P("ReplicationState", "VMReplicationState", ("VMName",), None, False, ("State",)),
            P("TrustGroup", "String", ("VMName",), None, False),
            P("VM", "VirtualMachine[]", ("VMObject",), 0, True, (), "ByValue"),
            P("VMName", "String[]", ("VMName",), 0, False, ("Name",), "ByValue"),
        ),
    ),
    "Measure-VMReplication": Cmdlet(
        DOCS + "Measure-VMReplication.md",
        "VMName",
        (
            *_remoting("VMName"),
            P("PrimaryServerName", "String", ("VMName",), None, False, ("PrimaryServer",)),
            P("ReplicaServerName", "String", ("VMName",), None, False, ("ReplicaServer",)),
            P("ReplicationHealth", "VMReplicationHealthState", ("VMName",), None, False, ("Health",)),
            P("ReplicationMode", "VMReplicationMode", ("VMName",), None, False, ("Mode",)),
            P("ReplicationRelationshipType", "VMReplicationRelationshipType", ALL, None, False, ("Relationship",)),
            P("ReplicationState", "VMReplicationState", ("VMName",), None, False, ("State",)),
            P("TrustGroup", "String", ("VMName",), None, False),
            P("VM", "VirtualMachine[]", ("VMObject",), 0, True, (), "ByValue"),
            P("VMName", "String[]", ("VMName",), 0, False, ("Name",), "ByValue"),
        ),
    ),
    "Reset-VMReplicationStatistics": Cmdlet(
        DOCS + "Reset-VMReplicationStatistics.md",
        "VMName",
        (
            *_remoting("VMName"),
            PASSTHRU,
            P(
                "ReplicationRelationshipType",
                "VMReplicationRelationshipType",
                ("VMName",),
                None,
                False,
                ("Relationship",),
            ),
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Start-VMInitialReplication": Cmdlet(
        DOCS + "Start-VMInitialReplication.md",
        "VMName",
        (
            AS_JOB,
            P("CimSession", "CimSession[]", ALL, None, False),
            P("ComputerName", "String[]", ("VMName",), None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            P("DestinationPath", "String", ALL, None, False, ("IRLoc",)),
            P("InitialReplicationStartTime", "DateTime", ALL, None, False, ("IRTime",)),
            PASSTHRU,
            P("UseBackup", "SwitchParameter", ALL, None, False),
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Import-VMInitialReplication": Cmdlet(
        DOCS + "Import-VMInitialReplication.md",
        "VMName",
        (
            AS_JOB,
            *_remoting("VMName"),
            PASSTHRU,
            P("Path", "String", ALL, 1, True, ("IRLoc",)),
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Stop-VMInitialReplication": Cmdlet(
        DOCS + "Stop-VMInitialReplication.md",
        "VMName",
        (
            P("CimSession", "CimSession[]", ALL, None, False),
            P("ComputerName", "String[]", ("VMName",), None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            PASSTHRU,
            *_vm_sets(),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            *SHOULD_PROCESS,
        ),
    ),
    "Enable-VMReplication": Cmdlet(
        DOCS + "Enable-VMReplication.md",
        "VMName",
        (
            P(
                "AllowedPrimaryServer",
                "String",
                ("VMName_AsReplica", "VMObject_AsReplica"),
                None,
                False,
                ("AllowedPS",),
                "ByPropertyName",
            ),
            AS_JOB,
            P("AsReplica", "SwitchParameter", ("VMName_AsReplica", "VMObject_AsReplica"), None, False),
            P("AuthenticationType", "ReplicationAuthenticationType", ("VMName", "VMObject"), 3, True, ("AuthType",)),
            P("AutoResynchronizeEnabled", "Boolean", ("VMName", "VMObject"), None, False, ("AutoResync",)),
            P("AutoResynchronizeIntervalEnd", "TimeSpan", ("VMName", "VMObject"), None, False, ("AutoResyncEnd",)),
            P("AutoResynchronizeIntervalStart", "TimeSpan", ("VMName", "VMObject"), None, False, ("AutoResyncStart",)),
            P("BypassProxyServer", "Boolean", ("VMName", "VMObject"), None, False),
            P(
                "CertificateThumbprint",
                "String",
                ("VMName", "VMObject"),
                None,
                False,
                ("Thumbprint", "Cert"),
                "ByPropertyName",
            ),
            P("CimSession", "CimSession[]", ("VMName", "VMName_AsReplica"), None, False),
            P("CompressionEnabled", "Boolean", ("VMName", "VMObject"), None, False),
            P("ComputerName", "String[]", ("VMName", "VMName_AsReplica"), None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            P("EnableWriteOrderPreservationAcrossDisks", "Boolean", ("VMName", "VMObject"), None, False),
            P("ExcludedVhd", "HardDiskDrive[]", ("VMName", "VMObject"), None, False),
            P("ExcludedVhdPath", "String[]", ("VMName", "VMObject"), None, False),
            PASSTHRU,
            P("RecoveryHistory", "Int32", ("VMName", "VMObject"), None, False, ("RecHist",)),
            P("ReplicaServerName", "String", ("VMName", "VMObject"), 1, True, ("ReplicaServer",)),
            P("ReplicaServerPort", "Int32", ("VMName", "VMObject"), 2, True, ("ReplicaPort",)),
            P("ReplicateHostKvpItems", "Boolean", ("VMName", "VMObject"), None, False),
            P("ReplicationFrequencySec", "Int32", ("VMName", "VMObject"), None, False, ("RepFreq",)),
            P("VM", "VirtualMachine[]", ("VMObject", "VMObject_AsReplica"), 0, True, (), "ByValue"),
            P("VMName", "String[]", ("VMName", "VMName_AsReplica"), 0, True, ("Name",), "ByValue"),
            P("VSSSnapshotFrequencyHour", "Int32", ("VMName", "VMObject"), None, False, ("VSSFreq",)),
            *SHOULD_PROCESS,
        ),
    ),
    "Set-VMReplication": Cmdlet(
        DOCS + "Set-VMReplication.md",
        "VMName",
        (
            P("AllowedPrimaryServer", "String", ALL, None, False, ("AllowedPS",), "ByPropertyName"),
            AS_JOB,
            P("AsReplica", "SwitchParameter", ALL, None, False),
            P("AuthenticationType", "ReplicationAuthenticationType", ALL, 3, False, ("AuthType",)),
            P("AutoResynchronizeEnabled", "Boolean", ALL, None, False, ("AutoResync",)),
            P("AutoResynchronizeIntervalEnd", "TimeSpan", ALL, None, False, ("AutoResyncEnd",)),
            P("AutoResynchronizeIntervalStart", "TimeSpan", ALL, None, False, ("AutoResyncStart",)),
            P("BypassProxyServer", "Boolean", ALL, None, False),
            P("CertificateThumbprint", "String", ALL, None, False, ("Thumbprint", "Cert"), "ByPropertyName"),
            P("CimSession", "CimSession[]", ("VMName",), None, False),
            P("CompressionEnabled", "Boolean", ALL, None, False),
            P("ComputerName", "String[]", ("VMName",), None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            P("DisableVSSSnapshotReplication", "SwitchParameter", ALL, None, False, ("DisableVSS",)),
            P("EnableWriteOrderPreservationAcrossDisks", "Boolean", ALL, None, False),
            P("InitialReplicationStartTime", "DateTime", ALL, None, False, ("IRTime",)),
            PASSTHRU,
            P("RecoveryHistory", "Int32", ALL, None, False, ("RecHist",)),
            P("ReplicaServerName", "String", ALL, 1, False, ("ReplicaServer",)),
            P("ReplicaServerPort", "Int32", ALL, 2, False, ("ReplicaPort",)),
            P("ReplicateHostKvpItems", "Boolean", ALL, None, False),
            P("ReplicatedDiskPaths", "String[]", ALL, None, False),
            P("ReplicatedDisks", "HardDiskDrive[]", ALL, None, False),
            P("ReplicationFrequencySec", "Int32", ALL, None, False, ("RepFreq",)),
            P("Reverse", "SwitchParameter", ALL, None, False),
            P("UseBackup", "SwitchParameter", ALL, None, False),
            P("VM", "VirtualMachine[]", ("VMObject",), 0, True, (), "ByValue"),
            P("VMName", "String[]", ("VMName",), 0, True, ("Name",), "ByValue"),
            P("VMReplication", "VMReplication[]", ("VMReplication",), 0, True, (), "ByValue"),
            P("VSSSnapshotFrequencyHour", "Int32", ALL, None, False, ("VSSFreq",)),
            *SHOULD_PROCESS,
        ),
    ),
    "Set-VMReplicationServer": Cmdlet(
        DOCS + "Set-VMReplicationServer.md",
        "AuthenticationPort",
        (
            P("AllowedAuthenticationType", "RecoveryAuthenticationType", ALL, 1, False, ("AuthType",)),
            P("CertificateAuthenticationPort", "Int32", ("AuthenticationPort",), None, False, ("CertAuthPort",)),
            P("CertificateAuthenticationPortMapping", "Hashtable", ("AuthenticationPortMapping",), None, False),
            P("CertificateThumbprint", "String", ALL, None, False, ("Thumbprint",), "ByPropertyName"),
            P("CimSession", "CimSession[]", ALL, None, False),
            P("ComputerName", "String[]", ALL, None, False),
            P("Credential", "PSCredential[]", ALL, None, False),
            P("DefaultStorageLocation", "String", ALL, None, False, ("StorageLoc",)),
            P("Force", "SwitchParameter", ALL, None, False),
            P("KerberosAuthenticationPort", "Int32", ("AuthenticationPort",), None, False, ("KerbAuthPort",)),
            P("KerberosAuthenticationPortMapping", "Hashtable", ("AuthenticationPortMapping",), None, False),
            P("MonitoringInterval", "TimeSpan", ALL, None, False),
            P("MonitoringStartTime", "TimeSpan", ALL, None, False),
            PASSTHRU,
            P("ReplicationAllowedFromAnyServer", "Boolean", ALL, 2, False, ("AllowAnyServer",)),
            P("ReplicationEnabled", "Boolean", ALL, 0, False, ("RepEnabled",)),
            *SHOULD_PROCESS,
        ),
    ),
    "Get-VMNetworkAdapterFailoverConfiguration": Cmdlet(
        DOCS + "Get-VMNetworkAdapterFailoverConfiguration.md",
        "VMName",
        (
            *_remoting("VMName"),
            *_vm_sets(),
            P("VMNetworkAdapter", "VMNetworkAdapter[]", ("ResourceObject",), 0, True, (), "ByValue"),
            P("VMNetworkAdapterName", "String", ("VMName", "VMObject"), None, False),
        ),
    ),
}
