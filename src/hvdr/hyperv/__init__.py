"""The host driver: a :class:`HyperVHost` protocol, its WinRM implementation, and the error taxonomy.

host = WinRMHyperVHost.connect(HostConnection.resolve(endpoint, resolver))
host.stop_vm("db-01", StopMode.SHUTDOWN)            # -> VMInfo(state=Off, ...)

The WinRM implementation (pywinrm, requests) is imported on first use of its names: workflows import the
models and the taxonomy through activities, and the workflow sandbox must not load an HTTP stack.
"""

from typing import TYPE_CHECKING, Any

from hvdr.hyperv.connection import Credential, CredentialResolver, HostConnection, HostEndpoint, TransportKind
from hvdr.hyperv.errors import (
    AuthenticationFailed,
    HostUnreachable,
    HyperVError,
    InvalidParameter,
    InvalidReplicationState,
    InvalidVMState,
    OutcomeUnknown,
    ReplicaServerUnreachable,
    ReplicaStorageFull,
    ReplicationAuthenticationFailed,
    ScriptFailed,
    ScriptTimedOut,
    VMNotFound,
    WinRMServiceError,
    WinRMTimeout,
    map_winrm_errors,
)
from hvdr.hyperv.models import (
    AuthenticationType,
    ConnectionTestResult,
    FailoverIPConfig,
    FailoverIPSetting,
    FailoverResult,
    Heartbeat,
    InitialReplicationMethod,
    NetworkAdapter,
    RecoveryPoint,
    ReplicaServerSettings,
    ReplicationHealth,
    ReplicationHealthReport,
    ReplicationInfo,
    ReplicationMode,
    ReplicationServerInfo,
    ReplicationSettings,
    ReplicationState,
    ReplicationUpdate,
    ScriptResult,
    ServerAuthenticationType,
    SnapshotType,
    StopMode,
    VMInfo,
    VMMCloud,
    VMMHost,
    VMMVirtualMachine,
    VMState,
)
from hvdr.hyperv.protocol import HyperVHost, VMMServer

if TYPE_CHECKING:
    from hvdr.hyperv.host import WinRMHyperVHost, WinRMVMMServer
    from hvdr.hyperv.transport import HyperVTransport, MockTransport, PSResult, WinRMTransport

_LAZY = {
    "WinRMHyperVHost": "hvdr.hyperv.host",
    "WinRMVMMServer": "hvdr.hyperv.host",
    "HyperVTransport": "hvdr.hyperv.transport",
    "MockTransport": "hvdr.hyperv.transport",
    "PSResult": "hvdr.hyperv.transport",
    "WinRMTransport": "hvdr.hyperv.transport",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AuthenticationFailed",
    "AuthenticationType",
    "ConnectionTestResult",
    "Credential",
    "CredentialResolver",
    "FailoverIPConfig",
    "FailoverIPSetting",
    "FailoverResult",
    "Heartbeat",
    "HostConnection",
    "HostEndpoint",
    "HostUnreachable",
    "HyperVError",
    "HyperVHost",
    "HyperVTransport",
    "InitialReplicationMethod",
    "InvalidParameter",
    "InvalidReplicationState",
    "InvalidVMState",
    "MockTransport",
    "NetworkAdapter",
    "OutcomeUnknown",
    "PSResult",
    "RecoveryPoint",
    "ReplicaServerSettings",
    "ReplicaServerUnreachable",
    "ReplicaStorageFull",
    "ReplicationAuthenticationFailed",
    "ReplicationHealth",
    "ReplicationHealthReport",
    "ReplicationInfo",
    "ReplicationMode",
    "ReplicationServerInfo",
    "ReplicationSettings",
    "ReplicationState",
    "ReplicationUpdate",
    "ScriptFailed",
    "ScriptResult",
    "ScriptTimedOut",
    "ServerAuthenticationType",
    "SnapshotType",
    "StopMode",
    "TransportKind",
    "VMInfo",
    "VMMCloud",
    "VMMHost",
    "VMMServer",
    "VMMVirtualMachine",
    "VMNotFound",
    "VMState",
    "WinRMHyperVHost",
    "WinRMServiceError",
    "WinRMTimeout",
    "WinRMTransport",
    "WinRMVMMServer",
    "map_winrm_errors",
]
