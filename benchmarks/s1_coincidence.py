"""What an S1 coincidence level of 2 PMTs (straxen's) instead of 3 (the project's default, the
3-fold coincidence of XENON's WIMP searches) does on the project's realistic raw data.

    python benchmarks/s1_coincidence.py --events 2000

For each detector one simulated ER run (realistic raw data: dark counts, afterpulses,
photoionisation electrons) is processed twice, with ``s1_min_channels`` 3 and 2. An event's
main S1 counts as right when its depth (from the drift time to the main S2) lies within
``--tolerance-cm`` of the true depth; an S1 that pairs the S2 with a wrong depth is a fake
(dark-count or afterpulse coincidences, or another peak). Prints one JSON line per detector and
coincidence level and saves them to benchmarks/results/s1_coincidence.json.
"""

import argparse
import json
import os

import numpy as np


def one_setting(detector, run, n_events, min_channels, tolerance_cm):
    import ddcore

    st = ddcore.context(detector, storage=[], sim_n_events=n_events, s1_min_channels=min_channels)
    events = st.get_array(run, ("event_basics", "event_truth"), progress_bar=False)
    paired = np.isfinite(events["z"])
    right = paired & (np.abs(events["z"] - events["true_z"]) < tolerance_cm)
    return dict(detector=detector, run=run, s1_min_channels=min_channels, events=len(events),
                with_s1_and_s2=int(paired.sum()), right_depth=int(right.sum()),
                wrong_depth=int((paired & ~right).sum()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="simulated ER events per detector")
    parser.add_argument("--run", default="er_sr0_071", help="the simulated run (its number sets the seed)")
    parser.add_argument("--tolerance-cm", type=float, default=2.0,
                        help="largest |reconstructed - true depth| of a right main S1 [cm]")
    args = parser.parse_args()
    results = []
    for detector in ("xenonnt", "xenon1t"):
        for min_channels in (3, 2):
            results.append(one_setting(detector, args.run, args.events, min_channels, args.tolerance_cm))
            print(json.dumps(results[-1]), flush=True)
    path = os.path.join(os.path.dirname(__file__), "results", "s1_coincidence.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
