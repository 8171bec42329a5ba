"""A small workflow that runs recovery-plan actions as a plan run does (groups in order, before then after),
so the kit's action pieces are tested against the lab without the plan engine."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from hvdr.actions import DECIDE_UPDATE, ActionRecord, ActionSpec, Decision, DecisionResult
    from hvdr.payloads import Durable

from hvdr.workflows.actions import Actions


class ProbeInput(Durable):
    groups: list[str]
    actions: list[ActionSpec]
    time_scale: float = 1.0
    heartbeat_s: float = 45.0


@workflow.defn(name="ActionsProbe")
class ActionsProbe:
    @workflow.init
    def __init__(self, request: ProbeInput) -> None:
        self.records: list[ActionRecord] = []
        self.details: list[str] = []
        self.actions = Actions(
            request.actions,
            self.records,
            time_scale=request.time_scale,
            notify=self.details.append,
            heartbeat=timedelta(seconds=request.heartbeat_s),
        )

    @workflow.run
    async def run(self, request: ProbeInput) -> list[ActionRecord]:
        for group in request.groups:
            if await self.actions.run(group, "before") is not None or await self.actions.run(group, "after"):
                return self.records
        return self.records

    @workflow.update(name=DECIDE_UPDATE)
    async def decide(self, decision: Decision) -> DecisionResult:
        return self.actions.decide(decision)

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        self.actions.check(decision)

    @workflow.query
    def state(self) -> list[ActionRecord]:
        return self.records
