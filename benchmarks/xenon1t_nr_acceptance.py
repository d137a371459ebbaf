"""The project's nuclear-recoil acceptance near threshold beside XENON1T's published one.

    python benchmarks/xenon1t_nr_acceptance.py --events 5000 --masses 6,10,50

For each WIMP mass the sensitivity's WIMP run (``sensitivity.wimp_run``, the runs of ``ddcore
evaluate --sensitivity``; made if missing) gives, per bin of true recoil energy, the fraction of
its simulated events that land in the search's analysis space (Clopper-Pearson 68% interval);
beside it XENON1T's efficiency for the same bin: the sum over reconstructed energy of the
binwise likelihood's migration matrix (``xe-likelihood``), averaged over the bin's 0.25 keV
rows. Also each mass's expected events at 1e-45 cm^2 in 1 t yr, both ways. And the same with
XENON1T's S2 threshold added to the project's selection (``--s2-threshold-pe``, default 200 PE
of uncorrected S2 area: the 1 t yr analysis's, as straxen's ``x1t_cuts.S2Threshold`` ported it
from lax's science-run-1 cuts; the project's own selection asks cS2_b >= 50 PE). Saved to
benchmarks/results/xenon1t_nr_acceptance.json.
"""

import argparse
import json
import logging
import os

import numpy as np

ENERGY_EDGES_KEV = (0.0, 0.875, 1.375, 1.875, 2.375, 2.875, 3.375, 3.875, 4.875, 5.875, 7.875, 9.875, 14.875,
                    29.875)


def xenon1t_efficiency(edges):
    """XENON1T's efficiency per bin of true energy [keV] (mean of its migration-matrix rows)."""
    from ddplugins.search import published

    inference = published.xenon1t_binwise_inference()
    rows = np.asarray(inference.migration_matrix[0]).sum(axis=1)
    true_edges = np.asarray(inference.true_energy_edges)
    centres = (true_edges[1:] + true_edges[:-1]) / 2
    return [float(np.mean(rows[(centres > lo) & (centres < hi)])) if np.any((centres > lo) & (centres < hi))
            else 0.0 for lo, hi in zip(edges[:-1], edges[1:])]


def project_acceptance(mass_gev, n_events, edges, s2_threshold_pe):
    """(simulated, in the analysis space, in it with an uncorrected S2 of at least
    ``s2_threshold_pe``) per bin of true energy, and the expected events in the space (and with
    the threshold) at the run's cross-section for 351 live days, from the mass's sensitivity WIMP run."""
    import ddcore
    from ddcore.context import derive
    from ddplugins.analyses.datasets import load_events, search_selection
    from ddplugins.search import sensitivity
    from ddplugins.simulation import populations

    st, run = sensitivity.wimp_run(derive(ddcore.context("xenon1t"), sim_n_events=n_events), mass_gev)
    simulated = st.get_array(run, "instructions", keep_columns=["energy", "event_number"], progress_bar=False)
    every = load_events(st, [run], ["event_basics", "event_truth"], selected=False, progress=False)
    selected = every[search_selection(st, run, every)]
    produced = populations.expected_counts(st.get_single_plugin(run, "instructions"), live_days=351.0)["wimp"]
    cross_section = float(st.get_single_plugin(run, "instructions").wimp_cross_section_cm2)
    energies = simulated["energy"]  # WIMPs scatter once: one instruction per event
    above = selected[selected["s2_area"] >= s2_threshold_pe]
    return (np.histogram(energies, edges)[0], np.histogram(selected["true_energy"], edges)[0],
            np.histogram(above["true_energy"], edges)[0], produced * len(selected) / n_events,
            produced * len(above) / n_events, cross_section, len(energies))


def main():
    from ddplugins.ml.intervals import clopper_pearson
    from ddplugins.search import published

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000, help="simulated events per WIMP run")
    parser.add_argument("--masses", default="6,10,50", help="WIMP masses [GeV], of the sensitivity's masses")
    parser.add_argument("--s2-threshold-pe", type=float, default=200.0,
                        help="XENON1T's threshold on the uncorrected S2 area [PE], added to the project's selection "
                        "for the second acceptance (default 200, the 1 t yr analysis's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    edges = np.asarray(ENERGY_EDGES_KEV)
    theirs = xenon1t_efficiency(edges)
    found = []
    for mass in (int(m) for m in args.masses.split(",")):
        n, accepted, above, expected, expected_above, cross_section, n_simulated = project_acceptance(
            mass, args.events, edges, args.s2_threshold_pe)
        xenon1t_expected = published.xenon1t_signal_events(mass, cross_section)
        bins = []
        for lo, hi, simulated, kept, kept_above, xenon1t in zip(edges[:-1], edges[1:], n, accepted, above, theirs):
            if simulated == 0:
                continue
            low, high = clopper_pearson(int(kept), int(simulated))
            low_above, high_above = clopper_pearson(int(kept_above), int(simulated))
            bins.append({"energy_kev": [float(lo), float(hi)], "simulated": int(simulated), "accepted": int(kept),
                         "acceptance": kept / simulated, "acceptance_68": [float(low), float(high)],
                         "accepted_s2_threshold": int(kept_above), "acceptance_s2_threshold": kept_above / simulated,
                         "acceptance_s2_threshold_68": [float(low_above), float(high_above)],
                         "xenon1t_efficiency": xenon1t})
        row = {"mass_gev": mass, "simulated": n_simulated, "cross_section_cm2": cross_section,
               "s2_threshold_pe": args.s2_threshold_pe, "expected_events_1ty": expected,
               "expected_events_1ty_s2_threshold": expected_above, "xenon1t_expected_events_1ty": xenon1t_expected,
               "ratio": expected / xenon1t_expected, "ratio_s2_threshold": expected_above / xenon1t_expected,
               "bins": bins}
        print(json.dumps({k: v for k, v in row.items() if k != "bins"}))
        for b in bins:
            print(f"  {b['energy_kev'][0]:6.3f}-{b['energy_kev'][1]:6.3f} keV: {b['accepted']:4d}/{b['simulated']:5d}"
                  f" = {b['acceptance']:.4f} ({b['acceptance_68'][0]:.4f}-{b['acceptance_68'][1]:.4f}); "
                  f"S2 >= {args.s2_threshold_pe:g} PE {b['acceptance_s2_threshold']:.4f} "
                  f"({b['acceptance_s2_threshold_68'][0]:.4f}-{b['acceptance_s2_threshold_68'][1]:.4f}); "
                  f"XENON1T {b['xenon1t_efficiency']:.4f}")
        found.append(row)
    path = os.path.join(os.path.dirname(__file__), "results", "xenon1t_nr_acceptance.json")
    with open(path, "w") as f:
        json.dump(found, f, indent=1)
    print(f"Saved {path}")


if __name__ == "__main__":
    main()
