"""Published results, reproduced: the XENON1T 1 t·yr spin-independent WIMP limit
(arXiv:1805.12562) from the collaboration's binwise NR likelihood (the ``xe-likelihood``
package, ``pip install 'ddcore[published]'``) fed the project's own wimprates spectra.

``xe-likelihood`` holds, per bin of reconstructed energy, the collaboration's profile
log-likelihood ratio as a function of the expected signal in that bin, and the migration matrix
from true to reconstructed energy. A WIMP spectrum (events / (t yr keV) at a reference
cross-section) becomes expected signal per bin; the summed curve, minimised over the signal
strength, crosses the 90% CL threshold at the limit: the asymptotic chi-square(1) threshold or
the collaboration's Neyman threshold (``threshold_using_lines_90pct.json``). The package's own
``compute_ul`` hands scipy's ``brentq`` one-element arrays, which current scipy refuses; the
crossing is found here with the same curve and threshold.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ddcore.extras import import_extra
from ddplugins.simulation import spectra

log = logging.getLogger(__name__)

PUBLISHED_EXTRA = "pip install 'ddcore[published]'"
REFERENCE_CROSS_SECTION_CM2 = 1e-45
MASSES_GEV = (6, 7, 8, 10, 12, 15, 20, 30, 50, 100, 200, 500, 1000)
GOAL = 0.15  # the goal: within 15% of the published curve at every mass


@dataclasses.dataclass
class LimitComparison:
    """The project's limit beside the published one at each mass [cm^2]."""

    masses_gev: np.ndarray
    limits: np.ndarray
    published: np.ndarray
    published_bands: np.ndarray  # -2, -1, 0, +1, +2 sigma sensitivity
    threshold: str
    v0_km_s: float

    @property
    def ratios(self) -> np.ndarray:
        return self.limits / self.published

    def rows(self) -> list[dict]:
        return [{"mass_gev": float(m), "limit_cm2": float(limit), "published_cm2": float(p), "ratio": float(r),
                 "within_goal": bool(abs(r - 1) <= GOAL)}
                for m, limit, p, r in zip(self.masses_gev, self.limits, self.published, self.ratios)]


def _xe_likelihood():
    module = import_extra("xe_likelihood", "Reproducing the XENON1T limit", PUBLISHED_EXTRA)
    # its INFO messages pass arguments its format strings do not take ("--- Logging error ---")
    logging.getLogger("xe_bin_logger").setLevel(logging.WARNING)
    return module


def xenon1t_binwise_inference():
    """The collaboration's binwise XENON1T SR0+SR1 likelihood (an ``xe_likelihood``
    BinwiseInference: its migration matrix holds their detection efficiency, selection acceptance
    and exposure)."""
    return _xe_likelihood().BinwiseInference.from_xenon1t_sr()


def binwise_upper_limit(inference, energies, rates, neyman=True, confidence_level=0.9):
    """Multiple of the spectrum ``rates`` [events / (t yr keV)] at ``energies`` [keV] excluded at
    ``confidence_level`` by the binwise likelihood ``inference`` (an ``xe_likelihood``
    BinwiseInference)."""
    from scipy import optimize, stats

    xe = _xe_likelihood()
    inference.spectrum = xe.Spectrum.from_sample(np.asarray(energies, float), np.asarray(rates, float))
    curve = inference.compute_likelihood_ratio(run=0)
    strengths = curve.x
    values = curve(strengths)
    best = int(np.argmin(values))
    minimum = float(values[best])
    total_signal = inference.sum_spectrum_in_reconstructed_bins
    if neyman:
        if abs(confidence_level - 0.9) > 1e-9:
            raise ValueError("The collaboration's Neyman threshold is for 90% CL only")

        def threshold(strength):
            return float(inference.threshold_function(strength * total_signal))
    else:
        chi2 = float(stats.chi2(1).isf(1 - confidence_level))

        def threshold(strength):
            return chi2

    def excess(strength):
        return float(curve(strength)) - minimum - threshold(strength)

    return float(optimize.brentq(excess, float(strengths[best]), float(strengths[-1])))


def xenon1t_limits(masses_gev=MASSES_GEV, neyman=True, v0_km_s=spectra.HALO_V0_KM_S) -> LimitComparison:
    """The XENON1T 1 t·yr SI limit at ``masses_gev`` from the binwise likelihood and the project's
    wimprates spectra (halo circular velocity ``v0_km_s``), beside the published curve."""
    xe = _xe_likelihood()
    inference = xenon1t_binwise_inference()
    published = np.asarray(xe.xenon1t_published, float)
    masses = np.asarray(masses_gev, float)
    limits = []
    for mass in masses:
        energies, rates = spectra.wimp_spectrum_table(float(mass), REFERENCE_CROSS_SECTION_CM2, e_max_kev=100.0,
                                                      n=4000, v0_km_s=v0_km_s)
        limits.append(binwise_upper_limit(inference, energies, rates, neyman=neyman) * REFERENCE_CROSS_SECTION_CM2)
        log.info("%g GeV: %.3g cm2 (published %.3g)", mass, limits[-1], _log_interp(mass, published[:, 0],
                                                                                       published[:, 1]))
    bands = np.array([[_log_interp(m, published[:, 0], published[:, k]) for k in range(2, 7)] for m in masses])
    return LimitComparison(masses, np.array(limits), np.array([_log_interp(m, published[:, 0], published[:, 1])
                                                               for m in masses]),
                           bands, "Neyman (collaboration's)" if neyman else "asymptotic chi2(1)", float(v0_km_s))


def _log_interp(x, xs, ys):
    return float(np.exp(np.interp(np.log(x), np.log(xs), np.log(ys))))


def comparison_figure(comparisons):
    """Published limit and sensitivity bands beside the project's limits (one line per
    comparison), and their ratio."""
    first = comparisons[0]
    fig, top, bottom = comparison_axes()
    bands = first.published_bands
    top.fill_between(first.masses_gev, bands[:, 0], bands[:, 4], color="#ffe680",
                     label="published sensitivity +-2 sigma")
    top.fill_between(first.masses_gev, bands[:, 1], bands[:, 3], color="#7fd17f", label="+-1 sigma")
    top.plot(first.masses_gev, first.published, "k-", lw=2, label="XENON1T 1 t yr, published (arXiv:1805.12562)")
    for c in comparisons:
        label = f"binwise likelihood, project's wimprates spectrum (v0 = {c.v0_km_s:g} km/s, {c.threshold})"
        top.plot(c.masses_gev, c.limits, "o--", ms=4, label=label)
        bottom.plot(c.masses_gev, c.ratios, "o--", ms=4)
    top.set_xscale("log")
    finish_comparison(top, bottom, GOAL)
    return fig


def comparison_axes():
    """A figure for limits (top) and their ratio to the published ones (bottom)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    return fig, top, bottom


def finish_comparison(top, bottom, goal, legend_size=7, ratio_columns=1):
    """Axes, labels, legends and the goal band of a :func:`comparison_axes` figure."""
    top.set_yscale("log")
    top.set_ylabel("SI WIMP-nucleon cross-section, 90% CL [cm$^2$]")
    top.legend(fontsize=legend_size)
    bottom.axhspan(1 - goal, 1 + goal, color="#c44e52", alpha=0.15, label=f"goal +-{goal:.0%}")
    bottom.axhline(1, color="k", lw=1)
    bottom.set_xlabel("WIMP mass [GeV/c$^2$]")
    bottom.set_ylabel("project / published")
    bottom.legend(fontsize=legend_size, ncol=ratio_columns)


PROJECT_TESTS = ("likelihood", "likelihood_cs1", "cut_and_count", "anomaly_score_likelihood", "anomaly_fraction")


def _project_sensitivity(evaluation):
    """{test: rows} of an evaluation's sensitivity rows at its sensitivity exposure, by mass."""
    days = evaluation.get("sensitivity_live_days", evaluation.get("reference_live_days"))
    rows = [r for r in evaluation.get("sensitivity", []) if r.get("live_days", days) == days]
    if not rows:
        raise ValueError("The evaluation holds no sensitivity rows: make it with 'ddcore evaluate --sensitivity "
                         "6,10,20,50,100,200,500,1000 --sensitivity-live-days 351'")
    return days, {test: sorted((r for r in rows if r["test"] == test), key=lambda r: r["mass_gev"])
                  for test in PROJECT_TESTS if any(r["test"] == test for r in rows)}


def project_model_rows(evaluation) -> list[dict]:
    """Per mass and test: the project's median limit [cm^2] with its template-bootstrap error
    and 1 sigma band, the published limit and median sensitivity at that mass, and the ratios."""
    xe = _xe_likelihood()
    published = np.asarray(xe.xenon1t_published, float)
    days, tests = _project_sensitivity(evaluation)
    found = []
    xenon1t_signal = {}
    for test, rows in tests.items():
        for r in rows:
            mass = r["mass_gev"]
            limit, median = _log_interp(mass, published[:, 0], published[:, 1]), _log_interp(
                mass, published[:, 0], published[:, 4])
            row = {"mass_gev": mass, "test": test, "live_days": days, "median_cm2": r["limit_cm2"][2],
                   "median_error_cm2": r.get("limit_median_error_cm2", np.nan),
                   "minus_1_sigma_cm2": r["limit_cm2"][1], "plus_1_sigma_cm2": r["limit_cm2"][3],
                   "published_limit_cm2": limit, "published_median_cm2": median,
                   "ratio_to_published_median": r["limit_cm2"][2] / median}
            if "expected_wimp" in r and test != "anomaly_fraction":  # whose WIMPs count every event category
                key = (mass, r["cross_section_cm2"])
                if key not in xenon1t_signal:
                    xenon1t_signal[key] = xenon1t_signal_events(mass, r["cross_section_cm2"])
                signal_ratio = r["expected_wimp"] / xenon1t_signal[key]
                row.update(expected_wimp=r["expected_wimp"], xenon1t_expected_wimp=xenon1t_signal[key],
                           signal_ratio=signal_ratio,
                           ratio_at_equal_signal=row["ratio_to_published_median"] * signal_ratio)
            found.append(row)
    return found


def xenon1t_signal_events(mass_gev, cross_section_cm2, v0_km_s=spectra.HALO_V0_KM_S) -> float:
    """Expected WIMP events of XENON1T's 1 t·yr search (its detection and selection efficiency,
    its exposure: the binwise likelihood's migration matrix) for the project's wimprates spectrum."""
    inference = xenon1t_binwise_inference()
    energies, rates = spectra.wimp_spectrum_table(float(mass_gev), float(cross_section_cm2), e_max_kev=100.0,
                                                  n=4000, v0_km_s=v0_km_s)
    inference.spectrum = _xe_likelihood().Spectrum.from_sample(np.asarray(energies, float), np.asarray(rates, float))
    return float(np.sum(inference.sum_spectrum_in_reconstructed_bins))


def project_model_figure(evaluation, comparison):
    """The published limit and sensitivity bands, the binwise-likelihood limit, and the median
    sensitivity of the project's own detector model for each test, with their ratio to the
    published median sensitivity."""
    from ddplugins.search.sensitivity import legend_label

    days, tests = _project_sensitivity(evaluation)
    fig, top, bottom = comparison_axes()
    bands = comparison.published_bands
    top.fill_between(comparison.masses_gev, bands[:, 0], bands[:, 4], color="#ffe680",
                     label="published sensitivity +-2 sigma")
    top.fill_between(comparison.masses_gev, bands[:, 1], bands[:, 3], color="#7fd17f", label="+-1 sigma")
    top.plot(comparison.masses_gev, bands[:, 2], "k:", lw=1.5, label="published median sensitivity")
    top.plot(comparison.masses_gev, comparison.published, "k-", lw=2, label="XENON1T 1 t yr limit, published")
    medians = {m: b for m, b in zip(comparison.masses_gev, bands[:, 2])}
    for test, rows in tests.items():
        rows = [r for r in rows if np.isfinite(r["limit_cm2"][2])]
        masses = np.array([r["mass_gev"] for r in rows])
        median = np.array([r["limit_cm2"][2] for r in rows])
        line, = top.plot(masses, median, "o-", ms=4,
                         label=f"project's detector model, {legend_label(test)} (median, {days:.0f} live days)")
        if test == "likelihood":
            top.fill_between(masses, [r["limit_cm2"][1] for r in rows], [r["limit_cm2"][3] for r in rows],
                             color=line.get_color(), alpha=0.2)
        published_median = np.array([medians.get(m, _log_interp(m, comparison.masses_gev, bands[:, 2]))
                                     for m in masses])
        bottom.plot(masses, median / published_median, "o-", ms=4, color=line.get_color())
    top.set_xscale("log")
    finish_comparison(top, bottom, GOAL, legend_size=6)
    bottom.set_ylabel("project / published median")
    return fig
