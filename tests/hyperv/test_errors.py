"""Error classification: canned CLIXML as Windows PowerShell writes it, and pywinrm/requests exceptions."""

from __future__ import annotations

import pytest
import requests
import winrm.exceptions as wexc

from hvdr.hyperv import errors
from hvdr.hyperv.clixml import classify, clixml_text, parse_error

VM_NOT_FOUND = (
    '\ufeff#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN><MS>'
    '<I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV></PR></MS></Obj>'
    '<S S="Error">Get-VM : Hyper-V was unable to find a virtual machine with name "it\'s Сервер"._x000D__x000A_</S>'
    '<S S="Error">At line:2 char:1_x000D__x000A_</S>'
    "<S S=\"Error\">+ Get-VM -Name 'it''s Сервер'_x000D__x000A_</S>"
    '<S S="Error">+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~_x000D__x000A_</S>'
    '<S S="Error">    + CategoryInfo          : InvalidArgument: (it\'s Сервер:String) [Get-VM], '
    "VirtualizationException_x000D__x000A_</S>"
    '<S S="Error">    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM'
    '_x000D__x000A_</S><S S="Error"> _x000D__x000A_</S></Objs>'
)


def _clixml(first: str, category: str, fqid: str, target: str | None = None) -> str:
    lines = [
        first,
        "At line:2 char:1",
        "+ Some-Command",
        "+ ~~~~~~~~~~~~",
        f"    + CategoryInfo          : {category}: ({target + ':String' if target else ':'}) [], SomeException",
        f"    + FullyQualifiedErrorId : {fqid}",
        " ",
    ]
    body = "".join(f'<S S="Error">{line}_x000D__x000A_</S>' for line in lines)
    return f'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">{body}</Objs>'


def test_parse_a_real_error_view() -> None:
    info = parse_error(VM_NOT_FOUND)
    assert info.command == "Get-VM"
    assert info.message == 'Hyper-V was unable to find a virtual machine with name "it\'s Сервер".'
    assert (info.category, info.error_id) == ("InvalidArgument", "InvalidParameter")
    error = classify(info, operation="get_vm", host="hv01")
    assert isinstance(error, errors.VMNotFound) and error.vm == "it's Сервер"
    assert not error.retryable and error.code == "vm_not_found"
    assert str(error).startswith("hv01: Get-VM: Hyper-V was unable")


HV = "Microsoft.HyperV.PowerShell.Commands."


@pytest.mark.parametrize(
    ("fqid", "category", "target", "expected"),
    [
        (f"InvalidState,{HV}StartVMFailover", "InvalidOperation", "db-01", errors.InvalidReplicationState),
        (f"InvalidState,{HV}StopVM", "InvalidOperation", "db-01", errors.InvalidReplicationState),
        # A missing VM: the category is InvalidArgument, ObjectNotFound or NotSpecified depending on the version.
        (f"InvalidParameter,{HV}GetVM", "InvalidArgument", "db-01", errors.VMNotFound),
        (f"InvalidParameter,{HV}StartVMFailover", "NotSpecified", "DB-01", errors.VMNotFound),
        (f"ObjectNotFound,{HV}GetVM", "ObjectNotFound", "db-01", errors.VMNotFound),
        (f"ObjectNotFound,{HV}GetVMCommand", "NotSpecified", "db-01", errors.VMNotFound),  # WS2012 class names
        (f"InvalidParameter,{HV}EnableVMReplication", "InvalidArgument", "10.0.0.5", errors.InvalidParameter),
        (f"InvalidParameter,{HV}StartVMFailover", "InvalidArgument", None, errors.InvalidParameter),
        (f"ObjectNotFound,{HV}ResumeVMReplication", "ObjectNotFound", "db-01", errors.InvalidReplicationState),
        (f"ObjectNotFound,{HV}GetVMReplication", "NotSpecified", "db-01", errors.InvalidReplicationState),
        (f"ObjectNotFound,{HV}GetVMSnapshot", "ObjectNotFound", "rp-1", errors.InvalidParameter),
        (
            f"OperationFailed,{HV}TestVMReplicationConnection",
            "ConnectionError",
            "hv-b1",
            errors.ReplicaServerUnreachable,
        ),
        (f"OperationFailed,{HV}EnableVMReplication", "NotSpecified", "hv-b1", errors.ReplicaServerUnreachable),
        (f"OperationFailed,{HV}EnableVMReplication", "ResourceExists", "db-01", errors.InvalidReplicationState),
        (f"OperationFailed,{HV}ResumeVMReplication", "ResourceUnavailable", "hv-b1", errors.ReplicaStorageFull),
        (f"OperationFailed,{HV}SetVMReplication", "ResourceUnavailable", "hv-b1", errors.ReplicaStorageFull),
        (f"AccessDenied,{HV}EnableVMReplication", "PermissionDenied", "hv-b1", errors.ReplicationAuthenticationFailed),
        (f"OperationFailed,{HV}StartVM", "NotSpecified", None, errors.ScriptFailed),
        (f"OutOfMemory,{HV}StartVM", "NotSpecified", None, errors.ScriptFailed),
        (f"Unspecified,{HV}StartVM", "NotSpecified", None, errors.ScriptFailed),
        (f"AccessDenied,{HV}StartVM", "PermissionDenied", None, errors.ScriptFailed),
        (f"ParameterArgumentValidationError,{HV}GetVM", "InvalidData", None, errors.InvalidParameter),
        (f"NamedParameterNotFound,{HV}GetVM", "InvalidArgument", None, errors.InvalidParameter),
        (f"AmbiguousParameterSet,{HV}StartVMFailover", "InvalidArgument", None, errors.InvalidParameter),
        (f"MissingArgument,{HV}EnableVMReplication", "InvalidArgument", None, errors.InvalidParameter),
        ("MissingEndCurlyBrace", "ParserError", None, errors.ScriptFailed),
        ("CommandNotFoundException", "ObjectNotFound", "Get-Nothing", errors.ScriptFailed),
        ("Something unheard of", "NotSpecified", None, errors.ScriptFailed),
    ],
)
def test_classification_by_identifier_and_cmdlet(
    fqid: str, category: str, target: str | None, expected: type[errors.HyperVError]
) -> None:
    record = _clixml("Do-It : it failed (a message in any language)", category, fqid, target)
    error = classify(parse_error(record), operation="op", vm="db-01")
    assert type(error) is expected
    assert error.error_id == fqid.split(",")[0].split()[0] and error.category == category
    if isinstance(error, errors.InvalidReplicationState):
        assert error.operation == "op"


def test_parser_error_and_plain_stderr() -> None:
    info = parse_error(_clixml("At line:1 char:5", "ParserError", "TerminatorExpectedAtEndOfString"))
    assert info.error_id == "TerminatorExpectedAtEndOfString" and info.category == "ParserError"
    assert clixml_text("The command line is too long.\r\n") == "The command line is too long."
    plain = parse_error("The command line is too long.\r\n")
    assert plain.message == "The command line is too long." and plain.error_id is None
    assert isinstance(classify(plain, operation="x"), errors.ScriptFailed)
    broken = '#< CLIXML\r\n<Objs><S S="Error">unterminated'
    assert clixml_text(broken) == broken


def test_retryability_is_declared_once() -> None:
    transient = {errors.HostUnreachable, errors.WinRMServiceError, errors.ReplicaServerUnreachable, errors.WinRMTimeout}
    permanent = {
        errors.AuthenticationFailed,
        errors.ReplicationAuthenticationFailed,
        errors.VMNotFound,
        errors.InvalidReplicationState,
        errors.InvalidVMState,
        errors.InvalidParameter,
        errors.ReplicaStorageFull,
        errors.ScriptFailed,
        errors.ScriptTimedOut,
    }
    assert all(cls.retryable for cls in transient) and not any(cls.retryable for cls in permanent)
    codes = [cls.code for cls in transient | permanent]
    assert len(set(codes)) == len(codes)
    assert len(str(errors.ScriptFailed("x" * 10_000))) <= errors.MAX_MESSAGE_CHARS


def _raise(exc: BaseException) -> type[errors.HyperVError]:
    with pytest.raises(errors.HyperVError) as caught, errors.map_winrm_errors("hv01", operation="run"):
        raise exc
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no pywinrm type escapes
    return type(caught.value)


def test_map_winrm_errors() -> None:
    fault = wexc.WSManFaultError(
        500, "Bad HTTP response returned from server. Code 500", "<xml/>", "busy", wsman_fault_code=2147500037
    )
    assert _raise(wexc.InvalidCredentialsError("rejected")) is errors.AuthenticationFailed
    assert _raise(wexc.WinRMOperationTimeoutError()) is errors.WinRMTimeout
    assert _raise(fault) is errors.WinRMServiceError
    assert _raise(wexc.WinRMTransportError("http", 503, "")) is errors.WinRMServiceError
    assert _raise(wexc.WinRMTransportError("http", 413, "")) is errors.ScriptFailed
    assert _raise(requests.exceptions.SSLError("certificate verify failed")) is errors.AuthenticationFailed
    assert _raise(requests.exceptions.ConnectTimeout()) is errors.HostUnreachable
    assert _raise(requests.exceptions.ReadTimeout()) is errors.WinRMTimeout
    assert _raise(requests.exceptions.ConnectionError("Connection refused")) is errors.HostUnreachable
    assert _raise(ConnectionResetError()) is errors.HostUnreachable
    assert _raise(wexc.WinRMError("requested auth method is kerberos, but pykerberos is not installed")) is (
        errors.AuthenticationFailed
    )


@pytest.mark.parametrize(
    ("pywinrm_says", "hint"),
    [
        ("requested auth method is kerberos, but pykerberos is not installed", "install hvdr[kerberos]"),
        ("requests auth method is credssp, but requests-credssp is not installed", "install hvdr[credssp]"),
        ("message encryption is set to 'always' but the selected auth method kerberos does not support it", None),
    ],
)
def test_a_missing_auth_package_names_the_extra_to_install(pywinrm_says: str, hint: str | None) -> None:
    with pytest.raises(errors.AuthenticationFailed) as caught, errors.map_winrm_errors("hv-1"):
        raise wexc.WinRMError(pywinrm_says)
    message = str(caught.value)
    assert message.startswith(f"hv-1: WinRM authentication is not usable: {pywinrm_says}")
    assert (hint in message) if hint else ("install" not in message)
