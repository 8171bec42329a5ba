"""``hvdr export``: the inventory as a topology file that re-applies with no change."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_origin

import yaml
from pydantic import BaseModel
from sqlmodel import Session, select

from hvdr.inventory.apply import KINDS
from hvdr.topology import TOPOLOGY_VERSION, Topology


def export_topology(session: Session) -> Topology:
    """Rebuild the declared topology from the inventory (discovered VMs included, lab settings not)."""
    document: dict[str, Any] = {"version": TOPOLOGY_VERSION}
    for kind in KINDS:
        rows = session.exec(select(kind.table)).all()
        document[kind.section] = [row.spec for row in sorted(rows, key=lambda r: str(getattr(r, kind.key)))]  # type: ignore[attr-defined]
    return Topology.model_validate(document)


def _compact(value: Any) -> Any:
    """JSON-ready data without fields left at their defaults, but keeping union tags (``type``, ``method``)
    that the file needs to say which kind of action or initial replication it means."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            item = getattr(value, name)
            is_tag = name in _TAGS and get_origin(info.annotation) is Literal
            if is_tag or item != info.get_default(call_default_factory=True):
                out[name] = _compact(item)
        return out
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_TAGS = {"type", "method"}


def topology_yaml(topology: Topology) -> str:
    """YAML without the fields left at their defaults, in the file's section order."""
    data = _compact(topology)
    data.pop("lab", None)
    data = {"version": TOPOLOGY_VERSION, **data}
    header = "# hvdr topology exported from the inventory; `hvdr apply -f` this file to restore it.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
