"""How fast hostile topology files are refused (printed, not a timed test).

    .venv/bin/python bench/hostile_yaml.py [--repeat 5]

Files: alias bombs of 7, 8 and 12 levels (nine aliases per level, 9**n nodes once expanded: 400-650 bytes),
100,000 nested flow brackets, 3,000 nested block sequences, and for comparison the lab's own topology, all
through ``load_and_validate`` (what ``hvdr apply`` runs before it touches the database). The figure is the
median wall time of a refusal and the process's peak memory at the end.

Before the limits of ``hvdr.yamlfile``, the 7-level bomb took 33 s and 2.3 GB before it was refused (the file was
parsed twice and every expanded alias node walked) and deep nesting a RecursionError. Now, on a busy 2-core VM
(load 11): the bombs 3-7 ms, 100,000 brackets 9 ms, 3,000 block levels (a 9 MB file) 230 ms, the lab's
topology accepted in 110-130 ms (PyYAML's pure-Python scanner), peak RSS 90 MB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from hvdr.inventory.validate import TopologyInvalid, load_and_validate
from hvdr.topology import default_topology_path


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "alias bomb, 7 levels": _bomb(7),
        "alias bomb, 8 levels": _bomb(8),
        "alias bomb, 12 levels": _bomb(12),
        "100,000 nested [": "sites: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "3,000 nested block sequences": "sites:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)),
        "the lab's topology (accepted)": default_topology_path().read_text(encoding="utf-8"),
    }
    with tempfile.TemporaryDirectory() as directory:
        for label, text in cases.items():
            file = Path(directory) / "topology.yaml"
            file.write_text(text, encoding="utf-8")
            times, outcome = [], "accepted"
            for _ in range(args.repeat):
                started = time.perf_counter()
                try:
                    load_and_validate(file)
                except TopologyInvalid as exc:
                    outcome = exc.problems[0].message[:70]
                times.append((time.perf_counter() - started) * 1000)
            print(f"{label:32} {len(text):>9,} bytes  {statistics.median(times):8.1f} ms  {outcome}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
