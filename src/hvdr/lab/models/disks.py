"""Virtual disks as fixed-size arrays of blocks whose values are content versions, plus the replica log.

A block's value is the version of the content last written to it (0 = never written, i.e. zeros). Two disks
hold the same data exactly when their arrays are equal, so "no data lost" is a checksum comparison. Blocks
live in ``array('Q')`` so copying a disk, hashing it and counting its used blocks run in C; per-cycle work
touches only the blocks a log names.

:class:`ChangeLog` is the Hyper-V Replica Log (.hrl): per disk, the latest version written to each changed
block since the log was opened, and the bytes the log would occupy (every write counts, as the .hrl records
each write). :class:`RecoveryHistory` keeps a replica's recovery points as undo logs, as WS2012 R2 does
(.hru files): the replica disk is always at the latest point and an older point is rebuilt by undoing.
"""

from __future__ import annotations

import hashlib
import uuid
from array import array
from dataclasses import dataclass, field

from hvdr.lab.models.enums import SnapshotType

GiB = 1024**3
MiB = 1024**2
DEFAULT_BLOCK_SIZE = 4 * MiB


def _zeros(n: int) -> array[int]:
    return array("Q", bytes(8 * n))


class VirtualDisk:
    """One VHDX: ``size_bytes`` split into ``block_size`` blocks of versioned content."""

    __slots__ = ("_checksum", "block_size", "blocks", "excluded", "name", "path", "size_bytes")

    def __init__(
        self, name: str, path: str, size_bytes: int, block_size: int = DEFAULT_BLOCK_SIZE, excluded: bool = False
    ) -> None:
        if size_bytes <= 0 or block_size <= 0:
            raise ValueError("disk and block sizes must be positive")
        self.name = name
        self.path = path
        self.size_bytes = size_bytes
        self.block_size = block_size
        self.excluded = excluded
        self.blocks = _zeros(-(-size_bytes // block_size))
        self._checksum: str | None = None

    @property
    def block_count(self) -> int:
        return len(self.blocks)

    def fill(self, used_fraction: float, version: int) -> None:
        """Give the first ``used_fraction`` of the disk one content version (an installed image)."""
        used = int(len(self.blocks) * used_fraction)
        self.blocks[:used] = array("Q", [version]) * used
        self._checksum = None

    def write(self, block: int, version: int) -> None:
        self.blocks[block] = version
        self._checksum = None

    def used_bytes(self) -> int:
        return (len(self.blocks) - self.blocks.count(0)) * self.block_size

    def checksum(self) -> str:
        """sha256 over the block versions (cached until the next change)."""
        if self._checksum is None:
            self._checksum = hashlib.sha256(self.blocks.tobytes()).hexdigest()
        return self._checksum

    def snapshot(self) -> array[int]:
        return array("Q", self.blocks)

    def load(self, blocks: array[int]) -> None:
        """Replace the whole content (initial replication, resynchronization, failover to a point)."""
        if len(blocks) != len(self.blocks):
            raise ValueError(f"disk geometry differs: {len(blocks)} blocks vs {len(self.blocks)}")
        self.blocks[:] = blocks
        self._checksum = None

    def apply(self, changes: dict[int, int], undo: dict[int, int] | None) -> None:
        """Write a log's changes; record each overwritten block's previous version in ``undo`` once."""
        blocks = self.blocks
        if undo is None:
            for block, version in changes.items():
                blocks[block] = version
        else:
            for block, version in changes.items():
                if block not in undo:
                    undo[block] = blocks[block]
                blocks[block] = version
        if changes:
            self._checksum = None

    def diff(self, other: VirtualDisk) -> dict[int, int]:
        """The blocks where ``other`` differs from this disk, with ``other``'s versions (rare, event-driven)."""
        mine, theirs = self.blocks, other.blocks
        if mine == theirs:
            return {}
        return {i: theirs[i] for i in range(len(mine)) if mine[i] != theirs[i]}

    def blank_copy(self) -> VirtualDisk:
        """A disk of the same geometry with no content (a replica's placeholder)."""
        return VirtualDisk(self.name, self.path, self.size_bytes, self.block_size, self.excluded)


def disks_checksum(disks: list[VirtualDisk]) -> str:
    """One checksum for a VM: sha256 over its disks' checksums in order."""
    digest = hashlib.sha256()
    for disk in disks:
        digest.update(disk.checksum().encode())
    return digest.hexdigest()


@dataclass
class ChangeLog:
    """The replica log of one VM: per disk, block → latest version written since the log was opened."""

    changes: list[dict[int, int]]
    size_bytes: int = 0
    writes: int = 0

    @classmethod
    def for_disks(cls, count: int) -> ChangeLog:
        return cls([{} for _ in range(count)])

    def record(self, disk: int, block: int, version: int, nbytes: int) -> None:
        self.changes[disk][block] = version
        self.size_bytes += nbytes
        self.writes += 1

    def cut(self) -> ChangeLog:
        """Close this log for sending and open an empty one in its place; returns the closed log."""
        closed = ChangeLog(self.changes, self.size_bytes, self.writes)
        self.changes = [{} for _ in closed.changes]
        self.size_bytes = 0
        self.writes = 0
        return closed

    def clear(self) -> None:
        self.cut()

    @property
    def empty(self) -> bool:
        return self.writes == 0


@dataclass
class RecoveryPoint:
    """A recovery point on a replica: undo records (per disk, block → version at this point)."""

    id: uuid.UUID
    name: str
    snapshot_type: SnapshotType
    created: float
    undo: list[dict[int, int]] = field(default_factory=list)


class RecoveryHistory:
    """A replica's recovery points, oldest first, kept as a chain of undo logs."""

    def __init__(self) -> None:
        self.points: list[RecoveryPoint] = []

    def apply(self, disks: list[VirtualDisk], log: ChangeLog) -> None:
        """Apply a received log to the replica disks, preserving what the newest point needs to be rebuilt."""
        newest = self.points[-1] if self.points else None
        for index, changes in enumerate(log.changes):
            if changes and not disks[index].excluded:
                disks[index].apply(changes, newest.undo[index] if newest else None)

    def add(self, point: RecoveryPoint, disk_count: int, keep: int) -> list[RecoveryPoint]:
        """Add a point at the current content; keep the newest ``keep``; returns the points pruned."""
        point.undo = [{} for _ in range(disk_count)]
        self.points.append(point)
        pruned: list[RecoveryPoint] = []
        while len(self.points) > max(keep, 0):
            pruned.append(self.points.pop(0))
        return pruned

    def materialize(self, disks: list[VirtualDisk], point: RecoveryPoint) -> list[array[int]]:
        """The disks' content at ``point``: undo from the newest point back to it."""
        index = self.points.index(point)
        contents = [disk.snapshot() for disk in disks]
        for later in reversed(self.points[index:]):
            for disk_index, undo in enumerate(later.undo):
                target = contents[disk_index]
                for block, version in undo.items():
                    target[block] = version
        return contents

    def find(self, point_id: uuid.UUID) -> RecoveryPoint | None:
        return next((p for p in self.points if p.id == point_id), None)

    def clear(self) -> None:
        self.points.clear()
