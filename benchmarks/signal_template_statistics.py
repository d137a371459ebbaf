"""What the signal's own template statistics change: every pyhf model before 2026-12-07 put the
signal's simulation statistics into the backgrounds' per-bin factor (pyhf ``staterror``, one
factor per bin); since then the signal has Poisson-constrained factors of its own (``shapesys``).

    python benchmarks/signal_template_statistics.py --events 5000 --train-events 8000 \\
        --models ddplugins/xenon1t/models

On the XENON1T search of ``ddcore evaluate`` with the same options (its stored runs), computes
both ways: the expected WIMP discovery Z of every test at every exposure, the Z of every
injected population at the reference exposure, and the median 90% CL limits of the sensitivity
runs at ``--masses`` (the reference live days of ``--live-days``, and the exposure scan where
the mass has one). A limit that does not exist is null. Writes
benchmarks/results/signal_template_statistics.json and prints a summary.
"""

import argparse
import json
import logging
import os

import numpy as np


def _limits(st, search, n_events, live_days, masses):
    from ddplugins.search import sensitivity

    rows = sensitivity.sensitivity(st, search, n_events, live_days, masses, progress=False)
    return {(r["mass_gev"], r["test"], r["live_days"]): (r["limit_cm2"][2] if np.isfinite(r["limit_cm2"][2]) else None)
            for r in rows}


def _z_rows(rows, key_names):
    found = {}
    for row in rows:
        for name, value in row.items():
            if name.endswith("_z") and not name.endswith("gof_z") and name != "s1_pattern_gof_z":
                found[tuple(row[k] for k in key_names) + (name[:-2],)] = float(value)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000, help="simulated events per test and template run")
    parser.add_argument("--train-events", type=int, default=8000, help="simulated events per training run")
    parser.add_argument("--models", default="ddplugins/xenon1t/models", help="folder of the trained models")
    parser.add_argument("--masses", default="6,50", help="WIMP masses of the limits [GeV], comma-separated")
    parser.add_argument("--live-days", type=float, default=351.0, help="live days of the limits (1 t yr: 351)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import ddcore
    from ddplugins.search import report, statistics

    st = ddcore.context("xenon1t")
    result = report.evaluate(st, n_test=args.events, n_train=args.train_events, models_dir=args.models,
                             progress=False, n_bootstrap_z=0)
    search = result["_search"]
    masses = [float(m) for m in args.masses.split(",")]
    own = {"discovery": _z_rows(result["significance"], ["live_days"]),
           "injection": _z_rows([r for r in result["injection"] if r["live_days"] == search.reference_live_days],
                                ["population"]),
           "limits": _limits(st, search, args.events, args.live_days, masses)}
    with statistics.shared_signal_statistics():
        shared = {"discovery": _z_rows(report._significance(search, np.random.default_rng(0), 0), ["live_days"]),
                  "injection": _z_rows([r for r in report._injection_study(search, np.random.default_rng(1), 0)
                                        if r["live_days"] == search.reference_live_days], ["population"]),
                  "limits": _limits(st, search, args.events, args.live_days, masses)}
    rows = []
    for kind in ("discovery", "injection", "limits"):
        for key, value in own[kind].items():
            before = shared[kind].get(key)
            rows.append({"kind": kind, "key": [str(k) for k in key], "shared": before, "own": value,
                         "ratio": (value / before if value is not None and before else None)})
            print(f"{kind:9s} {' '.join(str(k) for k in key):55s} shared {before} -> own {value}")
    for kind in ("discovery", "injection", "limits"):
        ratios = [r["ratio"] for r in rows if r["kind"] == kind and r["ratio"] is not None
                  and (kind == "limits" or r["shared"] > 0.3)]
        if ratios:
            print(f"{kind}: own / shared median {np.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f} "
                  f"({len(ratios)} figures{'' if kind == 'limits' else ' with Z > 0.3 before'})")
    path = os.path.join(os.path.dirname(__file__), "results", "signal_template_statistics.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"command": "python benchmarks/signal_template_statistics.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
