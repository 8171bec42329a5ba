"""Property: whatever names and topology files a hostile user feeds `hvdr apply` and the read commands, the CLI
exits 0 or 2, never shows a traceback or a terminal control character, and a refusal leaves the database as it was.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from hvdr.cli.main import app

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
READERS = ["vms", "hosts", "sites", "clouds", "policies", "plans"]
FORMATS = ["table", "json", "yaml"]

FRAGMENTS = [
    "vm[/]x",
    "[bold red]boom[/]",
    "[link=http://evil]x[/link]",
    ":smile:",
    "\x1b[2J",
    "\x1b]0;title\x07",
    "\n- VM everything deleted",
    "\r",
    "\x00",
    "\x85",
    "\u202e",
    "\u2028",
    "\ud800",
    "Zürich",
    "☃",
    "%s%n{0}",
    "'; DROP TABLE vms; --",
    "a/x",
    "x" * 101,
    "HV1.A.EXAMPLE.",
]

names = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.lists(st.sampled_from([f for f in FRAGMENTS if f.isprintable() and len(f) <= 30]), min_size=1, max_size=3).map(
        "".join
    ),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), min_size=1, max_size=4).map("".join),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFF, exclude_categories=()), max_size=30),
)

NUMBERS = ["4", "'4'", ".inf", "-.inf", ".nan", "1e39", "1.0e+39", "-1", "0", "true", "~", "[]", "99999999999999999999"]

BASE = """\
sites:
  - {{name: {site}, description: {description}}}
  - {{name: b}}
clouds:
  - {{name: {cloud}, site: {site}}}
hosts:
  - {{fqdn: {fqdn}, site: {site}, cloud: {cloud}, switches: [{{name: {switch}}}]}}
vms:
  - {{name: {vm}, host: {host}, tier: {tier}, memory_gb: {memory}, network_adapters: [{{switch: {switch}}}]}}
policies:
  - {{name: {policy}, copy_frequency_s: {frequency}}}
network_mappings:
  - {{source_site: {site}, source_network: {switch}, target_network: {network}}}
recovery_plans:
  - {{name: {plan}, groups: [{{name: g, vms: [{vm}]}}]}}
"""

DEFAULTS = {
    "site": "a",
    "description": "primary",
    "cloud": "c",
    "fqdn": "hv1.a.example",
    "switch": "prod",
    "vm": "vm-01",
    "host": "hv1.a.example",
    "tier": "db",
    "memory": "4",
    "policy": "p",
    "frequency": "300",
    "network": "dr",
    "plan": "plan",
}

MUTATIONS = [
    "none",
    "none",
    "none",
    "repeat-key",
    "repeat-section",
    "drop-line",
    "duplicate-line",
    "alias-bomb",
    "deep",
    "latin1",
    "truncate",
    "raw-control",
]


@st.composite
def topology_files(draw: st.DrawFn) -> tuple[bytes, str]:
    # A few fields per file turn hostile, so that many files still apply and their names reach the reads.
    hostile = draw(st.sets(st.sampled_from(list(DEFAULTS)), max_size=3))

    def name(field: str) -> str:
        return json.dumps(draw(names) if field in hostile else DEFAULTS[field])

    fields = {field: name(field) for field in DEFAULTS}
    fields["memory"] = draw(st.sampled_from(NUMBERS)) if "memory" in hostile else "4"
    fields["frequency"] = draw(st.sampled_from(["'300'", "45", ".inf", "1e39"])) if "frequency" in hostile else "300"
    text = BASE.format(**fields)
    lines = text.splitlines(keepends=True)
    mutation = draw(st.sampled_from(MUTATIONS))
    at = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if mutation == "repeat-key":
        lines.insert(1, "  - {name: x, name: y}\n")
    elif mutation == "repeat-section":
        lines.append("vms: []\n")
    elif mutation == "drop-line":
        del lines[at]
    elif mutation == "duplicate-line":
        lines.insert(at, lines[at])
    elif mutation == "alias-bomb":
        lines.append("x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n")
        lines += [f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}"] * 10) + "]\n" for n in range(1, 7)]
    elif mutation == "deep":
        lines.append("extra: " + "[" * 500 + "]" * 500 + "\n")
    elif mutation == "truncate":
        lines = [*lines[:at], lines[at][: len(lines[at]) // 2]]
    elif mutation == "raw-control":
        lines[at] = lines[at].replace(": ", ": \x1b[2J", 1)
    raw = "".join(lines).encode("utf-8", errors="surrogatepass")
    if mutation == "latin1":
        raw = raw.replace(b"primary", b"prim\xe4ry")
    return raw, mutation


@contextmanager
def _home() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hvdr-prop-") as directory:
        yield Path(directory)


def _snapshot(database: Path) -> list[tuple[object, ...]]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return [(t, *row) for t in tables for row in connection.execute(f'SELECT * FROM "{t}" ORDER BY 1')]


def _check(result: Result, what: str) -> None:
    assert result.exit_code in (0, 2), (what, result.exit_code, result.output)
    assert "Traceback" not in result.output, (what, result.output)
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), (what, repr(result.exception))
    found = CONTROL.search(result.output)
    assert found is None, (what, found, result.output)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    files=st.lists(topology_files(), min_size=1, max_size=3),
    reads=st.lists(st.tuples(st.sampled_from(READERS), st.sampled_from(FORMATS)), min_size=1, max_size=3),
)
def test_hostile_topologies_exit_cleanly_and_never_lose_data(
    files: list[tuple[bytes, str]], reads: list[tuple[str, str]]
) -> None:
    runner = CliRunner()
    with _home() as home:
        env = {k: "" for k in os.environ if k.startswith("HVDR_")} | {"HVDR_HOME": str(home), "COLUMNS": "120"}
        database = home / "inventory.db"
        for index, (raw, mutation) in enumerate(files):
            file = home / f"topology-{index}.yaml"
            file.write_bytes(raw)
            before = _snapshot(database)
            dry = runner.invoke(app, ["apply", "-f", str(file), "--dry-run"], env=env)
            _check(dry, f"apply --dry-run ({mutation})")
            assert _snapshot(database) == before, "a dry run changed the inventory"
            applied = runner.invoke(app, ["apply", "-f", str(file)], env=env)
            _check(applied, f"apply ({mutation})")
            event(f"apply exits {applied.exit_code}")
            assert applied.exit_code == dry.exit_code, (dry.output, applied.output)
            if applied.exit_code != 0:
                assert _snapshot(database) == before, "a refused apply changed the inventory"
            else:  # what was applied exports to a file that re-applies with no change
                exported = home / f"exported-{index}.yaml"
                _check(runner.invoke(app, ["export", "-f", str(exported)], env=env), "export")
                again = runner.invoke(app, ["apply", "-f", str(exported)], env=env)
                _check(again, f"apply of the export after {mutation}")
                assert again.exit_code == 0 and "nothing to change" in again.stdout, again.output
            for reader, fmt in reads:
                read = runner.invoke(app, [reader, "-o", fmt], env=env)
                _check(read, f"{reader} -o {fmt} after {mutation}")
                assert read.exit_code == 0, read.output
