"""Error records of real Hyper-V hosts, copied verbatim from public threads, as CLIXML the way a host sends them.

Each record keeps the lines of PowerShell's error view exactly as the source quotes them (localized or garbled
text included: that is what a driver meets); :func:`as_stderr` wraps them the way ``powershell
-EncodedCommand`` writes stderr over WinRM (``#< CLIXML``, a progress record, one ``<S S="Error">`` per line
with ``_x000D__x000A_`` line ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Transcript:
    source: str
    lines: tuple[str, ...]
    vm: str | None
    """The VM the command named (what the driver passes to ``classify``)."""
    expected: str
    """The hvdr.hyperv.errors class the driver must map it to."""


TRANSCRIPTS = (
    Transcript(
        "https://github.com/minishift/minishift/issues/130 (Windows 10, Hyper-V module 2.0)",
        (
            'Get-VM : Hyper-V was unable to find a virtual machine with name "minishift".',
            "At line:1 char:3",
            "+ ( Get-VM minishift ).state",
            "+   ~~~~~~~~~~~~~~~~",
            "    + CategoryInfo          : InvalidArgument: (minishift:String) [Get-VM], VirtualizationException",
            "    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM",
        ),
        "minishift",
        "VMNotFound",
    ),
    Transcript(
        "https://github.com/kubernetes/minikube/issues/8970 (module-qualified call)",
        (
            'Hyper-V\\Get-VM : Hyper-V was unable to find a virtual machine with name "minikube".',
            "At line:1 char:3",
            "+ ( Hyper-V\\Get-VM minikube ).state",
            "+   ~~~~~~~~~~~~~~~~~~~~~~~",
            "    + CategoryInfo          : InvalidArgument: (minikube:String) [Get-VM], VirtualizationException",
            "    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM",
        ),
        "minikube",
        "VMNotFound",
    ),
    Transcript(
        "https://github.com/canonical/multipass/issues/3090 (Chinese host; the log mangled the localized text)",
        (
            "Get-VM : Hyper-V �Ҳ�������Ϊ��my-vm������������",
            "����λ�� ��:1 �ַ�: 1",
            "+ Get-VM -Name my-vm",
            "+ ~~~~~~~~~~~~~~~~~~",
            "    + CategoryInfo          : InvalidArgument: (my-vm:String) [Get-VM]��VirtualizationException",
            "    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM",
        ),
        "my-vm",
        "VMNotFound",
    ),
    Transcript(
        "https://github.com/canonical/multipass/issues/3090 (Start-VM failing in the firmware)",
        (
            "Start-VM : ��my-vm���޷�������",
            "Microsoft Virtual BIOS (ʵ�� ID AC6B8DC1-3257-4A70-B1B2-A9C9215659AD): ������������Ч������",
            "��my-vm���޷�������(������ ID 1D9345E7-C301-4CA9-9B11-44DD5670EB42)",
            "��my-vm��Microsoft Virtual BIOS: �޷���ʼ��Դ��������Ϊ�����˴�����������Ч����(0x8007000D)��(������ ID "
            "1D9345E7-C301-4CA9-9B",
            "11-44DD5670EB42)",
            "����λ�� ��:1 �ַ�: 1",
            "+ Start-VM -Name my-vm",
            "+ ~~~~~~~~~~~~~~~~~~~~",
            "    + CategoryInfo          : NotSpecified: (:) [Start-VM], VirtualizationException",
            "    + FullyQualifiedErrorId : Unspecified,Microsoft.HyperV.PowerShell.Commands.StartVM",
        ),
        "my-vm",
        "ScriptFailed",
    ),
    Transcript(
        "Microsoft support article KB 4052082, 'Hyper-V virtual machines don't start after you upgrade to Windows 10'",
        (
            "Start-VM: 'VM_NAME' failed to start. (Virtual machine IDMachineID)",
            "'VM_NAME' failed to start worker process: %%3228369022 (0xC06D007E). (Virtual machine IDMachineID)",
            "At line:1 char:1",
            "+ Start-VM VM_NAME",
            "+ ~~~~~~~~~~~~~",
            "+ CategoryInfo : NotSpecified: (:) [Start-VM], VirtualizationException",
            "+ FullyQualifiedErrorId: OperationFailed,Microsoft.HyperV.PowerShell.Commands.StartVM",
        ),
        "VM_NAME",
        "ScriptFailed",
    ),
    Transcript(
        "https://github.com/MicrosoftDocs/azure-docs/pull/85995 (get-vm -force)",
        (
            "A parameter cannot be found that matches parameter name 'force'.",
            "    + CategoryInfo          : InvalidArgument: (:) [Get-VM], ParameterBindingException",
            "    + FullyQualifiedErrorId : NamedParameterNotFound,Microsoft.HyperV.PowerShell.Commands.GetVM",
        ),
        None,
        "InvalidParameter",
    ),
    Transcript(
        "https://github.com/microsoft/MSLab/issues/518 (Get-VM -Id $null)",
        (
            "Get-VM : Cannot validate argument on parameter 'Id'. The argument is null. Provide a valid value for the "
            "argument, and",
            "then try running the command again.",
            "At C:\\HyperV\\mslab_v22.07.1\\3_Deploy.ps1:1597 char:34",
            "                 $vm = Get-VM -Id $_.BaseName -ErrorAction SilentlyCon ...",
            "                                  ~~~~~~~~~~~",
            "    + CategoryInfo          : InvalidData: (:) [Get-VM], ParameterBindingValidationException",
            "    + FullyQualifiedErrorId : ParameterArgumentValidationError,Microsoft.HyperV.PowerShell.Commands.GetVM",
        ),
        None,
        "InvalidParameter",
    ),
    Transcript(
        "https://github.com/paulshir/coreos-hyperv/issues/1 (Windows Server 2012: classes end in 'Command')",
        (
            "New-VM : A parameter cannot be found that matches parameter name 'Generation'.",
            "At E:\\CoreOS\\coreos-hyperv\\modules\\coreos-hyperv.psm1:509 char:78",
            "+                 $vm = New-VM -Name $VMName -MemoryStartupBytes 1024MB -NoVHD -Ge ...",
            "+                                                                              ~~~",
            "    + CategoryInfo          : InvalidArgument: (:) [New-VM], ParameterBindingException",
            "    + FullyQualifiedErrorId : NamedParameterNotFound,Microsoft.HyperV.PowerShell.Commands.NewVMCommand",
        ),
        None,
        "InvalidParameter",
    ),
)

REAL_IDENTIFIERS = frozenset(
    {
        "InvalidParameter",
        "ObjectNotFound",
        "OperationFailed",
        "OutOfMemory",
        "Unspecified",
        "InvalidState",
        "AccessDenied",
    }
)
"""Hyper-V identifiers seen in public transcripts (above, and those the reference §3.5 quotes:
``ObjectNotFound,…ResumeVMReplication``, ``OutOfMemory,…StartVM``; ``InvalidState`` is what an invalid-state
exception carries; ``AccessDenied`` is in the exception's documented identifier set)."""


def as_stderr(lines: tuple[str, ...]) -> str:
    """The lines as ``powershell -EncodedCommand`` writes them to stderr over WinRM."""
    body = "".join(f'<S S="Error">{escape(line)}_x000D__x000A_</S>' for line in (*lines, " "))
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
        '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first '
        "use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>"
        f"{body}</Objs>"
    )


POWERSHELL_BINDER_IDS = frozenset(
    {
        "NamedParameterNotFound",
        "AmbiguousParameter",
        "AmbiguousParameterSet",
        "ParameterAlreadyBound",
        "PositionalParameterNotFound",
        "MissingMandatoryParameter",
        "MissingArgument",
        "ParameterArgumentTransformationError",
        "ParameterArgumentValidationError",
        "CannotConvertArgument",
        "CannotConvertArgumentNoMessage",
        "InputObjectNotBound",
    }
)
"""The error ids PowerShell's own parameter binder raises (ParameterBinderBase / CmdletParameterBinderController
in github.com/PowerShell/PowerShell; ``NamedParameterNotFound`` and ``ParameterArgumentValidationError`` also in
the transcripts above)."""
