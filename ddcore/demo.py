"""``dd demo``: the main job on the embedded default detector.

Simulates background (ER), signal (WIMP) and pseudo-data runs, processes them to event images,
and writes a Markdown report with the classical discrimination and plots.
"""

import datetime
import os
import time

import numpy as np

from ddcore.validation import er_rejection_at_nr_acceptance

DEMO_TARGETS = ("event_images", "event_basics", "event_truth")


def run_demo(st, output, n_events=1000):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preset = getattr(st, "dd_preset", None) or "sr0"
    st.set_config(dict(sim_n_events=n_events))
    runs = {
        "background (ER)": f"er_{preset}_000",
        "signal (500 GeV WIMP)": f"wimp_{preset}_000",
        "pseudo-data (Table I, 34.2 live days)": f"pseudo_{preset}_000",
    }
    started = time.time()
    frames = {}
    for label, run_id in runs.items():
        print(f"== {label}: {run_id}")
        st.make(run_id, list(DEMO_TARGETS), progress_bar=True)
        frames[label] = st.get_df(run_id, ["event_basics", "event_truth"], progress_bar=False)
    er, wimp, pseudo = frames.values()
    rejection, n_er = er_rejection_at_nr_acceptance(er, wimp)

    os.makedirs(output, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 5))
    for (label, df), color in zip(frames.items(), ("tab:blue", "tab:red", "black")):
        ok = (df["cs1"] > 0) & (df["cs2_bottom"] > 0)
        ax.scatter(df["cs1"][ok], np.log10(df["cs2_bottom"][ok] / df["cs1"][ok]), s=4 if color != "black" else 14,
                   alpha=0.4 if color != "black" else 0.9, color=color, label=label)
    ax.set_xlim(0, 100)
    ax.set_xlabel("cS1 [PE]")
    ax.set_ylabel("log10(cS2_b / cS1)")
    ax.legend(fontsize=8)
    fig.savefig(os.path.join(output, "bands.png"), dpi=110)
    plt.close(fig)

    from ddcore.display import save_event_display

    save_event_display(st, runs["signal (500 GeV WIMP)"], 0, os.path.join(output, "wimp_event0.png"))
    save_event_display(st, runs["background (ER)"], 0, os.path.join(output, "er_event0.png"))

    lines = [
        f"# ddcore demo report ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `dd demo --events {n_events}`; detector {getattr(st, 'dd_detector', 'xenon1t')}, "
        f"preset {preset}; store {st.storage[0]}",
        "",
        "| run | events | with S1 and S2 | event_images lineage |",
        "| --- | ---: | ---: | --- |",
    ]
    for label, run_id in runs.items():
        df = frames[label]
        both = int(np.sum(np.isfinite(df["cs1"]) & np.isfinite(df["cs2"])))
        lines.append(f"| {label}: `{run_id}` | {len(df)} | {both} | `{st.key_for(run_id, 'event_images')}` |")
    labels = pseudo["label"].to_numpy()
    lines += [
        "",
        f"Pseudo-data truth: {np.sum(labels == 0)} ER and {np.sum(labels == 1)} WIMP events.",
        "",
        "## Classical discrimination",
        f"cS2_b/cS1 band cut (cS1 in [3, 70] PE): ER rejection at 50% WIMP acceptance "
        f"**{rejection:.4f}** ({n_er} ER events).",
        "",
        "![bands](bands.png)",
        "",
        "## Event displays",
        "![WIMP event](wimp_event0.png) ![ER event](er_event0.png)",
        "",
        f"Wall time: {time.time() - started:.0f} s.",
    ]
    report = os.path.join(output, "report.md")
    with open(report, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"\nER rejection at 50% WIMP acceptance (cS2/cS1 cut): {rejection:.4f}")
    print(f"Report: {report}")
    return report
