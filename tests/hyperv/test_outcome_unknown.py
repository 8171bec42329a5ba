"""The transport tells a failure before the command was sent (nothing ran) from one after it (OutcomeUnknown:
it may have run), against the lab over real WinRM."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from hvdr.hyperv import HostUnreachable, OutcomeUnknown, StopMode
from hvdr.hyperv import transport as transport_module
from hvdr.hyperv.abort import abort_scope
from tests.hyperv.conftest import A1, LabDrivers


def _calls(drivers: LabDrivers, cmdlet: str) -> int:
    return sum(c["count"] for c in drivers.lab.backend.call_counts() if c["cmdlet"] == cmdlet and c["host"] == A1)


def test_an_answer_lost_after_the_command_was_sent_is_outcome_unknown(
    http_lab: LabDrivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    send = transport_module.run_command

    def sent_then_lost(protocol: object, shell_id: str, command: str) -> str:
        send(protocol, shell_id, command)  # type: ignore[arg-type]
        raise requests.exceptions.ReadTimeout("read timed out")

    host = http_lab.host(A1)
    monkeypatch.setattr(transport_module, "run_command", sent_then_lost)
    with pytest.raises(OutcomeUnknown, match="the command was sent, then: run: no answer within the read timeout"):
        host.stop_vm("web-01", StopMode.TURN_OFF)
    monkeypatch.undo()
    deadline = time.monotonic() + 10  # the lab runs the command in a thread of its own
    while _calls(http_lab, "Stop-VM") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _calls(http_lab, "Stop-VM") == 1, "the command reached the host"
    while host.get_vm("web-01").state.value != "Off" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host.get_vm("web-01").state.value == "Off"


def test_a_host_that_refuses_the_connection_never_got_the_command(http_lab: LabDrivers) -> None:
    fault = http_lab.lab.backend.add_fault("host_down", host=A1)
    with pytest.raises(HostUnreachable) as caught:
        http_lab.host(A1).stop_vm("web-01", StopMode.TURN_OFF)
    assert not isinstance(caught.value, OutcomeUnknown)
    http_lab.lab.backend.clear_fault(fault.id)
    assert _calls(http_lab, "Stop-VM") == 0


def test_a_command_past_its_budget_or_aborted_by_its_caller_is_terminated_with_its_outcome_unknown(
    http_lab: LabDrivers,
) -> None:
    http_lab.lab.backend.add_fault("cmdlet_latency", host=A1, cmdlet="Get-VM", seconds=10)
    quick = http_lab.host(A1, command_timeout_s=1.0, operation_timeout_s=1, read_timeout_s=3)
    with pytest.raises(OutcomeUnknown, match="time budget"):
        quick.get_vm("db-01")

    patient = http_lab.host(A1, operation_timeout_s=1, read_timeout_s=3)
    abort = threading.Event()
    threading.Timer(0.5, abort.set).start()
    started = time.monotonic()
    with abort_scope(abort), pytest.raises(OutcomeUnknown, match="the caller gave up while the command ran"):
        patient.get_vm("db-01")
    assert time.monotonic() - started < 4, "the abort waited for the command"
