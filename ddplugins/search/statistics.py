"""Discovery significances and upper limits from binned likelihoods with nuisance parameters, built with pyhf.

Why pyhf: a maintained HistFactory implementation whose models are declarative JSON a physicist
can read, publish and re-fit; rate uncertainties (``normsys``) and the finite statistics of
simulated templates (``staterror``, Barlow-Beeston lite, for the backgrounds; ``shapesys`` for
the signal) are built in; asymptotic formulae and
toy Monte Carlo share one interface. Fits use MINUIT (iminuit), which converges where scipy's
SLSQP gives up on templates with few simulated events.

Every template comes from simulated runs independent of the events tested, scaled from the
events simulated to the events the population's rate produces in the exposure
(``ddplugins.simulation.populations.expected_counts``): the analysis-space efficiency enters
once, through the simulated events that land in each bin.

Bins are quantiles of the background template in a discriminant, so every bin holds simulated
background events and no empty-bin floor is needed: a template of N events gives the same
expected significance for every N, within its statistical uncertainty (which the template
statistics' nuisance parameters carry into the fit).
"""

import contextlib
import dataclasses
import logging
import re
import warnings

import numpy as np
from scipy import stats

log = logging.getLogger(__name__)

# Relative uncertainties of the background rates (one standard deviation), nuisance parameters
# of every likelihood: ER (1.93 +- 0.25) e-4 /(kg d keV), arXiv:1705.06655; radiogenic neutrons
# 0.6 +- 0.1 /(t yr) and CEvNS (1.8 +- 0.3) e-2 /(t yr), arXiv:1512.07501; the populations whose
# rates are this project's assumptions (see xenon1t.toml) get 100%.
RATE_UNCERTAINTY = {"er": 0.13, "neutron": 0.17, "cevns": 0.17, "accidental": 1.0, "wall": 1.0,
                    "s2only": 1.0, "multisite": 1.0}
# background-template quantiles from the most background-like to the most signal-like events
DISCRIMINANT_QUANTILES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 1.0)
MIN_BACKGROUND_PER_BIN = 3


@dataclasses.dataclass
class Template:
    """Expected events per bin of one population for an exposure, and the simulated events
    behind them (``weight`` expected events per simulated event)."""

    name: str
    simulated: np.ndarray
    weight: float
    rate_uncertainty: float = 0.0
    exact: bool = False  # an expectation not counted from simulated events: no template statistics
    # per shape nuisance (a detector parameter the template depends on): simulated events per bin
    # at its -1 and +1 standard deviations (times ``weight`` expected events); several add up
    shape_variations: dict = dataclasses.field(default_factory=dict)

    @property
    def expected(self):
        return self.simulated * self.weight

    @property
    def statistical_error(self):
        return np.zeros(len(self.simulated)) if self.exact else np.sqrt(self.simulated) * self.weight

    def scaled(self, factor):
        return dataclasses.replace(self, weight=self.weight * factor)


def template(name, values, edges, produced, n_simulated, rate_uncertainty=None):
    """Template of a population from the discriminant ``values`` of its simulated events in the
    analysis space (``n_simulated`` simulated in all, ``produced`` expected in the exposure)."""
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), edges)
    uncertainty = RATE_UNCERTAINTY.get(name, 0.0) if rate_uncertainty is None else rate_uncertainty
    return Template(name, counts.astype(float), produced / max(n_simulated, 1), uncertainty)


def quantile_edges(background_values, quantiles=DISCRIMINANT_QUANTILES, min_per_bin=MIN_BACKGROUND_PER_BIN):
    """Bin edges at quantiles of the background discriminant (larger values: more signal-like),
    as far into the tail as leaves ``min_per_bin`` simulated background events in the last bin;
    the outer edges open to +-inf so no event falls outside."""
    n = len(background_values)
    quantiles = [q for q in quantiles if q in (0.0, 1.0) or (1 - q) * n >= min_per_bin]
    edges = np.quantile(background_values, quantiles, method="inverted_cdf")
    edges[0], edges[-1] = -np.inf, np.inf
    return np.unique(edges)


@dataclasses.dataclass(frozen=True)
class CS1SlicedBinning:
    """Bins in (cS1, band discriminant), as an experiment's likelihood uses the energy beside the
    discrimination: ``n`` cS1 slices at quantiles of the background's cS1 [PE], in each the band
    discriminant's ``quantile_edges`` of the background events there. ``values`` maps events to
    one bin coordinate (slice k's band bin j at the slice's first bin + j + 0.5), binned by
    ``edges``, so the templates, fits and bootstraps of a one-dimensional test apply unchanged."""

    cs1_edges: np.ndarray  # the inner slice edges [PE]
    band_edges: tuple  # per slice, its quantile_edges

    @classmethod
    def from_background(cls, band, cs1, n_slices):
        band, cs1 = np.asarray(band, float), np.asarray(cs1, float)
        if n_slices < 1 or len(band) < n_slices * MIN_BACKGROUND_PER_BIN:
            raise ValueError(f"Cannot cut {len(band)} background events into {n_slices} cS1 slices")
        cs1_edges = np.quantile(cs1, np.linspace(0, 1, n_slices + 1)[1:-1])
        slices = np.digitize(cs1, cs1_edges)
        return cls(cs1_edges, tuple(quantile_edges(band[slices == k]) for k in range(n_slices)))

    @property
    def edges(self):
        return np.arange(sum(len(e) - 1 for e in self.band_edges) + 1, dtype=float)

    def values(self, band, cs1):
        band, slices = np.asarray(band, float), np.digitize(np.asarray(cs1, float), self.cs1_edges)
        found = np.zeros(len(band))
        first = 0
        for k, edges in enumerate(self.band_edges):
            here = slices == k
            found[here] = first + np.digitize(band[here], edges[1:-1]) + 0.5
            first += len(edges) - 1
        return found


def build_model(signal, backgrounds):
    """pyhf model: the signal strength ``mu`` scales the signal; each background carries a
    log-symmetric rate nuisance; template statistics enter as per-bin factors
    (``_statistics_modifier``)."""
    import pyhf

    logging.getLogger("pyhf").setLevel(logging.WARNING)  # it logs every modifier it adds
    used = used_bins(signal, backgrounds)
    signal = _select(signal, used)
    backgrounds = [_select(b, used) for b in backgrounds]
    samples = [_sample(signal, [{"name": "mu", "type": "normfactor", "data": None}], is_signal=True)]
    for background in backgrounds:
        if background.simulated.sum() == 0:
            continue
        modifiers = []
        if background.rate_uncertainty > 0:
            u = background.rate_uncertainty
            modifiers.append({"name": f"rate_{background.name}", "type": "normsys",
                              "data": {"hi": 1 + u, "lo": 1 / (1 + u)}})
        samples.append(_sample(background, modifiers))
    # room for the signal strength up to far above the background's fluctuations (pyhf's default
    # bound of 10 cuts off limits on a small signal template, and its limit scan doubles its
    # range until it brackets the limit, which must stay inside the bounds)
    n_signal = float(signal.expected.sum())
    n_background = float(sum(b.expected.sum() for b in backgrounds))
    mu_max = max(10.0, 100.0 * (np.sqrt(n_background) + 3.0) / max(n_signal, 1e-12))
    spec = {"channels": [{"name": "analysis_space", "samples": samples}],
            "parameters": [{"name": "mu", "bounds": [[0.0, mu_max]]}]}
    return pyhf.Model(spec, poi_name="mu")


def used_bins(signal, backgrounds):
    """Bins where any template has simulated events (the others carry no information)."""
    return (signal.simulated + sum(b.simulated for b in backgrounds)) > 0


def _select(tmpl, used):
    variations = {name: tuple(np.asarray(v)[used] for v in pair) for name, pair in tmpl.shape_variations.items()}
    return dataclasses.replace(tmpl, simulated=tmpl.simulated[used], shape_variations=variations)


def _sample(tmpl, modifiers, is_signal=False):
    for name, (low, high) in tmpl.shape_variations.items():
        modifiers = modifiers + [{"name": "shape_" + re.sub(r"\W+", "_", f"{tmpl.name}_{name}"), "type": "histosys",
                                  "data": {"lo_data": [float(v) * tmpl.weight for v in low],
                                           "hi_data": [float(v) * tmpl.weight for v in high]}}]
    if not tmpl.exact:
        modifiers = modifiers + [_statistics_modifier(tmpl, is_signal)]
    return {"name": tmpl.name, "data": [float(v) for v in tmpl.expected], "modifiers": modifiers}


_SHARED_SIGNAL_STATISTICS = False


@contextlib.contextmanager
def shared_signal_statistics():
    """Within it, models put the signal's template statistics into the backgrounds' per-bin
    factor, as every model did before 2026-12-07 (``benchmarks/signal_template_statistics.py``
    compares the two)."""
    global _SHARED_SIGNAL_STATISTICS
    before, _SHARED_SIGNAL_STATISTICS = _SHARED_SIGNAL_STATISTICS, True
    try:
        yield
    finally:
        _SHARED_SIGNAL_STATISTICS = before


def _statistics_modifier(tmpl, is_signal):
    """The template statistics of the backgrounds share one scale factor per bin (``staterror``,
    Barlow-Beeston lite); the signal's have factors of their own with Poisson constraints
    (``shapesys``). Shared with the signal, a bin's allowed variation would depend on the signal's
    normalisation (the reference cross-section): a signal far above a background of a few
    simulated events would pin that background down (overstating the significance), a limit would
    change with the reference cross-section, and a bin the signal dominates could be scaled towards
    zero at a bounded cost, so no strength is excluded at +2 sigma."""
    errors = [float(v) for v in tmpl.statistical_error]
    if is_signal and not _SHARED_SIGNAL_STATISTICS:
        return {"name": "signal_template_statistics", "type": "shapesys", "data": errors}
    return {"name": "template_statistics", "type": "staterror", "data": errors}


def data_set(model, signal, backgrounds, observed, mu):
    """Observed counts in the model's bins and its auxiliary data, or (``observed`` None) the
    Asimov data set of ``mu`` times the signal over the backgrounds."""
    if observed is None:
        pars = model.config.suggested_init()
        pars[model.config.poi_index] = mu
        main = model.expected_actualdata(pars)
    else:
        main = np.asarray(observed, float)[used_bins(signal, backgrounds)]
    return list(main) + list(model.config.auxdata)


def _fit(infer, n_bins):
    """``infer()`` with MINUIT, again with scipy where MINUIT does not converge."""
    import pyhf

    optimizers = (pyhf.optimize.minuit_optimizer(verbose=0), pyhf.optimize.scipy_optimizer())
    for optimizer in optimizers:
        pyhf.set_backend("numpy", optimizer)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return infer()
        except pyhf.exceptions.FailedMinimization:
            if optimizer is optimizers[-1]:
                raise
            log.info("MINUIT did not converge on a %d-bin model; fitting again with scipy", n_bins)
        finally:
            pyhf.set_backend("numpy", optimizers[0])


def discovery_significance(signal, backgrounds, observed=None, calctype="asymptotics", ntoys=2000):
    """Discovery significance Z of the signal over the backgrounds: of ``observed`` counts per
    bin, or (default) the median expected Z from the Asimov data set of signal + background;
    NaN (with a warning) where neither optimiser converges.
    ``calctype="toybased"`` throws toy experiments instead of the asymptotic formulae."""
    import pyhf

    model = build_model(signal, backgrounds)
    data = data_set(model, signal, backgrounds, observed, mu=1.0)
    kwargs = {"ntoys": ntoys, "track_progress": False} if calctype == "toybased" else {}
    try:
        p_value = _fit(lambda: float(pyhf.infer.hypotest(0.0, data, model, test_stat="q0", calctype=calctype,
                                                         **kwargs)), len(data))
    except pyhf.exceptions.FailedMinimization:
        # a model too small to fit (a few simulated events): no number rather than a wrong one
        log.warning("A %d-bin significance fit converged with neither optimiser: Z is NaN", len(data))
        return float("nan")
    return float(stats.norm.isf(min(max(p_value, 1e-300), 0.5)))


@dataclasses.dataclass
class UpperLimit:
    """CLs upper limit on the signal strength (expected signal events / the template's): the
    observed one (None without observed counts) and the expected median with its 1 and 2
    standard-deviation bands (-2, -1, 0, +1, +2), from the background-only Asimov data set."""

    confidence_level: float
    observed: float | None
    expected: np.ndarray

    @property
    def median(self):
        return float(self.expected[2])


def upper_limit(signal, backgrounds, observed=None, confidence_level=0.9):
    """CLs upper limit on the signal strength at ``confidence_level``, with the same likelihood
    (rate and template-statistics nuisance parameters) as ``discovery_significance``."""
    import pyhf

    model = build_model(signal, backgrounds)
    low, high = model.config.suggested_bounds()[model.config.poi_index]

    def limits(data):
        # toms748_scan itself: pyhf 0.7's upper_limit(scan=None) does not pass ``level`` on (it
        # always gives 95% CL limits)
        return pyhf.infer.intervals.upper_limits.toms748_scan(data, model, low, high, level=1.0 - confidence_level)

    asimov = data_set(model, signal, backgrounds, None, mu=0.0)
    expected = _fit(lambda: _expected_limits(model, asimov, 1.0 - confidence_level), len(asimov))
    found = None
    if observed is not None:
        data = data_set(model, signal, backgrounds, observed, mu=0.0)
        found = float(_fit(lambda: limits(data)[0], len(data)))
    return UpperLimit(confidence_level, found, np.asarray(expected, float))


def _expected_limits(model, asimov, alpha):
    """The expected CLs limits (-2, -1, 0, +1, +2 sigma) from the background-only Asimov data:
    pyhf's asymptotic formulae (arXiv:1007.1727, qtilde) for each band n give CLs = Phi(-(n +
    sqrt(q_A(mu)))) / Phi(-n), so the band's limit is the strength where sqrt(q_A(mu)) reaches
    ``norm.isf(alpha Phi(-n)) - n``. One constrained fit per strength tried, where pyhf's
    ``toms748_scan`` fits five times per strength (``hypotest`` on data that are the Asimov data)."""
    from pyhf.infer import mle
    from scipy import optimize

    bounds = [list(b) for b in model.config.suggested_bounds()]
    poi = model.config.poi_index
    free = float(mle.fit(asimov, model, par_bounds=bounds, return_fitted_val=True)[1])
    known = {}

    def sqrt_q(mu):
        if mu not in known:
            bounds[poi][1] = max(bounds[poi][1], 2 * mu)
            fixed = float(mle.fixed_poi_fit(mu, asimov, model, par_bounds=bounds, return_fitted_val=True)[1])
            known[mu] = np.sqrt(max(fixed - free, 0.0))
        return known[mu]

    targets = [stats.norm.isf(alpha * stats.norm.sf(n)) - n for n in (2, 1, 0, -1, -2)]
    high = float(model.config.suggested_bounds()[poi][1]) / 2
    for _ in range(60):
        if sqrt_q(high) > targets[-1]:
            break
        high *= 2
    else:
        raise RuntimeError(f"no signal strength up to {high:.3g} is excluded at the +2 sigma band")
    found = []
    for target in targets:
        below = max([mu for mu, q in known.items() if q <= target], default=0.0)
        above = min(mu for mu, q in known.items() if q > target)
        found.append(optimize.brentq(lambda mu: sqrt_q(mu) - target, below, above, rtol=1e-5))
    return found


def resampler(rng):
    """A function that draws a bootstrap resample of an array: ``resample(values)`` as many
    values, with replacement; ``resample(values, n_simulated)`` the values a bootstrap of all
    ``n_simulated`` events would keep, where ``values`` are those of the events that passed a
    selection (the analysis space, a cut): their number varies binomially, so a template's
    efficiency carries its simulation statistics (a one-bin count included)."""

    def resample(values, n_simulated=None):
        values = np.asarray(values)
        kept = len(values)
        if n_simulated is not None and n_simulated > kept:
            kept = rng.binomial(n_simulated, kept / n_simulated)
        return values[rng.integers(0, len(values), kept)] if len(values) else values

    return resample


def bootstrap_significance(make_templates, rng, n_bootstrap=20):
    """Z and its uncertainty from bootstrap resamples of the simulated template events (half the
    16-84% range of the resampled Z): ``make_templates(resample)`` returns (signal, backgrounds)
    built from the events ``resample(array)`` picks (expected Z, Asimov), or (signal,
    backgrounds, observed counts); NaN where the fit of the templates themselves does not
    converge."""
    resample = resampler(rng)
    central = discovery_significance(*make_templates(lambda values, n_simulated=None: values))
    if np.isnan(central):
        return central, float("nan")
    spread = [discovery_significance(*make_templates(resample)) for _ in range(n_bootstrap)]
    if np.isnan(spread).any():
        log.warning("%d of %d bootstrap fits did not converge; left out of the significance's error",
                    int(np.isnan(spread).sum()), n_bootstrap)
    spread = [z for z in spread if not np.isnan(z)]
    low, high = np.percentile(spread, [16, 84]) if spread else (np.nan, np.nan)
    return central, float((high - low) / 2)


@dataclasses.dataclass
class GoodnessOfFit:
    """Saturated-model goodness of fit of the signal-plus-background fit: the deviance (twice the
    log-likelihood ratio of the best fit to the saturated model, constraint terms included), its
    degrees of freedom (bins less the signal strength) and the asymptotic p-value (chi-square);
    for Asimov data, the deviance is the non-centrality and ``median_p_value`` the median p-value
    of experiments like it."""

    deviance: float
    degrees_of_freedom: int
    p_value: float
    fitted_signal: float
    asimov: bool

    @property
    def median_p_value(self):
        if not self.asimov:
            return self.p_value
        median = stats.ncx2.median(self.degrees_of_freedom, max(self.deviance, 1e-12))
        return float(stats.chi2.sf(median, self.degrees_of_freedom))

    @property
    def z(self):
        """Z of the (median) p-value, one-sided."""
        return float(stats.norm.isf(min(max(self.median_p_value, 1e-300), 0.5)))


def goodness_of_fit(signal, backgrounds, observed, asimov=False):
    """How well the best signal-plus-background fit describes ``observed`` counts per bin (an
    excess the signal template cannot take leaves a large deviance even where the fit gives it
    signal events): :class:`GoodnessOfFit`. ``asimov``: the counts are expectations (the
    median experiment), not an observation."""
    import pyhf

    model = build_model(signal, backgrounds)
    data = data_set(model, signal, backgrounds, observed, mu=0.0)
    best = _fit(lambda: pyhf.infer.mle.fit(data, model), len(data))
    main = np.asarray(data[:model.config.nmaindata], float)
    expected = np.asarray(model.expected_actualdata(best), float)
    poisson = 2 * np.sum(expected - main + np.where(main > 0, main * np.log(np.maximum(main, 1e-300) / expected), 0.0))
    auxdata = np.asarray(model.config.auxdata, float)
    constraint = 2 * float(model.constraint_logpdf(auxdata, np.asarray(model.config.suggested_init()))
                           - model.constraint_logpdf(auxdata, np.asarray(best)))
    deviance = max(float(poisson + constraint), 0.0)
    dof = max(int(model.config.nmaindata) - 1, 1)
    fitted = float(best[model.config.poi_index] * signal.expected[used_bins(signal, backgrounds)].sum())
    return GoodnessOfFit(deviance, dof, float(stats.chi2.sf(deviance, dof)), fitted, asimov)
