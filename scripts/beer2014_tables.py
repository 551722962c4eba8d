#!/usr/bin/env python3
# Converts the PEtab measurement and nominal-simulation tables of Beer_MolBioSystems2014 to (714, 38) float64
# arrays in the column order of the beer2014 task (conditions sorted as strings; Bacnorm, then IndconcNormRange).
# Usage: python3 scripts/beer2014_tables.py PETAB_FOLDER OUT_FOLDER   (data/beer2014/README.md)
import csv, sys, numpy as np
src = sys.argv[1]; dst = sys.argv[2]
def table(name, col):
    rows = list(csv.DictReader(open(f"{src}/{name}"), delimiter="\t"))
    conds = sorted({r["simulationConditionId"] for r in rows})
    obs = ["Bacnorm", "IndconcNormRange"]
    times = sorted({float(r["time"]) for r in rows})
    assert len(times) == 714 and times == [5.0 * k for k in range(714)]
    out = np.full((714, 2 * len(conds)), np.nan)
    for r in rows:
        j = 2 * conds.index(r["simulationConditionId"]) + obs.index(r["observableId"])
        out[int(float(r["time"]) / 5), j] = float(r[col])
    assert np.isfinite(out).all()
    return out, conds
m, conds = table("measurementData_Beer_MolBioSystems2014.tsv", "measurement")
s, _ = table("simulatedData_Beer_MolBioSystems2014.tsv", "simulation")
print(conds)
np.save(f"{dst}/measurements.npy", m)
np.save(f"{dst}/nominal_simulation.npy", s)
