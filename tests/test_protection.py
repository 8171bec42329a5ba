"""Protection's decisions, without Temporal: RPO, alerts, history, auto-heal, and its durable payloads."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hvdr.protection import (
    HISTORY_SAMPLES,
    AlertKind,
    Endpoint,
    HealAction,
    Phase,
    ProtectionInput,
    ProtectionPolicy,
    ProtectionSpec,
    ProtectionState,
    Reading,
    ReplicaServerSpec,
    ResyncWindow,
    protection_workflow_id,
)
from hvdr.replication import ReplicationHealth, ReplicationState
from hvdr.topology import ReplicationPolicy, TopologyReplicaServer

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _state(**policy: object) -> ProtectionState:
    spec = ProtectionSpec(
        vm="db-01",
        primary=Endpoint(site="site-a", host="hv-a1"),
        replica=Endpoint(site="site-b", host="hv-b1"),
        policy=ProtectionPolicy.model_validate(
            {"name": "p", "copy_frequency_s": 300, "rpo_alert_threshold_s": 900, **policy}
        ),
    )
    return ProtectionState(spec=spec, phase=Phase.REPLICATING)


def _reading(
    state: ReplicationState = ReplicationState.REPLICATING,
    behind_s: float = 60,
    health: ReplicationHealth = ReplicationHealth.NORMAL,
    missed: int = 0,
    at: datetime = T0,
) -> Reading:
    return Reading(
        state=state,
        health=health,
        health_details=["the replica is not reachable"] if health is not ReplicationHealth.NORMAL else [],
        last_replication=at - timedelta(seconds=behind_s),
        missed_cycles=missed,
        host_time=at,
    )


def test_rpo_is_host_time_minus_last_replication_and_its_alert_grades_and_clears() -> None:
    s = _state()
    s.take(_reading(behind_s=120), T0)
    assert s.rpo_s == 120 and s.open_alerts() == []
    s.take(_reading(behind_s=1000, at=T0 + timedelta(minutes=5)), T0 + timedelta(minutes=5))
    [alert] = s.open_alerts()
    assert (alert.kind, alert.severity) == (AlertKind.RPO, "warning")
    s.take(_reading(behind_s=2000, at=T0 + timedelta(minutes=10)), T0 + timedelta(minutes=10))
    [alert] = s.open_alerts()
    assert alert.severity == "critical" and alert.raised_at == T0 + timedelta(minutes=5), "one alert, upgraded"
    s.take(_reading(behind_s=30, at=T0 + timedelta(minutes=15)), T0 + timedelta(minutes=15))
    assert s.open_alerts() == [] and s.alerts[0].cleared_at == T0 + timedelta(minutes=15)


def test_health_and_missed_cycles_raise_alerts_that_clear_when_normal_again() -> None:
    s = _state()
    s.take(_reading(health=ReplicationHealth.WARNING, missed=2), T0)
    kinds = {a.kind: a.message for a in s.open_alerts()}
    assert kinds == {
        AlertKind.HEALTH: "the replica is not reachable",
        AlertKind.MISSED_CYCLES: "2 replication cycle(s) missed",
    }
    s.take(_reading(missed=2), T0 + timedelta(minutes=5))
    assert s.open_alerts() == []


def test_history_keeps_the_last_samples_only() -> None:
    s = _state()
    for i in range(HISTORY_SAMPLES + 5):
        s.take(_reading(at=T0 + timedelta(minutes=5 * i)), T0 + timedelta(minutes=5 * i))
    assert len(s.history) == HISTORY_SAMPLES
    assert s.history[-1].at == T0 + timedelta(minutes=5 * (HISTORY_SAMPLES + 4))


def test_heal_resumes_a_suspended_or_failed_vm_but_never_a_paused_one() -> None:
    s = _state()
    s.take(_reading(ReplicationState.ERROR), T0)
    heal = s.heal(T0)
    assert heal is not None and heal.action is HealAction.RESUME
    s.phase = Phase.PAUSED
    assert s.heal(T0) is None, "an operator paused it"
    s.phase = Phase.REPLICATING
    s.spec.policy.auto_heal = False
    assert s.heal(T0) is None


def test_heal_does_not_override_a_resync_an_operator_scheduled_and_sends_its_own_once() -> None:
    s = _state()
    s.take(_reading(ReplicationState.WAITING_FOR_START_RESYNCHRONIZE), T0)
    s.resync_scheduled_at = T0 + timedelta(hours=6)  # the operator's `hvdr protect resync --at`
    assert s.heal(T0) is None
    assert s.heal(T0 + timedelta(hours=6, minutes=5)) is None, "still within the grace after its start"
    late = s.heal(T0 + timedelta(hours=7))
    assert late is not None and late.action is HealAction.RESYNC and late.start_at is None


def test_heal_waits_for_the_resync_window_and_does_not_resend_every_tick() -> None:
    s = _state(resync_window=ResyncWindow(start=time(22, 0), end=time(4, 0)))
    s.take(_reading(ReplicationState.WAITING_FOR_START_RESYNCHRONIZE), T0)
    heal = s.heal(T0)
    assert heal is not None and heal.start_at == T0.replace(hour=22)
    s.resync_scheduled_at = heal.start_at  # what the workflow records once the host accepted it
    for minutes in (5, 60, 600):
        assert s.heal(T0 + timedelta(minutes=minutes)) is None
    s.take(_reading(ReplicationState.RESYNCHRONIZING), T0 + timedelta(hours=10, minutes=5))
    assert s.resync_scheduled_at is None and s.phase is Phase.RESYNCHRONIZING


def test_resync_window_spanning_midnight() -> None:
    window = ResyncWindow(start=time(22, 0), end=time(4, 0))
    assert window.next_start(T0.replace(hour=23)) is None
    assert window.next_start(T0.replace(hour=3)) is None
    assert window.next_start(T0.replace(hour=5)) == T0.replace(hour=22)


def test_status_key_ignores_rpo_jitter_within_a_copy_interval() -> None:
    s = _state()
    s.take(_reading(behind_s=40), T0)
    key = s.status_key()
    s.take(_reading(behind_s=250, at=T0 + timedelta(minutes=5)), T0 + timedelta(minutes=5))
    assert s.status_key() == key
    s.take(_reading(behind_s=400, at=T0 + timedelta(minutes=10)), T0 + timedelta(minutes=10))
    assert s.status_key() != key


def test_workflow_ids_ignore_the_case_of_vm_names() -> None:
    assert protection_workflow_id("DB-01") == protection_workflow_id("db-01") == "protect/db-01"


def test_durable_payloads_ignore_unknown_fields_and_default_missing_ones() -> None:
    raw = ProtectionInput.new(_state().spec).model_dump(mode="json")
    raw["state"]["spec"]["policy"]["field_from_the_future"] = {"x": 1}
    raw["state"]["added_later"] = True
    del raw["state"]["spec"]["policy"]["auto_heal"]
    del raw["ticks_per_run"]
    loaded = ProtectionInput.model_validate(raw)
    assert loaded.state.spec.policy.auto_heal is True and loaded.ticks_per_run == 500


def test_the_topology_maps_to_protection_payloads_in_one_place() -> None:
    topology = ReplicationPolicy(name="gold", copy_frequency_s=30, excluded_disk_names=["tmp.vhdx"])
    policy = ProtectionPolicy.of(topology)
    assert (policy.name, policy.copy_frequency_s, policy.auth.effective_port) == ("gold", 30, 80)
    assert "excluded_disk_names" not in policy.model_dump(), "the run does not carry what it does not use"
    server = ReplicaServerSpec.of(TopologyReplicaServer(enabled=True))
    assert server.enabled and server.default_storage_location == "D:\\Hyper-V Replica"
