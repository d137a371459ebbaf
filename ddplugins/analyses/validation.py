"""Simulator validation: measured detector figures against the configured parameters.

``simulation_figures`` computes the numbers from event_basics + event_truth of simulated runs;
``validate_simulation`` (``ddcore validate-sim``) makes the runs, prints the table and saves plots.
"""

import os

import numpy as np
import pandas as pd
from scipy import stats

from ddcore.context import derive
from ddplugins.analyses.event_display import save_event_display
from ddplugins.analyses.datasets import run_preset, search_selection
from ddplugins.ml.categories import analysis_selection
from ddplugins.analyses.evaluation import band_cut_score, rejection_at_acceptance
from ddplugins.ml.intervals import clopper_pearson
from ddplugins.simulation import populations, spectra

# Table I rows next to our populations ("anomalous" events of unknown origin compare with our
# multiple scatters that survive the single-scatter cut)
TABLE_I_ROW = {"er": "er", "wimp": "wimp", "neutron": "neutron", "cevns": "cevns",
               "accidental": "accidental", "wall": "wall", "multisite": "anomalous"}

GAUSSIAN_50P_WIDTH_PER_SIGMA = 1.349
NO_S1_PLOTTED_AT_PE = 0.3


def _events(st, run_id):
    return st.get_df(run_id, ["event_basics", "event_truth"], progress_bar=False)


def simulation_figures(st, events, run_id):
    """Dict of measured vs expected figures from one run's event_basics + event_truth."""
    plugin = st.get_single_plugin(run_id, "raw_records")

    def option(name):  # the run's value, also of an option resolved from the corrections store
        return getattr(plugin, name)

    good = _good(events)
    bright = good[good["true_s1_photons"] > 100]
    g1 = bright["cs1"].sum() / bright["true_s1_photons"].sum()
    extracted = good["true_s2_electrons"]
    g2_bottom = good["cs2_bottom"].sum() / extracted.sum()

    velocity_cm_per_ns = option("drift_velocity_um_per_ns") * 1e-4
    expected_slope = 2 * option("diffusion_longitudinal_cm2_per_s") * 1e-9 / velocity_cm_per_ns**2
    sigma2 = (good["s2_range_50p_area"] / GAUSSIAN_50P_WIDTH_PER_SIGMA) ** 2
    slope, intercept = np.polyfit(good["drift_time"], sigma2, 1)

    xy_error = np.hypot(good["x"] - good["true_x"], good["y"] - good["true_y"])
    return {
        "events": len(events),
        "events_with_s1_and_s2": len(good),
        "g1_measured": g1,
        "g1_expected": option("g1_pe_per_photon"),
        "g2_bottom_measured": g2_bottom,
        "g2_bottom_expected": option("g2_bottom_pe_per_electron"),
        "s2_aft_measured": float(np.median(good["s2_area_fraction_top"])),
        "s2_aft_expected": option("s2_area_fraction_top"),
        "s2_width_slope_measured_ns2_per_ns": slope,
        "s2_width_slope_expected_ns2_per_ns": expected_slope,
        "s2_width_intercept_ns": float(np.sqrt(max(intercept, 0))),
        "xy_resolution_median_cm": float(np.median(xy_error)),
        "z_resolution_rms_cm": float(np.std(good["z"] - good["true_z"])),
    }


def detection_efficiency(events, instructions, bins):
    """Fraction of instructions per true-energy bin that became an event with S1 and S2."""
    found = set(events.loc[np.isfinite(events["cs1"]) & np.isfinite(events["cs2"]), "true_event_number"])
    is_found = np.isin(instructions["event_number"], list(found))
    counts, _ = np.histogram(instructions["energy"], bins)
    hits, _ = np.histogram(instructions["energy"][is_found], bins)
    return pd.DataFrame(
        {"energy_low_kev": bins[:-1], "energy_high_kev": bins[1:], "instructions": counts,
         "efficiency": np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)}
    )


def er_rejection_at_nr_acceptance(er_events, nr_events, acceptance=0.5):
    """Classical band cut in the analysis space: ER rejection at the NR acceptance, with the NR
    band median of log10(cS2_b/cS1) in cS1 bins fitted on the NR events themselves."""
    er = er_events[analysis_selection(er_events)]
    nr = nr_events[analysis_selection(nr_events)]
    labels = np.ones(len(nr), int)
    return rejection_at_acceptance(
        band_cut_score(nr, labels, er), band_cut_score(nr, labels, nr), acceptance
    ), len(er)


def population_run(preset, name, n_events):
    """Validation run of one population: ``<name>_<preset>_9<code:02d><n_events:06d>``."""
    return f"{name}_{preset}_9{populations.population_code(name):02d}{n_events:06d}"


def population_table(st, frames, n_events, live_days=spectra.TABLE_I_LIVE_DAYS):
    """Per population: events produced in live_days (from the rates), the share of simulated
    events that land in the SR0 analysis space (fiducial volume, single scatter) with its exact
    binomial 68% interval, the expected count there and Table I's."""
    plugin = st.get_single_plugin(population_run(run_preset(st), "er", n_events), "instructions")
    produced = populations.expected_counts(plugin, live_days=live_days)
    rows = []
    for name, (run_id, events) in frames.items():
        selected = search_selection(st, run_id, events)
        mine = selected & (np.asarray(events["population"]) == populations.population_code(name))
        # an event split in two by the event builder counts once
        k = len(np.unique(np.asarray(events["true_event_number"])[mine]))
        low, high = clopper_pearson(k, n_events)
        table_key = TABLE_I_ROW.get(name)
        rows.append({
            "population": name, "produced": produced[name], "efficiency": k / n_events,
            "expected": produced[name] * k / n_events, "expected_low": produced[name] * low,
            "expected_high": produced[name] * high,
            "table_i": spectra.TABLE_I_ANALYSIS_SPACE.get(table_key, np.nan),
            "table_i_row": table_key or "-",
        })
    return pd.DataFrame(rows), plugin


def _population_lines(table, plugin, n_events, live_days):
    lines = [f"\nExpected events in the SR0 analysis space ({live_days} live days x "
             f"{plugin.sim_fiducial_mass_kg:g} kg; cS1 3-70 PE, cS2_b >= 50 PE, fiducial volume, "
             f"single scatter; {n_events} simulated events per population, 68% exact binomial intervals)",
             f"  {'population':11s} {'produced':>10s} {'in space':>9s} {'expected':>24s}   Table I"]
    for row in table.itertuples():
        interval = f"{row.expected:.3g} [{row.expected_low:.3g}, {row.expected_high:.3g}]"
        table_i = f"{row.table_i:g} ({row.table_i_row})" if np.isfinite(row.table_i) else "-"
        lines.append(f"  {row.population:11s} {row.produced:10.4g} {row.efficiency:9.4f} {interval:>24s}   {table_i}")
    exposure = live_days * plugin.sim_fiducial_mass_kg / 1e3 / spectra.DAYS_PER_YEAR
    energies, rates = spectra.wimp_spectrum_table(
        float(plugin.wimp_mass_gev), float(plugin.wimp_cross_section_cm2), plugin.wimp_interaction)
    lines.append(
        f"  WIMP {plugin.wimp_mass_gev:g} GeV, {plugin.wimp_cross_section_cm2:g} cm^2 {plugin.wimp_interaction}: "
        f"wimprates integral {spectra.integral(energies, rates) * exposure:.3f} events "
        f"({spectra.integral(energies, rates, *spectra.WIMP_SEARCH_REGION_KEV) * exposure:.3f} in "
        f"{spectra.WIMP_SEARCH_REGION_KEV[0]}-{spectra.WIMP_SEARCH_REGION_KEV[1]} keV_nr); "
        f"simulated with wimp_normalisation={plugin.wimp_normalisation!r}: "
        f"{populations.wimp_count(plugin, exposure):.3f}")
    lines.append(f"  Table I benchmark ('table_i', {populations.wimp_count(plugin, exposure, 'table_i'):.2f} "
                 f"events) is this WIMP at an effective cross-section of "
                 f"{populations.effective_wimp_cross_section(plugin, 'table_i'):.3g} cm^2")
    return lines


def _population_plot(plt, frames, path):
    """Every population in (cS1, log10 cS2_b) and (r^2, z) with the analysis space outlined."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for name, (_, events) in frames.items():
        # without an S1 there is no drift time to correct the S2 with: its raw bottom area
        s2_bottom = np.where(np.isfinite(events["cs2_bottom"]), events["cs2_bottom"],
                             events["s2_area"] * (1 - events["s2_area_fraction_top"]))
        ok = np.isfinite(s2_bottom) & (s2_bottom > 0)
        cs1 = np.nan_to_num(np.asarray(events["cs1"][ok]), nan=NO_S1_PLOTTED_AT_PE)
        axes[0].scatter(np.clip(cs1, NO_S1_PLOTTED_AT_PE, None), np.log10(s2_bottom[ok]), s=3, alpha=0.5, label=name)
        axes[1].scatter(events["x"] ** 2 + events["y"] ** 2, events["z"], s=3, alpha=0.5, label=name)
    axes[0].set_xscale("log")
    axes[0].set_xlim(NO_S1_PLOTTED_AT_PE / 1.5, None)
    axes[0].axvspan(3, 70, color="grey", alpha=0.1, label="cS1 3-70 PE")
    axes[0].axhline(np.log10(50), color="grey", ls=":")
    axes[0].set_xlabel(f"cS1 [PE] (events without S1 at {NO_S1_PLOTTED_AT_PE} PE, their S2 uncorrected)")
    axes[0].set_ylabel("log10(cS2_b / PE)")
    axes[1].set_xlabel("reconstructed r$^2$ [cm$^2$]")
    axes[1].set_ylabel("reconstructed z [cm] (none without S1)")
    axes[0].legend(fontsize=7, markerscale=3)
    fig.suptitle("Simulated populations (equal numbers of simulated events, not rates)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _good(events):
    return events[(events["n_instructions"] == 1) & np.isfinite(events["cs1"]) & np.isfinite(events["cs2"])]


def _diffusion_plot(plt, events, figures, path):
    """S2 width^2 vs drift time with the measured fit and the expected 2 D / v^2 slope."""
    good = _good(events)
    drift_us = good["drift_time"] / 1e3
    sigma2 = (good["s2_range_50p_area"] / GAUSSIAN_50P_WIDTH_PER_SIGMA) ** 2
    t = np.linspace(0, drift_us.max(), 50)
    intercept = figures["s2_width_intercept_ns"] ** 2
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(drift_us, sigma2 / 1e3, s=3, alpha=0.4, label="ER events")
    ax.plot(t, (intercept + figures["s2_width_slope_measured_ns2_per_ns"] * t * 1e3) / 1e3, "k-",
            label=f"fit: {figures['s2_width_slope_measured_ns2_per_ns']:.2f} ns$^2$/ns")
    ax.plot(t, (intercept + figures["s2_width_slope_expected_ns2_per_ns"] * t * 1e3) / 1e3, "r--",
            label=f"expected 2D/v$^2$: {figures['s2_width_slope_expected_ns2_per_ns']:.2f} ns$^2$/ns")
    ax.set_xlabel("drift time [us]")
    ax.set_ylabel("S2 width $\\sigma^2$ (from the 50% area width) [10$^3$ ns$^2$]")
    ax.set_title("Longitudinal diffusion")
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _gain_plot(plt, events, figures, path):
    """cS1 vs true photons and cS2_b vs true electrons with the configured g1 and g2_b lines."""
    good = _good(events)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, x, y, name, unit in ((axes[0], good["true_s1_photons"], good["cs1"], "g1", "photons"),
                                 (axes[1], good["true_s2_electrons"], good["cs2_bottom"], "g2_bottom", "electrons")):
        ax.scatter(x, y, s=3, alpha=0.4, label="ER events")
        line = np.linspace(0, np.max(x), 20)
        ax.plot(line, figures[f"{name}_expected"] * line, "r--",
                label=f"configured {name} = {figures[f'{name}_expected']:.4g}")
        ax.plot(line, figures[f"{name}_measured"] * line, "k-", lw=0.8,
                label=f"measured {figures[f'{name}_measured']:.4g}")
        ax.set_xlabel(f"true {unit}")
        ax.set_ylabel("cS1 [PE]" if name == "g1" else "cS2_b [PE]")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def validate_simulation(st, output, n_events=2000):
    import matplotlib.pyplot as plt  # every figure closed once saved

    preset = run_preset(st)
    st = derive(st, sim_n_events=n_events)
    # a run name stands for one set of data: the number carries the events per run
    runs = {"ER": population_run(preset, "er", n_events), "WIMP": population_run(preset, "wimp", n_events)}
    population_frames = {}
    for name in populations.NAMES:
        run_id = population_run(preset, name, n_events)
        st.make(run_id, ["event_basics", "event_truth"], progress_bar=True)
        population_frames[name] = (run_id, _events(st, run_id))
    frames = {label: population_frames[label.lower()][1] for label in runs}
    os.makedirs(output, exist_ok=True)

    lines = [f"Simulation figures ({n_events} events per class, preset {preset})"]
    figures = {}
    for label, run_id in runs.items():
        figures[label] = simulation_figures(st, frames[label], run_id)
        lines.append(f"\n{label} run {run_id}")
        for key, value in figures[label].items():
            lines.append(f"  {key:40s} {value:.4g}" if isinstance(value, float) else f"  {key:40s} {value}")
        instructions = st.get_array(run_id, "instructions", progress_bar=False)
        eff = detection_efficiency(frames[label], instructions, np.array([0, 1, 2, 3, 5, 8, 12, 20, 40, 100.0]))
        lines.append("  detection efficiency (S1 and S2 found) vs true energy:")
        lines.append(eff.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    rejection, n_er = er_rejection_at_nr_acceptance(frames["ER"], frames["WIMP"])
    leaked = int(round((1 - rejection) * n_er))
    lower = stats.beta.ppf(0.1, n_er - leaked, leaked + 1) if n_er > leaked else 0.0  # Clopper-Pearson
    lines.append(f"\ncS2_b/cS1 band cut: ER rejection at 50% WIMP acceptance = {rejection:.4f} "
                 f"({leaked} of {n_er} ER in cS1 3-70 PE leaked; >= {lower:.4f} at 90% CL)")

    fig, ax = plt.subplots(figsize=(7, 5))
    for label, color in (("ER", "tab:blue"), ("WIMP", "tab:red")):
        df = frames[label]
        ok = (df["cs1"] > 0) & (df["cs2_bottom"] > 0)
        ax.scatter(df["cs1"][ok], np.log10(df["cs2_bottom"][ok] / df["cs1"][ok]),
                   s=3, alpha=0.5, color=color, label=label)
    ax.set_xlim(0, 100)
    ax.set_xlabel("cS1 [PE]")
    ax.set_ylabel("log10(cS2_b / cS1)")
    ax.legend()
    ax.set_title("Discrimination bands")
    fig.savefig(os.path.join(output, "bands.png"), dpi=110)
    plt.close(fig)

    _diffusion_plot(plt, frames["ER"], figures["ER"], os.path.join(output, "s2_width_vs_drift.png"))
    _gain_plot(plt, frames["ER"], figures["ER"], os.path.join(output, "g1_g2.png"))

    table, plugin = population_table(st, population_frames, n_events)
    lines += _population_lines(table, plugin, n_events, spectra.TABLE_I_LIVE_DAYS)
    table.to_csv(os.path.join(output, "populations.csv"), index=False)
    _population_plot(plt, population_frames, os.path.join(output, "populations.png"))

    save_event_display(st, runs["WIMP"], 0, os.path.join(output, "wimp_event0.png"))
    lines.append(f"\nPlots written to {output}/")
    return "\n".join(lines)
