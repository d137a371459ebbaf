"""The XENONnT light-WIMP limits again, from the collaboration's own statistical model in its own
framework: the release's alea model (``statistical_model_base.yaml``, blueice templates) fitted
with alea-inference, beside the project's pyhf reproduction (``light_wimp``).

The pyhf model approximates two things of the collaboration's (see ``light_wimp``): each yield
nuisance ``t_ly``, ``t_qy`` is interpolated on its own from its -1 and +1 templates, where blueice
interpolates between all 7 x 7 anchors of both together, and the ER rate's 100% constraint is
log-normal. alea uses the model exactly as published, so the two together say how much of a
difference from the published limits is the reproduction's and how much the statistics' (the
published limits used toys; both here are asymptotic).

alea-inference is an optional extra (``pip install 'ddcore[alea]'``, or ``make crosscheck-alea``,
which makes its own environment): it is never needed to run the project.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import tempfile
import warnings

import numpy as np

from ddcore.extras import import_extra
from ddplugins.search import light_wimp

log = logging.getLogger(__name__)

ALEA_EXTRA = "pip install 'ddcore[alea]'"
POI = "wimp_rate_multiplier"  # the model's signal strength: cross-section / 1e-45 cm^2
WIMP_TEMPLATE = "wimp_si/template_XENONnT_{sr}_wimp_si_{mass:g}_cevns_tly_{{t_ly:.1f}}_tqy_{{t_qy:.1f}}.h5"


def _alea():
    """alea's model class. alea 0.3.5 registers a morpher in blueice's ``MORPHERS`` table, which
    blueice 1.2.2 (the newest release on the package index) does not have yet; the table is
    made here with blueice's own morphers, which is all the light-WIMP model uses."""
    morphers = import_extra("blueice.pdf_morphers", "The alea cross-check", ALEA_EXTRA)
    if not hasattr(morphers, "MORPHERS"):
        morphers.MORPHERS = {name: getattr(morphers, name) for name in ("GridInterpolator", "RadialInterpolator")}
    models = import_extra("alea.models", "The alea cross-check", ALEA_EXTRA)
    return models.BlueiceExtendedModel


def model_config(folder, mass_gev, cache_dir) -> dict:
    """The release's alea model with its template folder and the WIMP templates of ``mass_gev``
    filled in (the release leaves both "TBD"); every file the model names is checked to exist.
    blueice caches each computed template as a pickle (in ./pdf_cache unless told) and reads such
    pickles back: here every source is computed afresh and nothing is saved, ``cache_dir`` (a
    temporary folder) only receives the folder blueice insists on making."""
    yaml = import_extra("yaml", "Reading the XENONnT light-WIMP model", light_wimp.PUBLISHED_EXTRA)
    folder = os.path.abspath(os.fspath(folder))
    with open(light_wimp._path(folder, "statistical_model_base.yaml")) as f:
        config = copy.deepcopy(yaml.safe_load(f))
    likelihood = config["likelihood_config"]
    likelihood["template_folder"] = folder
    anchors = config["parameter_definition"]["t_ly"]["blueice_anchors"]
    for term in likelihood["likelihood_terms"]:
        science_run = term["name"].lower()
        for source in term["sources"]:
            if source["name"] == "wimp":
                source["template_filename"] = WIMP_TEMPLATE.format(sr=science_run, mass=mass_gev)
            source.update(force_recalculation=True, never_save_to_cache=True, cache_dir=os.fspath(cache_dir))
            pattern = source["template_filename"]
            for t_ly in anchors:
                for t_qy in anchors:
                    light_wimp._path(folder, pattern.format(t_ly=float(t_ly), t_qy=float(t_qy)))
    return config


def real_data(folder, model) -> dict:
    """The release's events per likelihood term (SR0, SR1), the ancillary measurements at the
    nominal values stored with them, as alea's model takes its data."""
    import pandas as pd

    generated = model.generate_data()  # the data structure alea expects, filled below
    found = {}
    for term in model.likelihood_names[:-1]:
        table = pd.read_csv(light_wimp._path(folder, f"real_data_{term.lower()}.csv"))
        events = np.zeros(len(table), dtype=generated[term].dtype)
        for name in events.dtype.names:
            events[name] = table[name]
        found[term] = events
    nominal = pd.read_csv(light_wimp._path(folder, "real_data_nominal_parameters.csv"))
    ancillary = np.zeros(1, dtype=generated["ancillary"].dtype)
    for name in ancillary.dtype.names:
        if name not in nominal:
            raise light_wimp.ReleaseError(f"real_data_nominal_parameters.csv: no column {name!r}")
        ancillary[name] = nominal[name].iloc[0]
    found["ancillary"] = ancillary
    found["generate_values"] = generated["generate_values"]
    return found


@contextlib.contextmanager
def _quiet_root_logger():
    """alea announces every template file it loads on the root logger, at INFO."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


@dataclasses.dataclass
class AleaLimits:
    """Per mass the asymptotic 90% CL upper limit [cm^2] (two-sided profile likelihood, Wilks,
    not power-constrained) and the fitted signal strength from alea, beside the project's pyhf
    value and the published unconstrained limit."""

    masses_gev: np.ndarray
    alea: np.ndarray
    alea_fitted: np.ndarray
    pyhf: np.ndarray
    published: np.ndarray

    def rows(self) -> list[dict]:
        return [{"mass_gev": float(m), "alea_unconstrained_cm2": float(a), "alea_fitted_cm2": float(f),
                 "pyhf_unconstrained_cm2": float(p), "pyhf_over_alea": float(p / a),
                 "published_unconstrained_cm2": float(pub), "alea_over_published": float(a / pub)}
                for m, a, f, p, pub in zip(self.masses_gev, self.alea, self.alea_fitted, self.pyhf, self.published)]


def asymptotic_limits(release: light_wimp.Release, masses_gev=None,
                      pyhf_limits: light_wimp.LightWimpLimits | None = None) -> AleaLimits:
    """alea's asymptotic limits at ``masses_gev`` (default every mass of the release), the
    project's pyhf ones (``pyhf_limits``, else computed) and the published unconstrained ones."""
    model_class = _alea()
    masses = light_wimp._masses_of(release, masses_gev)
    pyhf_limits = pyhf_limits or light_wimp.asymptotic_limits(release, masses)
    limits, fitted = [], []
    for mass in masses:
        with warnings.catch_warnings(), _quiet_root_logger(), tempfile.TemporaryDirectory() as cache:
            config = model_config(release.folder, float(mass), cache)
            warnings.simplefilter("ignore")
            model = model_class(config["parameter_definition"], config["likelihood_config"])
            model.data = real_data(release.folder, model)
            best, _ = model.fit()
            _, upper = model.confidence_interval(POI, confidence_interval_kind="central",
                                                 confidence_level=light_wimp.CONFIDENCE_LEVEL)
        limits.append(upper)
        fitted.append(best[POI])
        log.info("%g GeV: alea's limit %.3g x 1e-45 cm2 (fitted %.3g)", mass, upper, best[POI])
    pyhf = np.array([pyhf_limits.unconstrained[list(pyhf_limits.masses_gev).index(m)] for m in masses])
    published = np.array([release.published["unconstrained"][release.published["mass_gev"] == m][0] for m in masses])
    scale = light_wimp.REFERENCE_CROSS_SECTION_CM2
    return AleaLimits(masses, np.array(limits) * scale, np.array(fitted) * scale, pyhf, published)
