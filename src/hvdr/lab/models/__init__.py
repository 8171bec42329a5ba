"""The lab's Hyper-V models: one module per resource, state machines raising Hyper-V's own errors.

``backend`` (the registry), ``clock``, ``disks``, ``vms``, ``hosts``, ``replication`` (one side of a
relationship), ``engine`` (cycles, initial replication, resynchronization over time), ``protection``
(enable / settings / suspend / resume / remove), ``failover``, ``vmm``, ``faults``, ``workload``, ``build``
(from a topology), ``enums`` and ``errors``.
"""
