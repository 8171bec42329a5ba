"""The driver against real hosts' error records (verbatim, tests/hyperv/transcripts.py) and against every error the
lab can raise: a test fails if the lab emits an identifier the driver does not classify, or if the driver names
an identifier no real host sends."""

from __future__ import annotations

import pytest

from hvdr.hyperv import clixml, errors
from hvdr.hyperv.clixml import PSErrorInfo, classify, parse_error
from hvdr.lab.cmdlets import HYPERV
from hvdr.lab.cmdlets.binding import BINDER_IDS as LAB_BINDER_IDS
from hvdr.lab.models import errors as lab_errors
from tests.hyperv.transcripts import POWERSHELL_BINDER_IDS, REAL_IDENTIFIERS, TRANSCRIPTS, Transcript, as_stderr


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda t: t.source.split(" ")[0])
def test_real_records_are_read_and_classified(transcript: Transcript) -> None:
    info = parse_error(as_stderr(transcript.lines))
    fqid = next(line for line in transcript.lines if "FullyQualifiedErrorId" in line).split(":", 1)[1].strip()
    assert info.error_id == fqid.split(",")[0]
    assert info.command_class == fqid.split(",")[1].rsplit(".", 1)[-1].removesuffix("Command")
    error = classify(info, operation="op", host="hv", vm=transcript.vm)
    assert type(error).__name__ == transcript.expected
    if isinstance(error, errors.VMNotFound):
        assert error.vm == transcript.vm  # from the record's target, whatever language the message is in


def test_the_driver_names_only_identifiers_real_hosts_send() -> None:
    assert clixml.HYPERV_IDS <= REAL_IDENTIFIERS
    assert clixml.BINDER_IDS <= POWERSHELL_BINDER_IDS


def _lab_identifiers() -> set[str]:
    return set(lab_errors.RAISED) | set(LAB_BINDER_IDS)


def test_every_identifier_the_lab_raises_is_one_the_driver_classifies() -> None:
    assert _lab_identifiers() <= clixml.HYPERV_IDS | clixml.BINDER_IDS
    assert LAB_BINDER_IDS <= POWERSHELL_BINDER_IDS


# What each lab identifier means to the driver on the cmdlets that raise it (ScriptFailed only where the lab
# raises it for what a real host would also leave to a human: an unsimulated feature, a host-side failure).
EXPECTED: dict[str, type[errors.HyperVError] | tuple[type[errors.HyperVError], ...]] = {
    "InvalidState": errors.InvalidReplicationState,
    "InvalidParameter": errors.InvalidParameter,
    "ObjectNotFound": (errors.InvalidParameter, errors.InvalidReplicationState),
    "OperationFailed": (errors.ReplicaServerUnreachable, errors.InvalidReplicationState, errors.ScriptFailed),
    "AccessDenied": (errors.ReplicationAuthenticationFailed, errors.ScriptFailed),
    "Unspecified": errors.ScriptFailed,
}


@pytest.mark.parametrize("cmdlet", sorted(HYPERV))
def test_each_lab_identifier_maps_to_a_typed_error_on_each_served_cmdlet(cmdlet: str) -> None:
    cls = HYPERV[cmdlet].command_class.rsplit(".", 1)[-1]
    for identifier in _lab_identifiers():
        info = PSErrorInfo("msg", "NotSpecified", identifier, HYPERV[cmdlet].name, "", "other", cls, None)
        error = classify(info, operation="op", vm="db-01")
        if identifier in LAB_BINDER_IDS:
            assert type(error) is errors.InvalidParameter
        else:
            assert isinstance(error, EXPECTED[identifier]), (identifier, cmdlet, error)
        missing = PSErrorInfo("msg", "ObjectNotFound", identifier, HYPERV[cmdlet].name, "", "db-01", cls, None)
        if identifier == "InvalidParameter":
            assert type(classify(missing, operation="op", vm="db-01")) is errors.VMNotFound


def _identifiers_in_lab_source() -> set[str]:
    """Every identifier literal the lab's Hyper-V models and cmdlets hand to an error: ``error_id="…"`` keywords,
    ``_error(message, "…", …)`` and ``binder_error("…", …)`` calls (so an ad-hoc id cannot slip past the table)."""
    import ast
    from pathlib import Path

    import hvdr.lab

    root = Path(hvdr.lab.__file__).parent
    found: set[str] = set()
    for path in [*root.glob("models/*.py"), *root.glob("cmdlets/*.py")]:
        if path.name in ("vmm.py", "system.py"):  # VMM's and PowerShell's own cmdlets, not the Hyper-V module
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "error_id" and isinstance(keyword.value, ast.Constant):
                    found.add(str(keyword.value.value))
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            index = {"_error": 1, "binder_error": 0}.get(name)
            argument = node.args[index] if index is not None and len(node.args) > index else None
            if isinstance(argument, ast.Constant):
                found.add(str(argument.value))
    return found


def test_no_identifier_in_the_lab_source_escapes_the_drivers_table() -> None:
    found = _identifiers_in_lab_source()
    assert {"InvalidState", "NamedParameterNotFound", "AmbiguousParameterSet"} <= found  # the scan sees them
    assert found <= clixml.HYPERV_IDS | clixml.BINDER_IDS, found - (clixml.HYPERV_IDS | clixml.BINDER_IDS)
    assert found <= _lab_identifiers()
