"""Recoil energy spectra of the simulated populations.

Rates are per kg (or tonne), live day (or year) and keV as the detector configuration gives them;
``ddplugins.simulation.populations`` turns them into expected counts for an exposure.
"""

import functools
import warnings

import numpy as np

# XENON1T SR0 exposure of Table I of arXiv:1911.09210 (seed 004)
TABLE_I_LIVE_DAYS = 34.2
TABLE_I_FIDUCIAL_KG = 1042.0
# Table I's expected events in the SR0 analysis space (cS1 3-70 PE, cS2_b >= 50 PE, fiducial
# volume, single scatters) for 34.2 live days x 1042 kg: what validate-sim compares against.
TABLE_I_ANALYSIS_SPACE = {
    "er": 61.88, "cevns": 0.0009, "neutron": 0.0586, "accidental": 0.22, "wall": 0.52,
    "anomalous": 0.09, "wimp": 35.03,
}
# The benchmark WIMP of that table: labelled 500 GeV, 1e-45 cm^2, but ~6x what wimprates gives
# for that model (spin-independent); kept only as the named benchmark "table_i".
TABLE_I_WIMP = dict(mass_gev=500.0, cross_section_cm2=1e-45, interaction="SI")
WIMP_SEARCH_REGION_KEV = (4.9, 40.9)  # XENON1T's nuclear-recoil energy region of interest

DAYS_PER_YEAR = 365.25
XENON_MASS_NUMBER = 131
XENON_PROTONS, XENON_NEUTRONS = 54, 77
NUCLEAR_RECOIL_ENERGY_MIN_KEV = 0.1  # below this NEST yields no quanta


# The standard halo of XENON1T's results (arXiv:1805.12562): v0 = 220 km/s, v_esc = 544 km/s,
# rho = 0.3 GeV/cm^3 (wimprates' own default v0 is now 238 km/s)
HALO_V0_KM_S = 220.0


@functools.lru_cache(maxsize=64)
def wimp_spectrum_table(mass_gev, cross_section_cm2, interaction="SI", e_max_kev=100.0, n=400,
                        v0_km_s=HALO_V0_KM_S):
    """(energies [keV], differential rate [events / (t yr keV)]) from wimprates, for a standard
    halo of circular velocity ``v0_km_s`` (v_esc = 544 km/s, rho = 0.3 GeV/cm^3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import numericalunits as nu
        import wimprates

    halo = wimprates.StandardHaloModel(
        v_0=v0_km_s * nu.km / nu.s,
        v_esc=544 * nu.km / nu.s,
        rho_dm=0.3 * nu.GeV / nu.c0**2 / nu.cm**3,
    )
    energies = np.linspace(0.05, e_max_kev, n)
    rates = wimprates.rate_wimp_std(
        energies,
        mw=mass_gev,
        sigma_nucleon=cross_section_cm2,
        interaction=interaction,
        halo_model=halo,
    )
    return energies, np.clip(np.nan_to_num(rates), 0, None)


def _cumulative(energies, rates):
    return np.concatenate([[0], np.cumsum((rates[1:] + rates[:-1]) / 2 * np.diff(energies))])


def integral(energies, rates, low=-np.inf, high=np.inf):
    """Integral of a tabulated spectrum between two energies [keV] (trapezoids, interpolated)."""
    cdf = _cumulative(energies, rates)
    return float(np.interp(min(high, energies[-1]), energies, cdf) - np.interp(max(low, energies[0]), energies, cdf))


def sample_table(rng, n, energies, rates, what):
    cdf = _cumulative(energies, rates)
    if cdf[-1] <= 0:
        raise ValueError(f"The {what} spectrum is zero: nothing to simulate")
    return np.interp(rng.random(n) * cdf[-1], cdf, energies)


def wimp_rate_per_t_yr(mass_gev, cross_section_cm2, interaction="SI"):
    """wimprates' total WIMP rate above 0.05 keV_nr [events / (t yr)]."""
    energies, rates = wimp_spectrum_table(float(mass_gev), float(cross_section_cm2), interaction)
    return integral(energies, rates)


def sample_wimp_energies(rng, n, mass_gev, cross_section_cm2, interaction="SI"):
    energies, rates = wimp_spectrum_table(float(mass_gev), float(cross_section_cm2), interaction)
    return sample_table(rng, n, energies, rates, f"WIMP ({mass_gev} GeV, {interaction})")


def sample_er_energies(rng, n, low_kev, high_kev):
    """Energies of a flat spectrum on [low_kev, high_kev]."""
    return rng.uniform(low_kev, high_kev, n)


def exponential_fraction(scale_kev, low, high, e_min, e_max):
    """Share of an exponential spectrum exp(-E / scale) on [e_min, e_max] inside [low, high]."""
    def cdf(e):
        return -np.expm1(-(np.clip(e, e_min, e_max) - e_min) / scale_kev)

    return float((cdf(high) - cdf(low)) / cdf(e_max))


def sample_exponential_energies(rng, n, scale_kev, e_min, e_max):
    """Energies from exp(-E / scale) truncated to [e_min, e_max] [keV]."""
    span = -np.expm1(-(e_max - e_min) / scale_kev)
    return e_min - scale_kev * np.log1p(-rng.random(n) * span)


# Solar 8B neutrinos: flux from the B16-GS98 standard solar model (Vinyoles et al. 2017,
# arXiv:1611.09867). The spectrum approximates the measured one (Winter et al. 2006): 8B decays to
# the broad 2+ state of 8Be at 3.03 MeV (width 1.5 MeV), so it is an allowed beta shape
# E^2 (Q - E)^2 with Q = 16.96 MeV - E_x averaged over a Breit-Wigner in the excitation E_x
# (mean neutrino energy 6.85 MeV against the measured 6.74 MeV).
B8_FLUX_PER_CM2_S = 5.46e6
B8_GROUND_STATE_Q_MEV = 16.96
B8BE_STATE_MEV, B8BE_WIDTH_MEV = 3.03, 1.5
SIN2_THETA_W = 0.2386  # weak mixing angle at low momentum transfer
FERMI_CONSTANT_PER_GEV2 = 1.1664e-5
HBARC_SQUARED_GEV2_CM2 = 0.3894e-27
AVOGADRO = 6.02214e23
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86400


def b8_spectrum_shape(neutrino_mev):
    """The 8B neutrino spectrum [1 / MeV], normalised to 1 (see the constants above)."""
    excitation = np.linspace(1.0, 8.0, 300)
    weight = 1 / ((excitation - B8BE_STATE_MEV) ** 2 + B8BE_WIDTH_MEV**2 / 4)
    endpoint = B8_GROUND_STATE_Q_MEV - excitation
    shapes = neutrino_mev[None, :] ** 2 * np.clip(endpoint[:, None] - neutrino_mev[None, :], 0, None) ** 2
    shapes /= endpoint[:, None] ** 5 / 30  # each allowed shape normalised to 1
    shape = np.sum(weight[:, None] * shapes, axis=0) / np.sum(weight)
    return shape / np.trapezoid(shape, neutrino_mev)


@functools.lru_cache(maxsize=4)
def cevns_spectrum_table(e_max_kev=10.0, n=400):
    """(energies [keV_nr], rate [events / (t yr keV)]) of coherent elastic scattering of solar
    8B neutrinos on xenon: the Standard-Model cross-section with the Helm form factor,
    dsigma/dT = G_F^2 M Q_W^2 / (4 pi) (1 - M T / (2 E^2)) F^2(T), folded with the 8B flux."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import numericalunits as nu
        import wimprates

    nucleus_gev = XENON_MASS_NUMBER * 0.931494
    weak_charge = XENON_NEUTRONS - (1 - 4 * SIN2_THETA_W) * XENON_PROTONS
    neutrino_mev = np.linspace(0.01, B8_GROUND_STATE_Q_MEV, 2000)
    flux = B8_FLUX_PER_CM2_S * b8_spectrum_shape(neutrino_mev)  # per MeV
    energies = np.linspace(0.01, e_max_kev, n)
    recoil_gev = energies * 1e-6
    e_gev = neutrino_mev[None, :] * 1e-3
    kinematic = np.clip(1 - nucleus_gev * recoil_gev[:, None] / (2 * e_gev**2), 0, None)
    # [cm^2 / GeV]: natural units GeV^-3 times (hbar c)^2
    dsigma = (FERMI_CONSTANT_PER_GEV2**2 * nucleus_gev * weak_charge**2 / (4 * np.pi)
              * kinematic * HBARC_SQUARED_GEV2_CM2)
    form = np.asarray(wimprates.helm_form_factor_squared(energies * nu.keV, anucl=XENON_MASS_NUMBER))
    per_nucleus = np.trapezoid(dsigma * flux[None, :], neutrino_mev, axis=1) * form * 1e-6  # per keV per s
    nuclei_per_tonne = 1e6 / XENON_MASS_NUMBER * AVOGADRO
    return energies, per_nucleus * nuclei_per_tonne * SECONDS_PER_YEAR
