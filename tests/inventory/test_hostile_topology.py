"""Hostile topology files: refused quickly, at file:line, with a message that says what to fix — never lost data."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvdr.inventory import queries
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.validate import TopologyInvalid, is_dns_name, load_and_validate, validate_text
from hvdr.settings import Settings, load_settings
from hvdr.topology import default_topology_path
from hvdr.yamlfile import SafeLimitedLoader

BASE = default_topology_path().read_text(encoding="utf-8")
MINIMAL = """\
sites: [{name: a}, {name: b}]
hosts:
  - {fqdn: hv1.a.example, site: a}
"""


def _only_problem(text: str) -> str:
    with pytest.raises(TopologyInvalid) as caught:
        validate_text(text, "t.yaml")
    assert len(caught.value.problems) == 1, caught.value.problems
    return str(caught.value.problems[0])


def _problems(text: str) -> list[str]:
    with pytest.raises(TopologyInvalid) as caught:
        validate_text(text, "t.yaml")
    return [str(p) for p in caught.value.problems]


def test_an_alias_bomb_is_refused_at_its_line_before_anything_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 9):  # 9**9 nodes expanded: far beyond any machine's memory (bench/hostile_yaml.py times it)
        levels.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    text = "\n".join(levels) + "\n"
    assert len(text) < 600

    def expanded(*_args: object) -> None:
        raise AssertionError("the document was constructed: the bomb went off")

    monkeypatch.setattr(SafeLimitedLoader, "construct_document", expanded)
    problem = _only_problem(text)
    assert problem.startswith("t.yaml:6: ") and "aliases expand to more than 100,000 nodes" in problem


def test_aliases_within_limits_still_work() -> None:
    topology = validate_text(BASE, "default.yaml")  # the lab's file shares one replica_server block by alias
    assert all(h.replica_server.enabled for h in topology.hosts)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    assert _only_problem("sites: " + "[" * 5000 + "]" * 5000 + "\n") == (
        "t.yaml:1: not valid YAML: nested deeper than 64 levels; a topology needs about ten"
    )
    problem = _only_problem("sites:\n" + "".join("  " * i + "- \n" for i in range(1, 200)))
    assert "nested deeper than 64 levels" in problem and problem.startswith("t.yaml:")


def test_a_recursive_alias_is_refused() -> None:
    assert "recursive" in _only_problem("sites: &s [*s]\nhosts: []\n")


def test_a_key_repeated_in_one_mapping_is_refused_at_the_second() -> None:
    text = BASE.replace(
        "    site: site-a\n    cloud: cloud-a\n", "    site: site-a\n    site: site-c\n    cloud: cloud-a\n", 1
    )
    line = text.splitlines().index("    site: site-c") + 1
    problem = _only_problem(text)
    assert problem.startswith(f"t.yaml:{line}: ") and "key 'site' appears twice" in problem
    assert f"first at line {line - 1}" in problem


def test_a_repeated_section_is_refused_rather_than_replacing_the_first() -> None:
    text = BASE.replace("policies:\n", "vms:\n  - {name: extra, host: hv-a1.site-a.lab.local}\n\npolicies:\n", 1)
    line = text.splitlines().index("vms:", text.splitlines().index("vms:") + 1) + 1
    problem = _only_problem(text)
    assert problem.startswith(f"t.yaml:{line}: ") and "section 'vms' appears twice" in problem


def test_bytes_that_are_not_utf8_are_refused_at_their_line(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes(MINIMAL.encode() + "vms:\n  - {name: caf\xe9, host: hv1.a.example}\n".encode("latin-1"))
    with pytest.raises(TopologyInvalid) as caught:
        load_and_validate(file)
    assert [str(p) for p in caught.value.problems] == [f"{file}:5: byte 0xe9 is not UTF-8: save the file as UTF-8"]


def test_a_lone_surrogate_is_refused_at_its_line() -> None:
    problem = _only_problem(MINIMAL + 'vms:\n  - {name: "vm\\ud800", host: hv1.a.example}\n')
    assert problem == "t.yaml:5: not valid YAML: '\\ud800' (a lone surrogate) in a string: text must be valid Unicode"


def test_a_raw_control_character_in_the_file_is_refused_at_its_line() -> None:
    problem = _only_problem(MINIMAL + "vms:\n  - {name: vm\x1b[2Jx, host: hv1.a.example}\n")
    assert problem.startswith("t.yaml:5: ") and "'\\x1b'" in problem and "\x1b" not in problem


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ('"vm\\e[31mred"', "'\\x1b' (a control character): control characters are not allowed here"),
        ('"vm\\nforged"', "'\\n' (a control character)"),
        ('"vm\\0"', "'\\x00' (a control character)"),
        ('"vm\\u202eexe.txt"', "'\\u202e' (RIGHT-TO-LEFT OVERRIDE)"),
        ('"vm\\x85"', "'\\x85' (a control character)"),
        ('""', "a name cannot be empty"),
        ("x" * 101, "a name is at most 100 characters (this one has 101)"),
    ],
)
def test_names_hold_what_hyperv_accepts(name: str, message: str) -> None:
    problem = _only_problem(MINIMAL + f"vms:\n  - {{name: {name}, host: hv1.a.example}}\n")
    assert problem.startswith("t.yaml:5: vms[0].name: ") and message in problem
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in problem)


def test_a_name_of_100_characters_and_unicode_names_are_accepted() -> None:
    topology = validate_text(
        MINIMAL
        + f"vms:\n  - {{name: {'x' * 100}, host: hv1.a.example}}\n  - {{name: Zürich-01, host: hv1.a.example}}\n"
    )
    assert [len(v.name) for v in topology.vms] == [100, 9]


def test_free_text_may_span_lines_but_holds_no_escape_sequences() -> None:
    assert validate_text(MINIMAL.replace("{name: a}", '{name: a, description: "two\\nlines"}')).sites[0].description
    problem = _only_problem(MINIMAL.replace("{name: a}", '{name: a, description: "\\e]0;pwned\\a"}'))
    assert "sites[0].description: contains '\\x1b'" in problem


def test_a_missing_required_field_is_named() -> None:
    problem = _only_problem(MINIMAL + "vms:\n  - {host: hv1.a.example}\n")
    assert problem == "t.yaml:5: vms[0].name: required field 'name' is missing"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (".inf", "must be a finite number, not inf"),
        ("-.inf", "must be a finite number, not -inf"),
        (".nan", "must be a finite number, not nan"),
        ("1.0e+39", "1e+39 is out of range"),
        ("1e39", "must be a number, not the text '1e39'"),  # YAML 1.1 reads 1e39 (no dot) as text
        ("'64'", "must be a number, not the text '64' (write it without quotes)"),
        ("true", "must be a number, not true"),
    ],
)
def test_numbers_are_finite_numbers_in_range(value: str, message: str) -> None:
    problem = _only_problem(MINIMAL + f"vms:\n  - {{name: vm, host: hv1.a.example, memory_gb: {value}}}\n")
    assert problem == f"t.yaml:5: vms[0].memory_gb: {message}"


def test_a_quoted_copy_frequency_says_it_must_be_a_number() -> None:
    problem = _only_problem(BASE.replace("    copy_frequency_s: 300 ", "    copy_frequency_s: '300' "))
    assert "policies[0].copy_frequency_s: must be a number, not the text '300' (write it without quotes)" in problem


@pytest.mark.parametrize("twin", ["HV1.A.EXAMPLE", "hv1.a.example.", "Hv1.A.Example."])
def test_host_names_differing_by_case_or_trailing_dot_are_one_host(twin: str) -> None:
    problems = _problems(MINIMAL + f"  - {{fqdn: {twin}, site: a}}\n")
    assert problems == [f"t.yaml:4: hosts[1].fqdn: duplicate name {twin!r}"]


def test_a_vm_names_its_host_with_a_trailing_dot_or_another_case() -> None:
    topology = validate_text(MINIMAL + "vms:\n  - {name: v1, host: HV1.a.example.}\n  - {name: v2, host: hv1.}\n")
    assert [topology.host(v.host).fqdn for v in topology.vms] == ["hv1.a.example", "hv1.a.example"]  # type: ignore[union-attr]


def test_dns_names_are_at_most_253_characters() -> None:
    long_name = ".".join(["a" * 63] * 4)  # 255 characters
    assert not is_dns_name(long_name)
    assert is_dns_name(long_name[:253].rstrip("."))
    problems = _problems(MINIMAL.replace("hv1.a.example", long_name))
    assert any("hosts[0].fqdn:" in p and "not a fully qualified DNS name" in p for p in problems)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"HVDR_HOME": str(tmp_path / "home")})


def test_network_mappings_whose_joined_keys_collide_are_both_kept(settings: Settings) -> None:
    text = """\
sites: [{name: a}, {name: a/x}, {name: b}]
hosts: [{fqdn: hv1.a.example, site: a}]
network_mappings:
  - {source_site: a/x, source_network: n1, target_network: t1}
  - {source_site: a, source_network: x/n1, target_network: t2}
"""
    topology = validate_text(text)
    with session_for(settings) as session:
        changes = [str(c) for c in apply_topology(session, topology)]
    assert "+ network mapping 'n1' of site 'a/x'" in changes
    assert "+ network mapping 'x/n1' of site 'a'" in changes
    with session_for(settings) as session:
        from hvdr.inventory.export import export_topology

        kept = {(m.source_site, m.source_network): m.target_network for m in export_topology(session).network_mappings}
        assert kept == {("a/x", "n1"): "t1", ("a", "x/n1"): "t2"}
        assert apply_topology(session, topology) == []
        assert [h["fqdn"] for h in queries.hosts(session)] == ["hv1.a.example"]


def test_discovery_records_a_host_reported_name_it_can_show_and_skips_one_it_cannot(settings: Settings) -> None:
    from hvdr.inventory.discovery import record_discovery
    from hvdr.models import DiscoveredHost, DiscoveredSite, DiscoveredVM

    with session_for(settings) as session:
        apply_topology(session, validate_text(MINIMAL))
    found = DiscoveredSite(
        site="a",
        source="hosts",
        hosts=[DiscoveredHost(name="HV1.A.EXAMPLE.")],  # the declared host, as a host may spell itself
        vms=[
            DiscoveredVM(name="vm[/]x", host="hv1.a.example."),
            DiscoveredVM(name="evil\x1b[2J\n- VM deleted", host="hv1.a.example"),
        ],
    )
    with session_for(settings) as session:
        summary = record_discovery(session, [found])
    assert summary.undeclared_hosts == [] and summary.vms_added == ["vm[/]x"]
    assert summary.errors == [
        "VM 'evil\\x1b[2J\\n- VM deleted' on hv1.a.example not recorded: its name contains '\\x1b' (a control "
        "character): control characters are not allowed here"
    ]
    with session_for(settings) as session:
        assert [(v["name"], v["host"]) for v in queries.vms(session)] == [("vm[/]x", "hv1.a.example")]
