"""The inventory's tables.

Each declared object keeps its key columns (for queries and joins) and its whole declaration as JSON
(``spec``, the topology schema's canonical form), so ``apply`` and ``export`` are lossless and the schema
can grow without a migration for every new field. What discovery learns about a VM is kept in columns of
its own, apart from what the topology declares.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class SiteRow(SQLModel, table=True):
    __tablename__ = "sites"
    name: str = Field(primary_key=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class VMMServerRow(SQLModel, table=True):
    __tablename__ = "vmm_servers"
    name: str = Field(primary_key=True)
    site: str = Field(index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class CloudRow(SQLModel, table=True):
    __tablename__ = "clouds"
    name: str = Field(primary_key=True)
    site: str = Field(index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class HostRow(SQLModel, table=True):
    __tablename__ = "hosts"
    fqdn: str = Field(primary_key=True)
    site: str = Field(index=True)
    cloud: str | None = Field(default=None, index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class VMRow(SQLModel, table=True):
    __tablename__ = "vms"
    name: str = Field(primary_key=True)
    host: str = Field(index=True)
    site: str | None = Field(default=None, index=True)
    cloud: str | None = Field(default=None, index=True)
    source: str = "topology"
    """``topology`` (declared in a file) or ``discovery`` (found on a host, not declared)."""
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    vm_id: str | None = None
    power_state: str | None = None
    replication_mode: str | None = None
    replication_state: str | None = None
    discovered_host: str | None = None
    discovered_at: datetime | None = None


class PolicyRow(SQLModel, table=True):
    __tablename__ = "policies"
    name: str = Field(primary_key=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class CloudPairingRow(SQLModel, table=True):
    __tablename__ = "cloud_pairings"
    primary_cloud: str = Field(primary_key=True)
    recovery_cloud: str = Field(unique=True)
    policy: str = Field(index=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class NetworkMappingRow(SQLModel, table=True):
    __tablename__ = "network_mappings"
    key: str = Field(primary_key=True)
    """``["<source site or null>", "<source network>"]`` (JSON: no two mappings can share it)."""
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class RecoveryPlanRow(SQLModel, table=True):
    __tablename__ = "recovery_plans"
    name: str = Field(primary_key=True)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class RunRecordRow(SQLModel, table=True):
    """Who started what, when, and how it ended (the Temporal history holds every step)."""

    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    subject: str = Field(index=True)
    workflow_id: str = Field(index=True)
    run_id: str | None = None
    started_by: str
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str | None = None
    detail: str | None = None
