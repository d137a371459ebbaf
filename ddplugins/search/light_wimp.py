"""Published results, reproduced: the XENONnT 2024 light-WIMP search (arXiv:2409.17868), its
real unblinded events and the collaboration's templates fitted with the project's statistics.

The public data release (XENONnT/light_wimp_data_release) holds, per science run (SR0, SR1), the
events left in the search region, binned templates of every source in the four-dimensional
analysis space (cS2, S2 shadow, S1 and S2 BDT scores; 3 x 3 x 3 x 3 bins) for the light- and
charge-yield nuisances ``t_ly``, ``t_qy`` at -3..3, the collaboration's statistical model (an alea
YAML: livetimes, rate multipliers and their constraints) and the published limits. This module
builds the same model as a pyhf workspace and computes the 90% CL limits from it:

- one channel per science run, templates (events per bin per t yr) times the run's livetime;
- WIMP: the signal strength ``mu`` (cross-section / 1e-45 cm^2, the templates' normalisation)
  and the shared ``signal_efficiency`` (a normsys, also on B8 CEvNS);
- B8 CEvNS, radiogenic neutrons (``rg``), accidental coincidences (``ac``, one per run), ER: one
  rate nuisance each with the model's constraint;
- ``t_ly``, ``t_qy``: per source a rate normsys (exponential beyond +-1) and a shape histosys,
  both from the templates at -1 and +1. alea interpolates linearly between all seven anchors in
  both parameters together; pyhf interpolates each parameter on its own from +-1. That, and the
  ER rate's 100% uncertainty taken log-normal (a truncated Gaussian in alea), are the
  approximations of the reproduction; the first shows most at the lowest masses, where the WIMP
  rate changes fastest with the yields.

Limits follow the XENON conventions (arXiv:2105.00599): the upper end of the 90% CL interval of
the two-sided profile-likelihood ratio ``tmu_tilde`` (signal strength bounded at zero; no CLs),
with critical values from a Neyman construction with toys (``neyman_limits``) or from Wilks'
chi-square (``asymptotic_limits``); the sensitivity is the distribution of background-only
toys' limits (median and +-1, 2 sigma); the published limit is power-constrained at the -1 sigma
sensitivity, and so is the project's.

Data are read from the release folder (the CSV form of its events: the release's ``real_data.pkl``
is a pickle and is not unpickled here); nothing of it is copied into the project.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import warnings

import numpy as np
from scipy import stats

from ddcore.extras import import_extra
from ddplugins.search.toys import crossing

log = logging.getLogger(__name__)

PUBLISHED_EXTRA = "pip install 'ddcore[published]'"
REFERENCE_CROSS_SECTION_CM2 = 1e-45  # the WIMP templates' cross-section (the release's signal spectra say so)
SCIENCE_RUNS = ("sr0", "sr1")
ANALYSIS_DIMENSIONS = ("cs2", "s2_shadow_s2_time_shadow", "s1_bdt_score", "s2_bdt_score")
BACKGROUNDS = ("b8", "ac", "er", "rg")
YIELD_NUISANCES = ("t_ly", "t_qy")
GOAL = 0.20  # the goal: within 20% of the published limits and median sensitivity
CONFIDENCE_LEVEL = 0.9
BAND_SIGMAS = (-2, -1, 0, 1, 2)
# the Neyman belt's signal strengths, in multiples of the asymptotic median limit: published
# sensitivity bands reach from 0.07x (-2 sigma at 3 GeV) to 20x (+2 sigma) the median
GRID_RANGE = (0.04, 30.0)
GRID_POINTS = 16
MU_MAX = 1e5  # the model's own bound on the WIMP rate multiplier (cross-section / 1e-45 cm^2)


class ReleaseError(ValueError):
    """The data-release folder lacks a file or holds one this reader does not understand."""


@dataclasses.dataclass
class Release:
    """What the fit needs from the data release: per science run the templates (events per bin per
    t yr, flattened) by (source, t_ly, t_qy), the bin edges, the observed events per bin and the
    livetime; the rate constraints; and the published result."""

    folder: str
    livetimes: dict
    edges: dict
    observed: dict
    templates: dict
    constraints: dict
    masses_gev: tuple
    published: dict

    def template(self, science_run, source, t_ly=0, t_qy=0):
        return self.templates[(science_run, source, int(t_ly), int(t_qy))]


def _path(folder, relative):
    path = os.path.join(folder, relative)
    if not os.path.exists(path):
        raise ReleaseError(f"The light-WIMP data release at {folder} has no {relative}")
    return path


def _read_template(folder, relative, edges=None):
    h5py = import_extra("h5py", "Reading the XENONnT light-WIMP templates", PUBLISHED_EXTRA)
    path = _path(folder, relative)
    with h5py.File(path, "r") as f:
        try:
            histogram = np.asarray(f["templates/template"][()], float)
            bins = [np.asarray(f[f"bins/{i}"][()], float) for i in range(len(ANALYSIS_DIMENSIONS))]
        except KeyError as error:
            raise ReleaseError(f"{path}: no {error.args[0]!r}; expected templates/template and bins/0..3") from error
    if histogram.shape != tuple(len(b) - 1 for b in bins):
        raise ReleaseError(f"{path}: template of shape {histogram.shape} for bins of {[len(b) for b in bins]} edges")
    if edges is not None and not all(np.allclose(a, b) for a, b in zip(bins, edges)):
        raise ReleaseError(f"{path}: bin edges differ from the science run's other templates")
    return histogram.ravel(), bins


def _model_parameters(folder):
    yaml = import_extra("yaml", "Reading the XENONnT light-WIMP model", PUBLISHED_EXTRA)
    with open(_path(folder, "statistical_model_base.yaml")) as f:
        model = yaml.safe_load(f)
    parameters = model.get("parameter_definition", {})
    try:
        livetimes = {sr: float(parameters[f"livetime_{sr}"]["nominal_value"]) for sr in SCIENCE_RUNS}
    except KeyError as error:
        raise ReleaseError(f"statistical_model_base.yaml: no parameter {error.args[0]!r}") from error
    constraints = {name: float(spec["uncertainty"]) for name, spec in parameters.items()
                   if spec.get("uncertainty") is not None and name not in YIELD_NUISANCES}
    return livetimes, constraints


def _events(folder, science_run, edges):
    import pandas as pd

    path = _path(folder, f"real_data_{science_run}.csv")
    table = pd.read_csv(path)
    missing = [c for c in ANALYSIS_DIMENSIONS if c not in table.columns]
    if missing:
        raise ReleaseError(f"{path}: no column {missing}")
    values = table[list(ANALYSIS_DIMENSIONS)].to_numpy(float)
    outside = [i for i, row in enumerate(values) if any(not (e[0] <= v <= e[-1]) for v, e in zip(row, edges))]
    if outside:
        raise ReleaseError(f"{path}: rows {outside} lie outside the analysis space")
    counts, _ = np.histogramdd(values, bins=edges)
    return counts.ravel()


def _masses(folder):
    names = os.listdir(_path(folder, "wimp_si"))
    found = {float(m) for m in re.findall(r"wimp_si_([0-9.]+)_cevns_tly_0\.0_tqy_0\.0\.h5", " ".join(names))}
    return tuple(sorted(found))


def _published(folder):
    import pandas as pd

    table = pd.read_csv(_path(folder, "limits/XENONnT_2024_SI.csv"))
    columns = {"limit": "upper_limit_cm2", "unconstrained": "unconstrained_upper_limit_cm2",
               "median": "sensitivity_median_cm2", "-2": "sensitivity_m2sigma_cm2", "-1": "sensitivity_m1sigma_cm2",
               "1": "sensitivity_p1sigma_cm2", "2": "sensitivity_p2sigma_cm2"}
    published = {key: table[column].to_numpy(float) for key, column in columns.items()}
    return {"mass_gev": table["dm_mass_gev"].to_numpy(float)} | published


def read_release(folder) -> Release:
    """The templates, events, livetimes, constraints and published limits of the release at
    ``folder`` (the layout of XENONnT/light_wimp_data_release, events as CSV)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ReleaseError(f"No light-WIMP data release at {folder}")
    livetimes, constraints = _model_parameters(folder)
    masses = _masses(folder)
    if not masses:
        raise ReleaseError(f"{folder}/wimp_si holds no WIMP templates")
    sources = {"b8": "b8/template_XENONnT_{sr}_b8_cevns_tly_{ly:.1f}_tqy_{qy:.1f}.h5",
               "rg": "rg/template_XENONnT_{sr}_rg_cevns_tly_{ly:.1f}_tqy_{qy:.1f}.h5",
               "ac": "ac/template_XENONnT_{sr}_ac_cevns.h5",
               "er": "er/template_XENONnT_{sr}_er_cevns.h5"}
    sources |= {f"wimp_{m:g}": f"wimp_si/template_XENONnT_{{sr}}_wimp_si_{m:g}_cevns_tly_{{ly:.1f}}_tqy_{{qy:.1f}}.h5"
                for m in masses}
    templates, edges, observed = {}, {}, {}
    for sr in SCIENCE_RUNS:
        _, edges[sr] = _read_template(folder, sources["er"].format(sr=sr))
        for source, pattern in sources.items():
            anchors = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] if "{ly" in pattern else [(0, 0)]
            for ly, qy in anchors:
                templates[(sr, source, ly, qy)], _ = _read_template(
                    folder, pattern.format(sr=sr, ly=float(ly), qy=float(qy)), edges[sr])
        observed[sr] = _events(folder, sr, edges[sr])
    return Release(folder, livetimes, edges, observed, templates, constraints, masses, _published(folder))


def _rate_modifier(name, uncertainty):
    # log-symmetric below nominal where a symmetric one would reach zero (ER's 100%)
    low = 1 - uncertainty if uncertainty < 0.5 else 1 / (1 + uncertainty)
    return {"name": name, "type": "normsys", "data": {"hi": 1 + uncertainty, "lo": low}}


def _yield_modifiers(release, sr, source, livetime):
    """Each yield nuisance as a rate change (normsys: exponential beyond +-1, as the WIMP rate at
    the lowest masses falls by orders of magnitude from +3 to -3) and a shape change at fixed
    rate (histosys), both from the templates at -1 and +1 and sharing the parameter."""
    nominal = release.template(sr, source) * livetime
    total = nominal.sum()
    modifiers = []
    for name, (low, high) in zip(YIELD_NUISANCES, (((-1, 0), (1, 0)), ((0, -1), (0, 1)))):
        lo, hi = (release.template(sr, source, *anchor) * livetime for anchor in (low, high))
        modifiers.append({"name": name, "type": "normsys", "data": {"hi": hi.sum() / total, "lo": lo.sum() / total}})
        modifiers.append({"name": name, "type": "histosys", "data": {"lo_data": list(lo * total / lo.sum()),
                                                                    "hi_data": list(hi * total / hi.sum())}})
    return modifiers


def workspace(release: Release, mass_gev: float) -> dict:
    """The pyhf workspace (JSON-able dict) of the search at ``mass_gev`` with the observed events."""
    constraints = release.constraints
    channels, observations = [], []
    for sr in SCIENCE_RUNS:
        livetime = release.livetimes[sr]
        efficiency = _rate_modifier("signal_efficiency", constraints["signal_efficiency"])
        samples = [
            ("wimp", f"wimp_{mass_gev:g}", [{"name": "mu", "type": "normfactor", "data": None}, efficiency], True),
            ("b8", "b8", [efficiency, _rate_modifier("b8_rate", constraints["b8_rate_multiplier"])], True),
            ("rg", "rg", [_rate_modifier("nr_rate", constraints["nr_rate_multiplier"])], True),
            (f"ac_{sr}", "ac", [_rate_modifier(f"ac_{sr}_rate", constraints[f"ac_{sr}_rate_multiplier"])], False),
            ("er", "er", [_rate_modifier("er_rate", constraints["er_rate_multiplier"])], False),
        ]
        channel = {"name": sr, "samples": []}
        for name, source, modifiers, yields in samples:
            extra = _yield_modifiers(release, sr, source, livetime) if yields else []
            channel["samples"].append({"name": name, "data": list(release.template(sr, source) * livetime),
                                       "modifiers": modifiers + extra})
        channels.append(channel)
        observations.append({"name": sr, "data": list(release.observed[sr])})
    parameters = [{"name": "mu", "bounds": [[0.0, MU_MAX]], "inits": [1.0]},
                  # the model's fit limits on the signal efficiency, 0.5-1.5, in standard deviations
                  {"name": "signal_efficiency", "bounds": [[-2.0, 2.0]]}]
    return {"channels": channels, "observations": observations, "version": "1.0.0",
            "measurements": [{"name": "light_wimp", "config": {"poi": "mu", "parameters": parameters}}]}


def _model_and_data(release, mass_gev):
    import pyhf

    logging.getLogger("pyhf").setLevel(logging.WARNING)
    # the clipping below is announced as a warning on every model built
    logging.getLogger("pyhf.pdf").setLevel(logging.ERROR)
    ws = pyhf.Workspace(workspace(release, mass_gev))
    # no negative expectation where the +-1 templates extrapolate linearly beyond them
    model = ws.model(clip_sample_data=0.0)
    return model, ws.data(model)


def _asimov_background(model):
    pars = model.config.suggested_init()
    pars[model.config.poi_index] = 0.0
    return list(model.expected_actualdata(pars)) + list(model.config.auxdata)


def _signal_events(model):
    """Expected WIMP events in the model at signal strength 1."""
    pars = np.asarray(model.config.suggested_init(), float)
    pars[model.config.poi_index] = 1.0
    with_signal = model.expected_actualdata(pars).sum()
    pars[model.config.poi_index] = 0.0
    return float(with_signal - model.expected_actualdata(pars).sum())


class _ProfileLikelihood:
    """The two-sided profile-likelihood ratio tmu_tilde of one model (signal strength bounded at
    zero), the unconditional fit done once per data set."""

    def __init__(self, model):
        import pyhf

        self.model, self.pyhf = model, pyhf
        self.init = model.config.suggested_init()
        self.bounds = model.config.suggested_bounds()
        self.fixed = model.config.suggested_fixed()
        self.signal_events = _signal_events(model)

    def _fit(self, data, mu=None):
        infer = self.pyhf.infer.mle
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if mu is None:
                return infer.fit(data, self.model, self.init, self.bounds, self.fixed, return_fitted_val=True)
            return infer.fixed_poi_fit(mu, data, self.model, self.init, self.bounds, self.fixed,
                                       return_fitted_val=True)

    def best_fit(self, data):
        """(fitted signal strength, -2 log L) of the unconditional fit; NaNs where it failed."""
        try:
            best, twice_nll = self._fit(data)
        except self.pyhf.exceptions.FailedMinimization:
            return np.nan, np.nan
        return float(best[self.model.config.poi_index]), float(twice_nll)

    def statistic(self, data, strengths, best=None):
        """(fitted strength, tmu_tilde at every strength); NaN where a fit failed."""
        muhat, free = self.best_fit(data) if best is None else best
        out = np.full(len(strengths), np.nan)
        if np.isnan(free):
            return muhat, out
        for i, mu in enumerate(strengths):
            try:
                out[i] = max(float(self._fit(data, float(mu))[1]) - free, 0.0)
            except self.pyhf.exceptions.FailedMinimization:
                pass
        return muhat, out

    def asymptotic_limit(self, data):
        """The strength above the fitted one where tmu_tilde reaches its asymptotic (Wilks,
        chi-square with one degree of freedom) 90% critical value."""
        from scipy import optimize

        best = self.best_fit(data)
        threshold = stats.chi2(1).isf(1 - CONFIDENCE_LEVEL)

        def excess(log_mu):
            value = self.statistic(data, [float(np.exp(log_mu))], best)[1][0]
            if np.isnan(value):
                raise ReleaseError("A fit of the light-WIMP model did not converge")
            return value - threshold

        low = np.log(max(best[0], 0.3 / self.signal_events) * 1.0001)
        if excess(low) >= 0:
            return float(np.exp(low))
        high = low + np.log(2.0)
        while excess(high) < 0:
            if high >= np.log(0.5 * MU_MAX):
                raise ReleaseError(f"No 90% CL limit below {MU_MAX:g} x 1e-45 cm^2")
            low, high = high, min(high + np.log(2.0), np.log(0.5 * MU_MAX))
        return float(np.exp(optimize.brentq(excess, low, high, xtol=1e-3)))


def _neyman_belt(folder, mass_gev, n_toys, strengths, seed):
    """The statistic's toy distributions of one mass: ``n_toys`` toys with the signal at every
    strength of the grid, ``n_toys`` background-only toys, and the observed data (for those two,
    the statistic at every strength and the fitted strength)."""
    import pyhf

    from ddplugins.search.toys import _sample

    logging.getLogger("pyhf").setLevel(logging.CRITICAL)  # MINUIT's failed fits are counted, not printed
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0))
    model, data = _model_and_data(read_release(folder), mass_gev)
    likelihood = _ProfileLikelihood(model)
    seeds = np.random.SeedSequence([seed, int(round(mass_gev * 100))]).generate_state(len(strengths) + 1)
    signal = np.array([[likelihood.statistic(toy, [mu])[1][0] for toy in _sample(model, mu, n_toys, int(seeds[k]))]
                       for k, mu in enumerate(strengths)]).T
    background = [likelihood.statistic(toy, strengths) for toy in _sample(model, 0.0, n_toys, int(seeds[-1]))]
    observed = likelihood.statistic(np.asarray(data), strengths)
    return {"signal": signal, "background": np.array([b[1] for b in background]),
            "background_fitted": np.array([b[0] for b in background]),
            "observed": observed[1], "observed_fitted": observed[0]}


def _neyman_limits(belt, strengths, rng, n_bootstrap=200):
    """Observed limit, sensitivity quantiles (-2..+2 sigma) and the toy-statistics errors of the
    observed limit and the median (half the 16-84% range of bootstrap resamples of both toy sets)."""
    quantiles = stats.norm.cdf(BAND_SIGMAS)

    def evaluate(signal, background, fitted):
        critical = np.nanquantile(signal, CONFIDENCE_LEVEL, axis=0)
        limits = np.array([crossing(q, critical, strengths, f) for q, f in zip(background, fitted)])
        return crossing(belt["observed"], critical, strengths, belt["observed_fitted"]), np.quantile(limits, quantiles)

    observed, bands = evaluate(belt["signal"], belt["background"], belt["background_fitted"])
    resampled = []
    for _ in range(n_bootstrap):
        s = rng.integers(0, len(belt["signal"]), len(belt["signal"]))
        b = rng.integers(0, len(belt["background"]), len(belt["background"]))
        obs, band = evaluate(belt["signal"][s], belt["background"][b], belt["background_fitted"][b])
        resampled.append((obs, band[2]))
    low, high = np.percentile(np.array(resampled), [16, 84], axis=0)
    return observed, bands, (high - low) / 2


@dataclasses.dataclass
class LightWimpLimits:
    """The project's limits [cm^2] at the release's masses, beside the published ones."""

    masses_gev: np.ndarray
    method: str
    unconstrained: np.ndarray
    sensitivity: np.ndarray  # (masses, 5): -2, -1, 0, +1, +2 sigma
    published: dict
    # toy statistics: the errors of the unconstrained limit and the median sensitivity (zero: asymptotic)
    unconstrained_error: np.ndarray | None = None
    median_error: np.ndarray | None = None
    n_toys: int = 0

    def __post_init__(self):
        zeros = np.zeros(len(self.masses_gev))
        self.unconstrained_error = zeros if self.unconstrained_error is None else self.unconstrained_error
        self.median_error = zeros if self.median_error is None else self.median_error

    @property
    def median(self):
        return self.sensitivity[:, 2]

    @property
    def limit(self):
        """Power-constrained at the -1 sigma sensitivity, as the published limit."""
        return np.maximum(self.unconstrained, self.sensitivity[:, 1])

    def published_at(self, key):
        return np.array([self.published[key][self.published["mass_gev"] == m][0] for m in self.masses_gev])

    def rows(self) -> list[dict]:
        rows = []
        for i, mass in enumerate(self.masses_gev):
            row = {"mass_gev": float(mass), "method": self.method}
            for name, ours, error in (("limit", self.limit, None), ("unconstrained", self.unconstrained,
                                                                    self.unconstrained_error),
                                      ("median", self.median, self.median_error)):
                theirs = float(self.published_at(name)[i])
                row |= {f"{name}_cm2": float(ours[i]), f"published_{name}_cm2": theirs,
                        f"{name}_ratio": float(ours[i] / theirs)}
                if error is not None:
                    row[f"{name}_ratio_error"] = float(error[i] / theirs)
            row |= {f"sensitivity_{s:+d}sigma_cm2": float(v) for s, v in zip(BAND_SIGMAS, self.sensitivity[i])
                    if s != 0}
            row["within_goal"] = bool(all(abs(row[f"{n}_ratio"] - 1) <= GOAL for n in ("limit", "median")))
            rows.append(row)
        return rows


def _masses_of(release, masses_gev):
    masses = np.asarray(release.masses_gev if masses_gev is None else masses_gev, float)
    unknown = [float(m) for m in masses if m not in release.masses_gev]
    if unknown:
        raise ReleaseError(f"No WIMP templates for {unknown} GeV in {release.folder} (it has {release.masses_gev})")
    missing = [float(m) for m in masses if m not in release.published["mass_gev"]]
    if missing:
        raise ReleaseError(f"No published limit at {missing} GeV in {release.folder}/limits")
    return masses


def asymptotic_limits(release: Release, masses_gev=None) -> LightWimpLimits:
    """90% CL limits and the median sensitivity with its bands at ``masses_gev`` (default: every
    mass the release has templates for) from the asymptotic (Wilks) distribution of tmu_tilde,
    the bands of a Gaussian estimator bounded at zero around the median from the background-only
    Asimov data set. Fast (seconds a mass); see ``neyman_limits`` for the toys."""
    import pyhf

    masses = _masses_of(release, masses_gev)
    unconstrained, sensitivity = [], []
    logging.getLogger("pyhf").setLevel(logging.CRITICAL)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0))
    z = np.sqrt(stats.chi2(1).isf(1 - CONFIDENCE_LEVEL))
    for mass in masses:
        model, data = _model_and_data(release, float(mass))
        likelihood = _ProfileLikelihood(model)
        unconstrained.append(likelihood.asymptotic_limit(np.asarray(data)))
        median = likelihood.asymptotic_limit(np.asarray(_asimov_background(model)))
        sigma = median / z
        # a fitted strength n sigma from zero, bounded at zero: limit n + sqrt(n^2 + z^2) sigma below zero
        sensitivity.append([sigma * (n + z if n >= 0 else n + np.hypot(n, z)) for n in BAND_SIGMAS])
        log.info("%g GeV: limit %.3g, median sensitivity %.3g x 1e-45 cm2 (asymptotic)", mass, unconstrained[-1],
                 median)
    scale = REFERENCE_CROSS_SECTION_CM2
    return LightWimpLimits(masses, "asymptotic", np.array(unconstrained) * scale, np.array(sensitivity) * scale,
                           release.published)


def strength_grid(median_strength, points=GRID_POINTS):
    """Signal strengths a Neyman belt is built on: around the asymptotic median limit, from far
    below (downward fluctuations of background-only toys) to far above."""
    return median_strength * np.geomspace(*GRID_RANGE, points)


def neyman_limits(release: Release, masses_gev=None, n_toys=200, grid_points=GRID_POINTS, workers=1, seed=0,
                  asymptotic: LightWimpLimits | None = None) -> LightWimpLimits:
    """90% CL limits and sensitivity bands from a Neyman construction with toys, as the
    collaboration computed them: at each signal strength of a grid the critical value of
    qmu_tilde is the 90% quantile of ``n_toys`` toys with that signal; a data set's limit is where
    its qmu_tilde crosses the critical values; the sensitivity is the distribution of the limits
    of ``n_toys`` background-only toys. Toys are Poisson counts with every auxiliary measurement
    drawn around the nominal nuisance parameters, fitted on ``workers`` processes."""
    masses = _masses_of(release, masses_gev)
    asymptotic = asymptotic or asymptotic_limits(release, masses)
    grids = [strength_grid(asymptotic.median[list(asymptotic.masses_gev).index(m)] / REFERENCE_CROSS_SECTION_CM2,
                           grid_points) for m in masses]
    jobs = [(release.folder, float(m), int(n_toys), grid, int(seed)) for m, grid in zip(masses, grids)]
    belts = _run(jobs, workers)
    rng = np.random.default_rng(seed)
    results = [_neyman_limits(belt, grid, rng) for belt, grid in zip(belts, grids)]
    for mass, belt, grid, (observed, _, _) in zip(masses, belts, grids, results):
        failed = int(np.isnan(belt["signal"]).sum() + np.isnan(belt["background"]).sum())
        if failed:
            log.warning("%g GeV: %d of %d toy fits failed (left out)", mass, failed,
                        belt["signal"].size + belt["background"].size)
        if observed <= grid[0] or observed >= grid[-1]:
            log.warning("%g GeV: the observed limit lies at the end of the strength grid", mass)
    scale = REFERENCE_CROSS_SECTION_CM2
    return LightWimpLimits(masses, f"Neyman ({n_toys} toys)", np.array([r[0] for r in results]) * scale,
                           np.array([r[1] for r in results]) * scale, release.published,
                           np.array([r[2][0] for r in results]) * scale, np.array([r[2][1] for r in results]) * scale,
                           int(n_toys))


def _belt_job(job):
    return _neyman_belt(*job)


def _run(jobs, workers):
    if workers <= 1 or len(jobs) <= 1:
        return [_belt_job(job) for job in jobs]
    import concurrent.futures
    import multiprocessing

    # spawned, not forked: the parent may hold TensorFlow's threads
    with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)),
                                                mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_belt_job, jobs))


def comparison_figure(comparisons):
    """The published limit and sensitivity bands beside the project's limits and median
    sensitivity (one line each per method), and their ratios."""
    from ddplugins.search.published import comparison_axes, finish_comparison

    first = comparisons[0]
    masses = first.published["mass_gev"]
    fig, top, bottom = comparison_axes()
    published = first.published
    top.fill_between(masses, published["-2"], published["2"], color="#ffe680", label="published sensitivity +-2 sigma")
    top.fill_between(masses, published["-1"], published["1"], color="#7fd17f", label="+-1 sigma")
    top.plot(masses, published["median"], "k:", lw=1.5, label="published median sensitivity")
    top.plot(masses, published["limit"], "k-", lw=2, label="XENONnT 2024 limit, published (arXiv:2409.17868)")
    for c, colour in zip(comparisons, ("#1f77b4", "#d62728", "#2ca02c")):
        top.plot(c.masses_gev, c.limit, "o-", color=colour, ms=4, label=f"project, {c.method}: limit")
        top.plot(c.masses_gev, c.median, "s--", color=colour, ms=3, mfc="none",
                 label=f"project, {c.method}: median sensitivity")
        bottom.errorbar(c.masses_gev, c.limit / c.published_at("limit"), fmt="o-", color=colour, ms=4,
                        label=f"{c.method}: limit")
        bottom.errorbar(c.masses_gev, c.median / c.published_at("median"),
                        yerr=c.median_error / c.published_at("median"), fmt="s--", color=colour, ms=3, mfc="none",
                        label=f"{c.method}: median")
    finish_comparison(top, bottom, GOAL, legend_size=6.5, ratio_columns=2)
    return fig
