"""Looks for secrets where they must never be: Temporal histories, logs, reports, files a run leaves behind.

A secret is found as written, JSON-escaped, base64-encoded (at any alignment, as a payload's data or a Basic
header carries it) and as UTF-16LE (as PowerShell's ``-EncodedCommand`` would carry it), inside any payload of
a history (decoded by the data converter when a codec is on, as the web UI would show it), and in the raw bytes
of files. A match as written is a secret not glued to other word characters or hyphens, so a password that is
also the prefix of a temp directory's name (``hvdr-lab`` in ``hvdr-lab-tls-…``) is not a false alarm.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client as TemporalClient
from temporalio.converter import DataConverter

from hvdr.codec import CodecChain, CompressionCodec


@dataclass(frozen=True)
class Leak:
    where: str
    secret: str
    form: str

    def __str__(self) -> str:
        return f"{self.where}: {self.form} of {self.secret[:3]}…"


def _b64_forms(raw: bytes) -> Iterator[bytes]:
    """The base64 text of ``raw`` at each of the three alignments it can take inside a longer string, without
    the edge characters that depend on the neighbouring bytes."""
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        # Character i carries bits 6i..6i+5: only those wholly inside the secret's bytes are fixed.
        start, end = -(-8 * pad // 6), 8 * (pad + len(raw)) // 6
        core = encoded[start:end]
        if len(core) >= 8:
            yield core


def forms(secret: str) -> list[tuple[str, re.Pattern[bytes]]]:
    raw = secret.encode()
    found: list[tuple[str, re.Pattern[bytes]]] = []
    texts = {"the secret": raw, "the JSON-escaped secret": secret.replace("\\", "\\\\").encode()}
    for label, text in texts.items():
        if label == "the secret" or text != raw:
            found.append((label, re.compile(rb"(?<![\w-])" + re.escape(text) + rb"(?![\w-])")))
    found.append(("the UTF-16 secret", re.compile(re.escape(secret.encode("utf-16-le")))))
    for label, data in (("base64", raw), ("base64 UTF-16", secret.encode("utf-16-le"))):
        for core in _b64_forms(data):
            found.append((label, re.compile(re.escape(core))))
    return found


def find_leaks(sources: Iterable[tuple[str, bytes]], secrets: Iterable[str]) -> list[Leak]:
    patterns = [(secret, form, pattern) for secret in secrets if secret for form, pattern in forms(secret)]
    leaks = []
    for where, data in sources:
        for secret, form, pattern in patterns:
            if pattern.search(data):
                leaks.append(Leak(where, secret, form))
    return leaks


def _payload_dicts(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict of a history's JSON that is a payload (``metadata`` + ``data``)."""
    if isinstance(node, dict):
        if "data" in node and isinstance(node.get("data"), str) and "metadata" in node:
            yield node
        for value in node.values():
            yield from _payload_dicts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _payload_dicts(item)


async def _decoded(payloads: list[Payload], converter: DataConverter | None) -> list[bytes]:
    out = [p.data for p in payloads]
    # Without the key, large payloads are still compressed: a leak inside one must not hide from the scan.
    codec = converter.payload_codec if converter is not None else None
    for payload in payloads:
        try:
            out += [p.data for p in await (codec or CodecChain(CompressionCodec())).decode([payload])]
        except Exception:
            continue
    return out


async def history_sources(
    client: TemporalClient, converter: DataConverter | None = None, query: str | None = None
) -> list[tuple[str, bytes]]:
    """The history of every workflow run on the client's namespace: its JSON, and every payload in it decoded
    (base64, then the codec when ``converter`` has one)."""
    sources: list[tuple[str, bytes]] = []
    async for run in client.list_workflows(query):
        handle = client.get_workflow_handle(run.id, run_id=run.run_id)
        history = await handle.fetch_history()
        text = history.to_json()
        where = f"history of {run.id} ({run.run_id})"
        sources.append((where, text.encode()))
        payloads = []
        for node in _payload_dicts(history.to_json_dict()):
            try:
                data = base64.b64decode(node["data"], validate=True)
            except (binascii.Error, ValueError):
                continue
            metadata = {k: base64.b64decode(v) for k, v in node.get("metadata", {}).items()}
            payloads.append(Payload(metadata=metadata, data=data))
        for data in await _decoded(payloads, converter):
            sources.append((f"{where}, a payload", data))
    return sources


def file_sources(root: Path, skip: Iterable[Path] = ()) -> list[tuple[str, bytes]]:
    """Every file below ``root`` but those in ``skip`` (the stores where secrets belong)."""
    skipped = {p.resolve() for p in skip}
    return [
        (str(path), path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.resolve() not in skipped
    ]
