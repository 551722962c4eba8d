"""Summary of Benchmarks/sampler_sweep.sh: per method and sampler, the mean C2ST over the tasks, the mean network
evaluations, and the mean and largest gap to the best sampler of the same task (C2ST, observations 1-5 averaged).

    python3 Benchmarks/sampler_sweep_table.py OUT/diffusion/results.csv OUT/flow-matching/results.csv
"""
import csv
import sys
from collections import defaultdict


def main(paths):
    for path in paths:
        rows = list(csv.DictReader(open(path)))
        if not rows:
            continue
        method = rows[0]["method"]
        tasks = sorted({r["task"] for r in rows}, key=[r["task"] for r in rows].index)
        best = {t: min(float(r["c2st_mean"]) for r in rows if r["task"] == t) for t in tasks}
        by = defaultdict(dict)
        for r in rows:
            by[r["sampler"]][r["task"]] = r
        print(f"\n{method}, {rows[0]['simulations']} simulations, {len(tasks)} tasks "
              f"(cell: mean C2ST of observations 1-5, its gap to the task's best sampler)\n")
        print("| sampler | evaluations | " + " | ".join(tasks) + " | mean C2ST | mean gap | worst gap |")
        print("|---|---:|" + "---:|" * len(tasks) + "---:|---:|---:|")
        summary = []
        for s, per in by.items():
            if len(per) != len(tasks):
                continue
            c = [float(per[t]["c2st_mean"]) for t in tasks]
            gaps = [ci - best[t] for ci, t in zip(c, tasks)]
            ev = sum(float(per[t]["network_evaluations"]) for t in tasks) / len(tasks)
            summary.append((ev, s, c, gaps))
        for ev, s, c, gaps in sorted(summary):
            cells = " | ".join(f"{ci:.3f}" for ci in c)
            print(f"| {s} | {ev:.0f} | {cells} | {sum(c) / len(c):.3f} | {sum(gaps) / len(gaps):+.3f} | {max(gaps):+.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
