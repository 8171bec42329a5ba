"""Guest writes on running VMs, generated lazily from a per-tier write rate.

Nothing runs per VM on a timer: a VM's writes for a stretch of simulated time are generated when something
needs its disks to be current (a replication cycle, a checksum, a power change), so the cost follows the
writes, not the number of VMs. Writes spread over each disk's hot working set (``hot_fraction``), in
proportion to disk size; each gets a fresh content version and, when the VM's replica log is tracking,
goes into the log with its size (the .hrl grows by every write, even to a block written before).
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from hvdr.lab.models.enums import VMState
from hvdr.lab.models.vms import VirtualMachine

KiB = 1024


@dataclass(frozen=True)
class TierRate:
    write_bytes_per_s: float = 64 * KiB
    write_size: int = 64 * KiB
    hot_fraction: float = 0.2


class _VMWriter:
    __slots__ = ("carry", "rng")

    def __init__(self, seed: int, disks: int) -> None:
        self.rng = random.Random(seed)
        self.carry = [0.0] * disks


class Workload:
    """Per-tier write rates; ``catch_up`` brings one VM's disks to a moment."""

    def __init__(self, rates: dict[str, TierRate] | None = None, default: TierRate | None = None, seed: int = 1):
        self.rates = dict(rates or {})
        self.default = default or TierRate()
        self.seed = seed
        self.enabled = True
        self._writers: weakref.WeakKeyDictionary[VirtualMachine, _VMWriter] = weakref.WeakKeyDictionary()

    def rate_for(self, vm: VirtualMachine) -> TierRate:
        return self.rates.get(vm.tier or "", self.default)

    def catch_up(self, vm: VirtualMachine, until: float, next_versions: Callable[[int], int]) -> int:
        """Generate the VM's writes from where it was left up to ``until``; returns how many were made."""
        start = vm.written_until
        if until <= start:
            return 0
        vm.written_until = until
        if vm.state is not VMState.Running or not self.enabled:
            return 0
        rate = self.rate_for(vm)
        if rate.write_bytes_per_s <= 0:
            return 0
        writer = self._writers.get(vm)
        if writer is None or len(writer.carry) != len(vm.disks):
            writer = _VMWriter(self.seed * 1_000_003 + vm.id.int % 1_000_000_007, len(vm.disks))
            self._writers[vm] = writer
        total_blocks = sum(d.block_count for d in vm.disks)
        writes_per_s = rate.write_bytes_per_s / rate.write_size
        made = 0
        rel = vm.replication
        log = rel.log if rel is not None and rel.tracking else None
        for index, disk in enumerate(vm.disks):
            expected = writes_per_s * (until - start) * disk.block_count / total_blocks + writer.carry[index]
            count = int(expected)
            writer.carry[index] = expected - count
            if count == 0:
                continue
            hot = max(1, int(disk.block_count * rate.hot_fraction))
            # Many writes to a small working set collapse onto its blocks: only the last version survives.
            distinct = min(count, hot)
            blocks = (
                writer.rng.sample(range(hot), distinct)
                if count >= hot // 2
                else [writer.rng.randrange(hot) for _ in range(count)]
            )
            first = next_versions(len(blocks))
            track = log is not None and not disk.excluded
            for offset, block in enumerate(blocks):
                disk.write(block, first + offset)
                if track:
                    assert log is not None
                    log.changes[index][block] = first + offset
            if track:
                assert log is not None
                log.size_bytes += count * rate.write_size
                log.writes += count
            made += count
        if made:
            vm.last_write_at = until
        return made
