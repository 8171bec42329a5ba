"""The lab's cmdlet signatures against Microsoft's reference pages (facts in tests/lab/cmdlet_reference.py).

Every Hyper-V cmdlet the lab serves must have its page transcribed; every documented parameter is declared with the
documented sets, position, mandatoriness, aliases, type and pipeline input, unless the facts list it as not simulated
(with the reason); the lab declares nothing the page does not. Sets whose mandatory parameter is not simulated are
left out as a whole.
"""

from __future__ import annotations

import pytest

from hvdr.lab.cmdlets import HYPERV
from hvdr.lab.cmdlets.base import CmdletSpec, hyperv_class
from hvdr.lab.cmdlets.binding import ALL_SETS, Param
from tests.lab.cmdlet_reference import REFERENCE, Cmdlet

POWERSHELL_OWN = {"get-date", "get-psdrive"}  # Microsoft.PowerShell.Utility/Management, not the Hyper-V module
KINDS = {
    "String": "string",
    "String[]": "strings",
    "Int32": "int",
    "Boolean": "bool",
    "SwitchParameter": "switch",
    "DateTime": "datetime",
    "TimeSpan": "timespan",
    "Guid": "guid",
    "Hashtable": "hashtable",
    "CimSession[]": "objects",
    "PSCredential[]": "objects",
    "VMSwitchType[]": "strings",  # the lab keeps switch types as names; they compare case-insensitively
}
ENUMS = {
    "SnapshotType",
    "ReplicationAuthenticationType",
    "RecoveryAuthenticationType",
    "VMReplicationState",
    "VMReplicationHealthState",
    "VMReplicationMode",
    "VMReplicationRelationshipType",
}


def test_every_served_hyperv_cmdlet_has_its_page_transcribed() -> None:
    served = {spec.name for key, spec in HYPERV.items() if key not in POWERSHELL_OWN}
    assert served <= set(REFERENCE), f"transcribe the reference pages of {sorted(served - set(REFERENCE))}"
    assert all(HYPERV[name.lower()].command_class == hyperv_class(name) for name in served)


def _simulated_sets(facts: Cmdlet) -> set[str]:
    documented = {s for p in facts.params for s in p.sets if s != "*"}
    dropped = {
        s
        for p in facts.params
        if p.name in facts.not_simulated and p.sets != ("*",)
        for s in p.sets
        if p.required or p.sets == (s,)
    }
    return (documented - dropped) or {ALL_SETS}


def _type_matches(param: Param, documented: str) -> bool:
    if documented in KINDS:
        return param.kind == KINDS[documented]
    if documented in ENUMS:
        return param.kind == "enum" and param.enum is not None and param.enum.__name__ == documented
    base = documented.removesuffix("[]")
    kind = "objects" if documented.endswith("[]") else "object"
    return param.kind == kind and base in param.pipeline_types


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_the_lab_declares_the_documented_signature(name: str) -> None:
    facts = REFERENCE[name]
    if name.lower() not in HYPERV:
        pytest.skip(f"{name} is transcribed ahead of the lab serving it")
    spec: CmdletSpec = HYPERV[name.lower()]
    signature = spec.signature
    sets = _simulated_sets(facts)
    assert set(signature.sets) == sets, f"{name}: parameter sets ({facts.page})"
    if len(sets) > 1:
        assert signature.default_set == facts.default_set, f"{name}: default set"
    documented = {p.name for p in facts.params}
    declared = {p.name for p in signature.params}
    assert declared <= documented, f"{name} declares {sorted(declared - documented)}, not on {facts.page}"
    assert not (declared & set(facts.not_simulated)), f"{name}: a parameter listed as not simulated is declared"
    for fact in facts.params:
        if fact.name in facts.not_simulated:
            continue
        assert fact.name in declared, f"{name} -{fact.name} is documented but not declared"
        for set_name in sets if fact.sets == ("*",) else [s for s in fact.sets if s in sets]:
            block = signature.block(fact.name, set_name)
            where = f"{name} -{fact.name} in set {set_name}"
            assert block is not None, f"{where}: not declared in this set"
            assert block.position == fact.position, f"{where}: position"
            assert block.mandatory == fact.required, f"{where}: mandatory"
            assert set(block.aliases) == set(fact.aliases), f"{where}: aliases"
            assert _type_matches(block, fact.type), f"{where}: type {fact.type} vs {block.kind}"
            by_value = block.by_value and bool(block.pipeline_types)
            assert by_value == ("ByValue" in fact.pipeline), f"{where}: pipeline input by value"
            assert block.by_property_name == ("ByPropertyName" in fact.pipeline), f"{where}: by property name"
        lab_sets = set(signature.sets_of(fact.name))
        expected = sets if fact.sets == ("*",) else {s for s in fact.sets if s in sets}
        assert lab_sets == expected, f"{name} -{fact.name}: sets {sorted(lab_sets)} vs {sorted(expected)}"
