"""Toy Monte Carlo of the binned likelihoods: do the p-values, intervals and significances of
``statistics`` mean what they say?

Toys are drawn from the pyhf model itself (``model.make_pdf(pars).sample``): Poisson counts in
every bin and, for every nuisance parameter, its auxiliary measurement, so a toy fluctuates the
rate constraints and the template statistics as a repeated experiment would. Each toy is fitted
with the same model and test statistics as the data (pyhf's ``q0`` and ``qmu_tilde``, two fits
each), and read with the asymptotic distributions pyhf's ``AsymptoticCalculator`` uses; the
Asimov data set for ``qmu_tilde``'s distribution is the background-only expectation at the
nominal nuisance parameters, computed once per model (pyhf profiles it on every data set, which
triples the fits per toy).

What a study reports (``ToyStudy``):

- background-only toys: their discovery p-values against the distribution the asymptotic
  formulae promise: uniform below 0.5 (a Kolmogorov-Smirnov test) and 0.5, where the fitted
  signal sits at its bound of zero, for half the toys (a binomial test);
- toys with the signal at strength ``mu_true``: the median toy significance beside the Asimov
  one, and the coverage of the 90% CL upper limits: the share of toys whose limit lies above
  ``mu_true`` (the test at ``mu_true`` does not reject it), for the profile-likelihood (CLs+b)
  limit read with the asymptotic formulae, which should cover 90% where they hold, the CLs limit
  the statistics module quotes, which over-covers by construction where the signal is small, and
  the profile-likelihood limit of a Neyman construction: its critical value of ``qmu_tilde`` at
  ``mu_true`` is the 90% quantile of a second, independent set of toys (the nuisance parameters at
  their nominal values), which covers by construction where the statistic's distribution does not
  depend on the true nuisance parameters;
- whether it does not: the same coverages for signal toys whose true background rates lie one
  standard deviation above, and below, their nominal values (every ``rate_*`` nuisance at +-1;
  the auxiliary measurements drawn around the shifted truth), read with the nominal critical value.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
from scipy import stats

from ddplugins.search import statistics

log = logging.getLogger(__name__)

COVERAGE_GOAL = 0.9
# the true background rates of the coverage checks off the nominal model [standard deviations]
RATE_SHIFTS = (1.0, -1.0)
# q0 below this is a fitted signal at its bound of zero the minimiser could not resolve further
# (Z < 0.01): counted as zero, the p-value 0.5 the asymptotic distribution puts there
Q0_RESOLUTION = 1e-4


@dataclasses.dataclass
class ToyStudy:
    """Toy Monte Carlo of one test: see the module docstring."""

    name: str
    n_toys: int
    mu_true: float
    confidence_level: float
    expected_signal: float
    expected_background: float
    background_p_values: np.ndarray
    ks_p_value: float  # p-values below 0.5 against a uniform distribution
    zero_signal_share_p_value: float  # the share at 0.5 against one half (binomial)
    signal_z: np.ndarray
    asimov_z: float
    coverage_profile: float
    coverage_cls: float
    coverage_neyman: float = np.nan
    # {rate shift [standard deviations]: {"profile"|"cls"|"neyman": coverage}} of toys whose true
    # background rates are off the nominal ones
    coverage_shifted: dict = dataclasses.field(default_factory=dict)
    failed_fits: int = 0

    @property
    def median_z(self) -> float:
        return float(np.median(self.signal_z))

    @property
    def median_z_error(self) -> float:
        """Standard error of the median toy Z (from the order statistics' 68% interval)."""
        n = len(self.signal_z)
        low, high = stats.binom.interval(0.68, n, 0.5)
        ordered = np.sort(self.signal_z)
        return float((ordered[min(int(high), n - 1)] - ordered[max(int(low) - 1, 0)]) / 2)

    def coverage_error(self, coverage: float) -> float:
        return float(np.sqrt(coverage * (1 - coverage) / max(len(self.signal_z), 1)))

    def summary(self) -> dict:
        return {
            "test": self.name, "n_toys": self.n_toys, "mu_true": self.mu_true,
            "expected_signal": self.expected_signal, "expected_background": self.expected_background,
            "ks_p_value": self.ks_p_value, "zero_signal_share": float(np.mean(self.background_p_values >= 0.5)),
            "zero_signal_share_p_value": self.zero_signal_share_p_value,
            "background_fraction_p_below_0.05": float(np.mean(self.background_p_values < 0.05)),
            "asimov_z": self.asimov_z, "median_toy_z": self.median_z, "median_toy_z_error": self.median_z_error,
            "coverage_profile": self.coverage_profile,
            "coverage_profile_error": self.coverage_error(self.coverage_profile),
            "coverage_cls": self.coverage_cls, "coverage_cls_error": self.coverage_error(self.coverage_cls),
            "coverage_neyman": self.coverage_neyman,
            # the critical value's own toy statistics double the variance
            "coverage_neyman_error": float(np.sqrt(2) * self.coverage_error(self.coverage_neyman)),
            "coverage_shifted": {f"{shift:+g}": dict(found) for shift, found in self.coverage_shifted.items()},
            "failed_fits": self.failed_fits,
        }


def p_value_tests(p_values):
    """How well background-only discovery p-values follow their asymptotic distribution: uniform
    below 0.5, and 0.5 (the fitted signal at its bound of zero) for half the toys. Returns the
    Kolmogorov-Smirnov p-value of the p-values below 0.5 against a uniform distribution there,
    and the binomial p-value of the share at 0.5 (a KS test alone mishandles the point mass)."""
    p_values = np.asarray(p_values, float)
    below = p_values[p_values < 0.5]
    ks = stats.kstest(2 * below, "uniform").pvalue if len(below) else np.nan
    share = stats.binomtest(int(np.sum(p_values >= 0.5)), len(p_values), 0.5).pvalue if len(p_values) else np.nan
    return float(ks), float(share)


def _sample(model, mu, n_toys, seed, rate_shift=0.0):
    """``n_toys`` toys (main and auxiliary data) at signal strength ``mu``, every background-rate
    nuisance parameter ``rate_shift`` standard deviations from its nominal value."""
    import pyhf

    pars = np.asarray(model.config.suggested_init(), float)
    pars[model.config.poi_index] = mu
    for name in model.config.par_order:
        if name.startswith("rate_"):
            pars[model.config.par_slice(name)] = rate_shift
    state = np.random.get_state()  # pyhf's numpy backend draws from numpy's global generator
    np.random.seed(seed)
    try:
        return np.asarray(model.make_pdf(pyhf.tensorlib.astensor(pars)).sample((n_toys,)), float)
    finally:
        np.random.set_state(state)


def _asimov(model, mu):
    pars = np.asarray(model.config.suggested_init(), float)
    pars[model.config.poi_index] = mu
    return np.concatenate([model.expected_actualdata(pars), model.config.auxdata])


class _Fitter:
    """The test statistics of one model, with MINUIT and scipy as a fallback."""

    def __init__(self, model):
        import pyhf

        self.model, self.pyhf = model, pyhf
        self.init = model.config.suggested_init()
        self.bounds = model.config.suggested_bounds()
        self.fixed = model.config.suggested_fixed()
        # toys of a model with few events and no auxiliary measurement repeat one another
        self.known = {}

    def __call__(self, name, mu, data):
        key = (name, float(mu), np.asarray(data, float).tobytes())
        if key not in self.known:
            self.known[key] = self._statistic(name, mu, data)
        return self.known[key]

    def _statistic(self, name, mu, data):
        if self.model.config.npars > 1:
            return self._fitted(name, mu, data)
        # MINUIT's fit of a model whose every parameter is fixed fails: scipy's, then MINUIT again
        backend, optimizer = self.pyhf.get_backend()
        self.pyhf.set_backend(backend, self.pyhf.optimize.scipy_optimizer())
        try:
            return self._fitted(name, mu, data)
        finally:
            self.pyhf.set_backend(backend, optimizer)

    def _fitted(self, name, mu, data):
        function = getattr(self.pyhf.infer.test_statistics, name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return max(float(function(mu, data, self.model, self.init, self.bounds, self.fixed)), 0.0)
        except self.pyhf.exceptions.FailedMinimization:
            return np.nan


def _fit_toys(signal, backgrounds, tasks):
    """Per task (test statistic, strength, toys) the statistic of every toy (NaN where a fit
    failed)."""
    import pyhf

    model = statistics.build_model(signal, backgrounds)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0))
    fit = _Fitter(model)
    return [np.array([fit(name, mu, toy) for toy in toys]) for name, mu, toys in tasks]


def _fit_toys_in_parallel(signal, backgrounds, tasks, workers):
    if workers <= 1:
        return _fit_toys(signal, backgrounds, tasks)
    import concurrent.futures
    import multiprocessing

    # every worker a share of every task's toys
    shares = [[(name, mu, np.array_split(toys, workers)[w]) for name, mu, toys in tasks] for w in range(workers)]
    # spawned, not forked: the parent may hold TensorFlow's threads
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_fit_toys, [signal] * workers, [backgrounds] * workers, shares))
    return [np.concatenate([d[k] for d in done]) for k in range(len(tasks))]


def toy_study(name, signal, backgrounds, n_toys=1000, mu_true=1.0, confidence_level=0.9, seed=0,
              workers=1) -> ToyStudy:
    """Background-only and signal (strength ``mu_true``) toys of the model of ``signal`` over
    ``backgrounds`` (``statistics.Template``s), fitted on ``workers`` processes; the toys are
    drawn from ``seed`` alone, whatever the number of workers."""
    import pyhf

    model = statistics.build_model(signal, backgrounds)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0))
    background_toys, signal_toys = _sample(model, 0.0, n_toys, seed), _sample(model, mu_true, n_toys, seed + 1)
    # the Neyman construction's toys, and the signal toys of true rates off the nominal ones, from
    # seeds of their own
    extra = np.random.SeedSequence([seed, 1]).generate_state(1 + len(RATE_SHIFTS))
    belt_toys = _sample(model, mu_true, n_toys, int(extra[0]))
    shifted_toys = [_sample(model, mu_true, n_toys, int(s), rate_shift=shift)
                    for s, shift in zip(extra[1:], RATE_SHIFTS)]
    tasks = [("q0", 0.0, background_toys), ("q0", 0.0, signal_toys),
             *[("qmu_tilde", mu_true, toys) for toys in (signal_toys, belt_toys, *shifted_toys)]]
    q0, signal_q0, q_mu, belt_q_mu, *shifted_q_mu = _fit_toys_in_parallel(signal, backgrounds, tasks, workers)
    q0 = np.where(q0 < Q0_RESOLUTION, 0.0, q0)
    background_p = stats.norm.sf(np.sqrt(q0[np.isfinite(q0)]))
    ks, zero_share = p_value_tests(background_p)

    alpha = 1.0 - confidence_level
    sqrt_q_asimov = np.sqrt(_Fitter(model)("qmu_tilde", mu_true, _asimov(model, 0.0)))
    critical = float(np.quantile(belt_q_mu[np.isfinite(belt_q_mu)], confidence_level))

    def coverages(q):
        q = q[np.isfinite(q)]
        p_values = [_qmu_tilde_p_values(value, sqrt_q_asimov) for value in q]
        return {"profile": float(np.mean([p_sb > alpha for p_sb, _ in p_values])) if len(q) else np.nan,
                "cls": float(np.mean([p_b <= 0 or p_sb / p_b > alpha for p_sb, p_b in p_values])) if len(q) else np.nan,
                "neyman": float(np.mean(q <= critical)) if len(q) else np.nan}

    nominal = coverages(q_mu)
    every = [q0, signal_q0, q_mu, belt_q_mu, *shifted_q_mu]
    failed = int(sum(np.sum(~np.isfinite(q)) for q in every))
    if failed:
        log.warning("%s: %d of %d toy fits did not converge; left out", name, failed, len(every) * n_toys)
    return ToyStudy(
        name=name, n_toys=n_toys, mu_true=mu_true, confidence_level=confidence_level,
        expected_signal=float(mu_true * signal.expected.sum()),
        expected_background=float(sum(b.expected.sum() for b in backgrounds)),
        background_p_values=background_p, ks_p_value=ks, zero_signal_share_p_value=zero_share,
        signal_z=np.sqrt(signal_q0[np.isfinite(signal_q0)]),
        asimov_z=statistics.discovery_significance(signal.scaled(mu_true), backgrounds),
        coverage_profile=nominal["profile"], coverage_cls=nominal["cls"], coverage_neyman=nominal["neyman"],
        coverage_shifted={shift: coverages(q) for shift, q in zip(RATE_SHIFTS, shifted_q_mu)},
        failed_fits=failed)


def neyman_upper_limit(signal, backgrounds, observed, strengths, n_toys=1000, confidence_level=0.9, seed=0,
                       workers=1):
    """Upper limit on the signal strength from a Neyman construction with toys, the construction
    whose coverage ``toy_study`` measures: at each of ``strengths`` the p-value of the observed
    ``qmu_tilde`` is the share of ``n_toys`` toys with that signal (nuisance parameters nominal,
    auxiliary measurements drawn around them) whose statistic is at least as large (ties
    included: the classical convention for counts, which never under-covers); the limit is the
    smallest strength where it falls below ``1 - confidence_level``, interpolated in log strength
    (the grid's ends where it does not cross inside). Returns (limit, p-value per strength)."""
    import pyhf

    strengths = np.asarray(strengths, float)
    model = statistics.build_model(signal, backgrounds)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0))
    seeds = np.random.SeedSequence([seed, 2]).generate_state(len(strengths))
    tasks = [("qmu_tilde", mu, _sample(model, mu, n_toys, int(s))) for mu, s in zip(strengths, seeds)]
    toy_q = _fit_toys_in_parallel(signal, backgrounds, tasks, workers)
    fit = _Fitter(model)
    data = statistics.data_set(model, signal, backgrounds, observed, mu=0.0)
    observed_q = np.array([fit("qmu_tilde", mu, data) for mu in strengths])
    p_values = np.array([np.mean(q[np.isfinite(q)] >= o * (1 - 1e-9) - 1e-12) for q, o in zip(toy_q, observed_q)])
    alpha = 1.0 - confidence_level
    if p_values[-1] > alpha:
        log.warning("Neyman limit: the p-value at the largest strength (%g) is still %.3f", strengths[-1], p_values[-1])
    return crossing(-p_values, np.full(len(strengths), -alpha), strengths, 0.0), p_values


def crossing(statistic, critical, strengths, fitted):
    """The upper end of a confidence interval: the smallest strength above the ``fitted`` one
    where ``statistic`` passes the critical value, interpolated in log(strength); the grid's ends
    where it does not cross inside."""
    difference = np.where(strengths > fitted, statistic - critical, -critical)
    above = np.nan_to_num(difference, nan=-np.inf) > 0
    if not above.any():
        return float(strengths[-1])
    k = int(np.argmax(above))
    if k == 0:
        return float(strengths[0])
    d0, d1 = difference[k - 1], difference[k]
    if not np.isfinite(d0):
        return float(strengths[k])
    t = d0 / (d0 - d1)
    return float(np.exp(np.log(strengths[k - 1]) + t * (np.log(strengths[k]) - np.log(strengths[k - 1]))))


def _qmu_tilde_p_values(q, sqrt_q_asimov):
    """p-values of the signal + background and the background-only hypotheses for an observed
    ``qmu_tilde`` (Cowan et al., arXiv:1007.1727, as pyhf's AsymptoticCalculator computes them)."""
    from pyhf.infer.calculators import AsymptoticTestStatDistribution

    sqrt_q = np.sqrt(q)
    if sqrt_q <= sqrt_q_asimov:
        value = sqrt_q - sqrt_q_asimov
    else:
        value = (q - sqrt_q_asimov ** 2) / (2 * sqrt_q_asimov)
    signal_plus_background = AsymptoticTestStatDistribution(-sqrt_q_asimov, -sqrt_q_asimov)
    background = AsymptoticTestStatDistribution(0.0, -sqrt_q_asimov)
    return float(signal_plus_background.pvalue(value)), float(background.pvalue(value))


def toys_figure(studies):
    """Three panels per study: background-only p-values against their asymptotic distribution,
    the toy significance with the signal against the Asimov one, and the coverage of the limits."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.4 * len(studies)), layout="constrained")
    axes = fig.subplots(len(studies), 3, squeeze=False)
    for row, study in zip(axes, studies):
        ax = row[0]
        ax.hist(study.background_p_values, bins=np.linspace(0, 1, 21), color="#4c72b0", alpha=0.8)
        expected = len(study.background_p_values) / 20  # uniform below 0.5: 5% of the toys per bin
        ax.hlines(expected, 0, 0.5, colors="k", linestyles="--", label="asymptotic expectation")
        ax.set_xlabel("discovery p-value (background-only toys)")
        ax.set_ylabel("toys per 0.05")
        ax.set_title(f"{study.name}: KS p = {study.ks_p_value:.2f} (p < 0.5), "
                     f"{np.mean(study.background_p_values >= 0.5):.0%} at 0.5", fontsize=9)
        ax.legend(fontsize=7)
        ax = row[1]
        ax.hist(study.signal_z, bins=30, color="#55a868", alpha=0.8)
        ax.axvline(study.asimov_z, color="k", ls="--", label=f"Asimov Z = {study.asimov_z:.2f}")
        ax.axvline(study.median_z, color="r", label=f"toy median {study.median_z:.2f} +- {study.median_z_error:.2f}")
        ax.set_xlabel(f"discovery Z (toys with {study.expected_signal:.1f} signal events)")
        ax.set_ylabel("toys")
        ax.legend(fontsize=7)
        ax = row[2]
        methods = (("profile", "profile likelihood\n(asymptotic)"), ("cls", "CLs"),
                   ("neyman", "profile likelihood\n(Neyman, toys)"))
        nominal = {"profile": study.coverage_profile, "cls": study.coverage_cls, "neyman": study.coverage_neyman}
        lowest = 1.0
        for offset, (label, found, colour) in enumerate(
                [("true rates nominal", nominal, "k"),
                 *[(f"true rates {shift:+g} sigma", study.coverage_shifted[shift], c)
                   for shift, c in zip(study.coverage_shifted, ("#dd8452", "#4c72b0"))]]):
            values = [found[key] for key, _ in methods]
            errors = [study.coverage_error(v) * (np.sqrt(2) if key == "neyman" else 1)
                      for v, (key, _) in zip(values, methods)]
            ax.errorbar(np.arange(len(methods)) + 0.12 * (offset - 1), values, yerr=errors, fmt="o", color=colour,
                        label=label, ms=4)
            lowest = min(lowest, np.nanmin(values))
        ax.axhspan(COVERAGE_GOAL - 0.02, COVERAGE_GOAL + 0.02, color="#c44e52", alpha=0.2, label="goal 90 +- 2%")
        ax.set_xticks(range(len(methods)), [text for _, text in methods], fontsize=8)
        ax.set_xlim(-0.5, len(methods) - 0.5)
        ax.set_ylim(min(0.8, lowest - 0.03), 1.01)
        ax.set_ylabel(f"coverage of the {study.confidence_level:.0%} CL upper limit")
        ax.legend(fontsize=6)
    return fig
