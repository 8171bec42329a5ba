"""deploy/ names only what hvdr has: every file parses, and the commands, flags, HVDR_* variables, ports,
paths and search attributes it names exist in hvdr (no Docker here: the files are read, not run)."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hvdr.cli.main import app
from hvdr.runtime.codec_server import DEFAULT_PORT as CODEC_PORT
from hvdr.settings import _ENV, DEFAULT_TEMPORAL_ADDRESS
from hvdr.visibility import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
WORKERS = DEPLOY / "kubernetes" / "hvdr-site-workers.yaml"
HELM_VALUES = DEPLOY / "kubernetes" / "temporal-values.yaml"
UNIT = DEPLOY / "systemd" / "hvdr-worker@.service"
DOCKERFILE = DEPLOY / "Dockerfile"
TEMPORAL_PORT = int(DEFAULT_TEMPORAL_ADDRESS.rsplit(":", 1)[1])
# Files the operator supplies (deploy/README.md lists them); every other relative path must exist.
SUPPLIED = {
    "./topology.yaml",
    "./secrets/codec.keys",
    "./secrets/credentials-site-a.env",
    "./secrets/credentials-site-b.env",
}


def _files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def _yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def _check_hvdr(args: list[str], where: str) -> None:
    """Parse ``hvdr ARGS`` as the CLI does, without running it (``--help`` ends every parse that succeeds):
    an unknown command or flag fails the parse with exit code 2."""
    result = CliRunner().invoke(app, [*args, "--help"])
    if result.exit_code != 0:
        message = " ".join(result.output.split())[-300:]
        raise AssertionError(f"{where}: `hvdr {shlex.join(args)}` is not a valid hvdr command: {message}")
    usage = next(line for line in result.output.splitlines() if "Usage: hvdr" in line)
    assert "COMMAND" not in usage, f"{where}: `hvdr {shlex.join(args)}` names a command group, not a command"


def _compose() -> dict[str, Any]:
    [doc] = _yaml(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def _k8s() -> list[dict[str, Any]]:
    return _yaml(WORKERS)


def _containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in _k8s():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            yield f"{doc['kind']}/{doc['metadata']['name']}", container


def _doc_commands() -> Iterator[tuple[str, list[str]]]:
    """``hvdr …`` invocations in the code blocks and inline code of deploy/'s Markdown."""
    pattern = re.compile(r"(?:^|[\s/\\`])hvdr(?:\.exe)?\s+([a-z][^#`\n]*)")
    for path in _files():
        if path.suffix != ".md":
            continue
        text = path.read_text(encoding="utf-8")
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S) + re.findall(r"`(hvdr [^`]+)`", text)
        for block in blocks:
            for line in block.splitlines():
                for match in pattern.finditer(line):
                    words = shlex.split(match.group(1).split(" # ")[0].replace("\\", "/"))
                    if words and not words[0].startswith(("-", "<")):
                        yield f"{path.relative_to(ROOT)}: {line.strip()}", words


def test_every_file_under_deploy_parses() -> None:
    kinds = set()
    for path in _files():
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            assert _yaml(path), f"{path} is empty"
            kinds.add("yaml")
        elif path.suffix == ".service":
            unit = configparser.ConfigParser(strict=False, interpolation=None)
            unit.read_string(text)
            assert {"Unit", "Service", "Install"} <= set(unit.sections())
            kinds.add("systemd")
        elif path.name == "Dockerfile":
            assert text.splitlines()[[ln.startswith("FROM") for ln in text.splitlines()].index(True)]
            kinds.add("docker")
        elif path.suffix == ".sh":
            assert text.startswith("#!/bin/sh\n") and "set -eu" in text
        else:
            assert path.suffix in (".md", ".example"), f"{path}: a kind of file this test does not check"
    assert kinds == {"yaml", "systemd", "docker"}


def test_every_hvdr_command_deploy_runs_is_a_real_command_with_real_flags() -> None:
    checked = []
    for name, service in _compose()["services"].items():
        if "hvdr" in str(service.get("image", "")):
            _check_hvdr(service["command"], f"compose service {name}")
            checked.append(name)
    for where, container in _containers():
        if "hvdr" in container["image"]:
            _check_hvdr(container["args"], where)
            checked.append(where)
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    binary, *args = shlex.split(unit["Service"]["ExecStart"].replace("%i", "site-b"))
    assert binary == "/opt/hvdr/bin/hvdr"
    _check_hvdr(args, str(UNIT))
    entry, cmd = _dockerfile_exec("ENTRYPOINT"), _dockerfile_exec("CMD")
    assert entry == ["hvdr"]
    _check_hvdr(cmd, str(DOCKERFILE))
    docs = list(_doc_commands())
    for where, words in docs:
        _check_hvdr(words, where)
    assert len(checked) >= 7 and len(docs) >= 5


def test_a_wrong_command_or_flag_would_be_caught() -> None:
    with pytest.raises(AssertionError, match="not a valid hvdr command"):
        _check_hvdr(["worker", "--sites", "a"], "self-check")
    with pytest.raises(AssertionError, match="not a valid hvdr command"):
        _check_hvdr(["wroker", "--site", "a"], "self-check")


def _dockerfile_exec(instruction: str) -> list[str]:
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith(instruction + " "):
            value = json.loads(line[len(instruction) + 1 :])
            assert isinstance(value, list)
            return [str(v) for v in value]
    raise AssertionError(f"{DOCKERFILE} has no {instruction}")


def _known_variables() -> set[str]:
    literal = re.compile(r"[\"'](HVDR_[A-Z0-9_]+)[\"']")
    found = {m for path in (ROOT / "src" / "hvdr").rglob("*.py") for m in literal.findall(path.read_text("utf-8"))}
    return set(_ENV) | found


def test_every_hvdr_variable_deploy_sets_is_one_hvdr_reads() -> None:
    known = _known_variables()
    assert {"HVDR_HOME", "HVDR_CREDENTIALS_FILE", "HVDR_CODEC_KEY_FILE", "HVDR_IDENTITY"} <= known
    credential = re.compile(r"HVDR_CREDENTIAL_(<NAME>|[A-Z0-9_]+)_(USERNAME|PASSWORD)$")
    named = 0
    for path in _files():
        for name in re.findall(r"HVDR_[A-Z0-9_<>]+", path.read_text(encoding="utf-8")):
            named += 1
            if credential.match(name):
                continue
            assert name in known, f"{path.relative_to(ROOT)} names {name}, which hvdr does not read"
    assert named > 20


def test_ports_agree_with_hvdrs_defaults_and_with_each_other() -> None:
    services = _compose()["services"]
    assert f"{TEMPORAL_PORT}:{TEMPORAL_PORT}" in services["temporal"]["ports"]
    codec = services["hvdr-codec"]
    port = codec["command"][codec["command"].index("--port") + 1]
    assert port == str(CODEC_PORT) and f"{port}:{port}" in codec["ports"]
    assert services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith(f":{CODEC_PORT}")
    ui_port = services["temporal-ui"]["ports"][0].split(":")[0]
    assert f"http://localhost:{ui_port}" in codec["command"]  # CORS for the UI the browser loads
    addresses = [services["hvdr-apply"]["environment"]["HVDR_TEMPORAL_ADDRESS"]]
    [settings_map] = [d for d in _k8s() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "hvdr-settings"]
    addresses.append(settings_map["data"]["HVDR_TEMPORAL_ADDRESS"])
    [values] = _yaml(HELM_VALUES)
    assert values["server"]["frontend"]["service"]["port"] == TEMPORAL_PORT
    assert all(a.endswith(f":{TEMPORAL_PORT}") for a in addresses), addresses
    # The chart names the frontend Service <release>-frontend; the README installs the release as "temporal".
    assert settings_map["data"]["HVDR_TEMPORAL_ADDRESS"].startswith("temporal-frontend.")
    [(_, codec_container)] = [(w, c) for w, c in _containers() if c["args"][0] == "codec-server"]
    assert (
        codec_container["ports"][0]["containerPort"]
        == CODEC_PORT
        == int(codec_container["args"][codec_container["args"].index("--port") + 1])
    )


def test_paths_deploy_names_exist_or_are_the_operators_own() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert source in SUPPLIED or (COMPOSE.parent / source).exists(), f"{name}: {source} missing"
        for env_file in service.get("env_file", []):
            assert env_file in SUPPLIED
        if "build" in service:
            context = (COMPOSE.parent / service["build"]["context"]).resolve()
            assert context == ROOT and (context / service["build"]["dockerfile"]) == DOCKERFILE
        entry = service.get("entrypoint", [])
        for script in [w for w in entry if w.startswith("/scripts/")]:
            assert (COMPOSE.parent / "scripts" / Path(script).name).is_file()
    for secret in _compose()["secrets"].values():
        assert "./" + str(Path(secret["file"])) in SUPPLIED or secret["file"] in SUPPLIED
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for supplied in SUPPLIED:
        assert supplied.removeprefix("./") in readme, f"deploy/README.md does not tell the operator about {supplied}"
    # Settings that name files point at where the files are mounted.
    worker = services["hvdr-worker-site-a"]
    env = worker["environment"]
    mounted = {v.split(":")[1] for v in worker["volumes"]} | {f"/run/secrets/{s}" for s in worker["secrets"]}
    assert env["HVDR_TOPOLOGY"] in mounted and env["HVDR_CODEC_KEY_FILE"] in mounted
    for where, container in _containers():
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        env_values = {e["name"]: e.get("value") for e in container.get("env", [])}
        key_file = env_values.get("HVDR_CODEC_KEY_FILE")
        if key_file:
            assert str(Path(key_file).parent) in mounts, where
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which the repository lacks"


def test_images_are_pinned_and_the_search_attributes_are_hvdrs() -> None:
    images = [s["image"] for s in _compose()["services"].values()] + [c["image"] for _, c in _containers()]
    for image in images:
        tag = image.rsplit(":", 1)[-1].rstrip("}")
        assert ":" in image and tag not in ("latest", "") and "/" not in tag, f"{image} is not pinned"
    from_line = next(ln for ln in DOCKERFILE.read_text("utf-8").splitlines() if ln.startswith("FROM"))
    assert ":" in from_line and "latest" not in from_line
    wanted = {key.name for key in SEARCH_ATTRIBUTES}
    for text in (
        (DEPLOY / "compose" / "scripts" / "create-namespace.sh").read_text("utf-8"),
        WORKERS.read_text("utf-8"),
    ):
        assert set(re.findall(r"\bHvdr[A-Z][A-Za-z]+\b", text)) == wanted
