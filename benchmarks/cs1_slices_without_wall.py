"""Where the WIMP-template likelihood's gain from cS1 slices comes from: median 90% CL limits at
1 t yr (351 live days) in the band discriminant alone and in cS1 slices, with and without the
wall template (one simulated event in the analysis space at 5,000 events).

    python benchmarks/cs1_slices_without_wall.py --masses 6,10,20,50,200 --slices 3

Uses the runs of ``ddcore evaluate --events 5000 --train-events 8000 --sensitivity ...`` (made if
missing): the train split's events for the band discriminant, the ER test run and each other
population's template run as backgrounds, the sensitivity's WIMP run per mass; the limits are
``statistics.upper_limit`` (CLs, Asimov bands) as in the sensitivity curves, with the simulated
ER template. Saved to benchmarks/results/cs1_slices_without_wall.json.
"""

import argparse
import json
import logging
import os

BACKGROUNDS = ("neutron", "cevns", "accidental", "multisite", "wall", "s2only")


def main():
    import ddcore
    from ddcore.context import derive
    from ddplugins.analyses import evaluation as ev
    from ddplugins.analyses.datasets import SEARCH_COLUMNS, load_events, search_selection, split_runs
    from ddplugins.search import sensitivity, statistics
    from ddplugins.simulation import populations

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masses", default="6,10,20,50,200", help="WIMP masses [GeV], of the sensitivity's")
    parser.add_argument("--slices", type=int, default=3, help="cS1 slices")
    parser.add_argument("--events", type=int, default=5000, help="simulated events per template run")
    parser.add_argument("--train-events", type=int, default=8000, help="events per class of the train split")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    st = ddcore.context("xenon1t")
    train_st, template_st = derive(st, sim_n_events=args.train_events), derive(st, sim_n_events=args.events)
    train = load_events(train_st, split_runs(train_st, "train"), progress=False,
                        keep_columns=["label", "cs1", "cs2_bottom", *SEARCH_COLUMNS, *ev.BASIC_FEATURES])

    def in_space(run_st, run):
        every = load_events(run_st, [run], ["event_basics", "event_truth"], selected=False, progress=False)
        return every[search_selection(run_st, run, every)]

    def band(events):
        return ev.band_cut_score(train, train["label"].astype(int), events)

    er_run = split_runs(template_st, "test")[0]
    events = {"er": in_space(template_st, er_run)}
    for name in BACKGROUNDS:
        events[name] = in_space(template_st, split_runs(template_st, "template", sources=(name,))[0])
    produced = populations.expected_counts(template_st.get_single_plugin(er_run, "instructions"), live_days=351.0)
    bands = {name: band(e) for name, e in events.items()}  # the discriminant once per population
    found = []
    for mass in (int(m) for m in args.masses.split(",")):
        run_st, run = sensitivity.wimp_run(template_st, mass)
        plugin = run_st.get_single_plugin(run, "instructions")
        wimp = in_space(run_st, run)
        wimp_band = band(wimp)
        wimp_produced = populations.expected_counts(plugin, live_days=351.0)["wimp"]
        row = {"mass_gev": mass, "wimp_in_space": len(wimp)}
        for n_slices in (1, args.slices):
            binning = statistics.CS1SlicedBinning.from_background(bands["er"], events["er"]["cs1"], n_slices)

            def template(name, values, cs1, expected):
                return statistics.template(name, binning.values(values, cs1), binning.edges, expected, args.events)
            signal = template("wimp", wimp_band, wimp["cs1"], wimp_produced)
            for without in ((), ("wall",)):
                backgrounds = [template(name, bands[name], e["cs1"], produced[name])
                               for name, e in events.items() if name not in without]
                limit = statistics.upper_limit(signal, backgrounds).median * float(plugin.wimp_cross_section_cm2)
                row[f"{n_slices}_slices{'_without_wall' if without else ''}_cm2"] = limit
        print(json.dumps(row))
        found.append(row)
    path = os.path.join(os.path.dirname(__file__), "results", "cs1_slices_without_wall.json")
    with open(path, "w") as f:
        json.dump({"in_space": {name: len(e) for name, e in events.items()},
                   "produced_351_days": {name: float(produced[name]) for name in events}, "rows": found}, f, indent=1)
    print(f"Saved {path}")


if __name__ == "__main__":
    main()
