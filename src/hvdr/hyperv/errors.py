"""The host driver's error taxonomy, declared once with its retryability.

    HyperVError (hvdr.errors.HvdrError)     ``retryable`` and a stable ``code`` on every class
    ├── HostUnreachable           [transient] connection refused/reset, DNS, TLS handshake cut, host down
    │   ├── WinRMServiceError     [transient] HTTP 5xx / a WS-Management fault from the WinRM service
    │   └── ReplicaServerUnreachable [transient] the host cannot reach its replication partner
    ├── WinRMTimeout              [transient] read timeout, or a command still running past its budget
    │   └── OutcomeUnknown        [transient] the command was sent, then the answer was lost: it may have run
    ├── AuthenticationFailed      [permanent] HTTP 401, untrusted server certificate, auth not available
    │   └── ReplicationAuthenticationFailed  the replica server refused the primary's authentication
    ├── VMNotFound                [permanent] no virtual machine of that name on the host
    ├── InvalidReplicationState   [permanent] the replication state (or mode) does not allow the operation
    │   └── InvalidVMState        [permanent] the VM's power state does not allow it
    ├── InvalidParameter          [permanent] a value or a combination the cmdlet rejects
    ├── ReplicaStorageFull        [permanent] the replica server's storage location has no room: a human frees it
    └── ScriptFailed              [permanent] parser errors, unknown commands, anything unclassified
        └── ScriptTimedOut        [permanent] an operator script ran past its own timeout

Activities turn these into ``ApplicationError(type=cls.__name__, non_retryable=not cls.retryable)``.
Messages are capped (:data:`MAX_MESSAGE_CHARS`) and never contain a password: the driver builds them from
the host's error text and its own words, never from a request or a connection object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import ClassVar

from hvdr.errors import HvdrError

MAX_MESSAGE_CHARS = 4_000


def cap(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return message if len(message) <= limit else message[: limit - 15] + " …[truncated]"


class HyperVError(HvdrError):
    """Base of every error the host driver raises."""

    code: ClassVar[str] = "hyperv_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        error_id: str | None = None,
        category: str | None = None,
    ) -> None:
        text = cap(f"{host}: {message}" if host else message)
        super().__init__(text)
        self.host = host
        self.error_id = error_id
        self.category = category


class HostUnreachable(HyperVError):
    """The host's WinRM endpoint cannot be reached (refused, reset, DNS, host down)."""

    code = "host_unreachable"
    retryable = True


class WinRMServiceError(HostUnreachable):
    """The WinRM service answered with HTTP 5xx or a WS-Management fault: it is not serving now."""

    code = "winrm_service_error"


class ReplicaServerUnreachable(HostUnreachable):
    """The host could not reach its Hyper-V Replica partner (network, partner down, firewall)."""

    code = "replica_server_unreachable"


class WinRMTimeout(HyperVError):
    """No answer within the read timeout, or the command ran past its time budget (and was stopped)."""

    code = "winrm_timeout"
    retryable = True


class OutcomeUnknown(WinRMTimeout):
    """The command reached the host (or may have), then its answer was lost: read timeout, connection lost,
    budget exceeded, or the caller gave up. It may have run, in part or in full; only a read can tell.

    Retryable for a read; a state-changing caller reconciles (reads the state back) before anything else.
    """

    code = "outcome_unknown"


class AuthenticationFailed(HyperVError):
    """The host rejected the credentials (HTTP 401), or its certificate is not trusted."""

    code = "authentication_failed"


class ReplicationAuthenticationFailed(AuthenticationFailed):
    """The replica server refused the primary's Kerberos or certificate authentication."""

    code = "replication_authentication_failed"


class VMNotFound(HyperVError):
    """No virtual machine of that name exists on the host."""

    code = "vm_not_found"

    def __init__(self, vm: str, message: str | None = None, **kwargs: str | None) -> None:
        super().__init__(message or f'Hyper-V was unable to find a virtual machine with name "{vm}".', **kwargs)
        self.vm = vm


class InvalidReplicationState(HyperVError):
    """The VM's replication state or mode does not allow the operation."""

    code = "invalid_replication_state"

    def __init__(self, message: str, *, operation: str, state: str | None = None, **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.operation = operation
        self.state = state


class InvalidVMState(InvalidReplicationState):
    """The VM's power state does not allow the operation (failover needs it Off, say)."""

    code = "invalid_vm_state"


class InvalidParameter(HyperVError):
    """A parameter value, or a combination of them, that the cmdlet rejects."""

    code = "invalid_parameter"


class ReplicaStorageFull(HyperVError):
    """The Replica server has no room at its replica storage location (``OperationFailed`` with category
    ``ResourceUnavailable`` from a cmdlet that sends to it). Retrying does not make room: fail at once."""

    code = "replica_storage_full"


class ScriptFailed(HyperVError):
    """The script did not run as written: parse error, unknown command, operator-script failure."""

    code = "script_failed"

    def __init__(
        self, message: str, *, script_exit_code: int | None = None, output: str | None = None, **kwargs: str | None
    ) -> None:
        super().__init__(message, **kwargs)
        self.script_exit_code = script_exit_code
        self.output = output or ""
        """What an operator's script wrote to stdout before it failed (for the run's report)."""


class ScriptTimedOut(ScriptFailed):
    """An operator script was still running at its timeout and was terminated."""

    code = "script_timed_out"


__all__ = [
    "AuthenticationFailed",
    "HostUnreachable",
    "HyperVError",
    "InvalidParameter",
    "InvalidReplicationState",
    "InvalidVMState",
    "OutcomeUnknown",
    "ReplicaServerUnreachable",
    "ReplicaStorageFull",
    "ReplicationAuthenticationFailed",
    "ScriptFailed",
    "ScriptTimedOut",
    "VMNotFound",
    "WinRMServiceError",
    "WinRMTimeout",
    "cap",
    "map_winrm_errors",
]


# -- mapping at the edge ----------------------------------------------------------------------------------
# WS-Management fault codes the driver recognises (see MS-WSMV and the WinRM service's messages).
WSMAN_OPERATION_TIMEOUT = 2150858793
WSMAN_SHELL_NOT_FOUND = 2150858843


@contextlib.contextmanager
def map_winrm_errors(host: str, *, operation: str = "command") -> Iterator[None]:
    """Translate pywinrm / requests exceptions into the taxonomy; nothing of theirs crosses this line.

    The messages name the host and the operation only: request objects, headers and connection settings
    (which could hold a password) are never formatted into them.
    """
    # Imported here: the taxonomy itself is imported by workflows (through activities), which must not load
    # an HTTP stack into the workflow sandbox.
    import requests
    import winrm.exceptions as winrm_exc

    try:
        yield
    except HyperVError:
        raise
    except winrm_exc.InvalidCredentialsError:
        raise AuthenticationFailed("the WinRM service rejected the credentials (HTTP 401)", host=host) from None
    except winrm_exc.WinRMOperationTimeoutError:
        raise WinRMTimeout(
            f"{operation}: the WinRM operation timed out (WS-Management OperationTimeout)", host=host
        ) from None
    except winrm_exc.WSManFaultError as exc:
        reason = (exc.reason or "").strip()
        raise WinRMServiceError(
            f"{operation}: WS-Management fault {exc.wsman_fault_code or exc.fault_subcode}: {reason}", host=host
        ) from None
    except winrm_exc.WinRMTransportError as exc:
        if exc.code >= 500:
            raise WinRMServiceError(f"{operation}: HTTP {exc.code} from the WinRM service", host=host) from None
        raise ScriptFailed(f"{operation}: HTTP {exc.code} from the WinRM service", host=host) from None
    except requests.exceptions.SSLError as exc:
        raise AuthenticationFailed(
            f"TLS: the host's certificate could not be verified ({_first_line(exc)})", host=host
        ) from None
    except requests.exceptions.ConnectTimeout:
        raise HostUnreachable(f"{operation}: connection timed out", host=host) from None
    except requests.exceptions.ReadTimeout:
        raise WinRMTimeout(f"{operation}: no answer within the read timeout", host=host) from None
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise HostUnreachable(f"{operation}: cannot connect ({_reason(exc)})", host=host) from None
    except requests.exceptions.RequestException as exc:
        raise HostUnreachable(f"{operation}: {type(exc).__name__}", host=host) from None
    except winrm_exc.WinRMError as exc:
        text = str(exc)
        if "auth method" in text or "credentials" in text.lower():
            missing = "is not installed" in text
            hint = next((f"; install hvdr[{x}] on the worker" for x in _AUTH_EXTRAS if missing and x in text), "")
            raise AuthenticationFailed(
                f"WinRM authentication is not usable: {_first_line(text)}{hint}", host=host
            ) from None
        raise WinRMServiceError(f"{operation}: {_first_line(text)}", host=host) from None


# pywinrm names the missing package in its "… is not installed" error; hvdr's extras bring them.
_AUTH_EXTRAS = ("kerberos", "credssp")


def _first_line(value: object) -> str:
    return cap(str(value).splitlines()[0] if str(value) else type(value).__name__, 300)


def _reason(exc: BaseException) -> str:
    """The innermost cause's name and errno text (``ConnectionRefusedError: [Errno 111] …``), no URL."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        nxt = inner.__cause__ or inner.__context__
        assert nxt is not None
        inner = nxt
    for candidate in (inner, *getattr(exc, "args", ())):
        text = str(candidate)
        for marker in (
            "Connection refused",
            "Connection reset",
            "Name or service not known",
            "No route to host",
            "Remote end closed",
            "Connection aborted",
            "timed out",
        ):
            if marker in text:
                return marker
    return type(inner).__name__
