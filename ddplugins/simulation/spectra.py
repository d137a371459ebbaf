"""Recoil energy spectra and expected event counts."""

import functools
import warnings

import numpy as np

# Expected events in XENON1T SR0 (34.2 live days, 1042 kg fiducial), Table I of arXiv:1911.09210.
TABLE_I_LIVE_DAYS = 34.2
TABLE_I_FIDUCIAL_KG = 1042.0
TABLE_I_EXPECTED = {"er": 61.88, "wimp": 35.03}
TABLE_I_WIMP = dict(mass_gev=500.0, cross_section_cm2=1e-45)


@functools.lru_cache(maxsize=16)
def wimp_spectrum_table(mass_gev, cross_section_cm2, interaction="SI", e_max_kev=100.0, n=400):
    """(energies [keV], differential rate [events / (t yr keV)]) from wimprates.

    The halo is passed explicitly (v0 = 220 km/s, v_esc = 544 km/s, rho = 0.3 GeV/cm^3):
    wimprates' own default changed to v0 = 238 km/s.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import numericalunits as nu
        import wimprates

    halo = wimprates.StandardHaloModel(
        v_0=220 * nu.km / nu.s,
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


def sample_wimp_energies(rng, n, mass_gev, cross_section_cm2, interaction="SI"):
    energies, rates = wimp_spectrum_table(float(mass_gev), float(cross_section_cm2), interaction)
    cdf = np.concatenate([[0], np.cumsum((rates[1:] + rates[:-1]) / 2 * np.diff(energies))])
    if cdf[-1] <= 0:
        raise ValueError(
            f"WIMP spectrum for {mass_gev} GeV, {interaction} is zero: nothing to simulate"
        )
    return np.interp(rng.random(n) * cdf[-1], cdf, energies)


def sample_er_energies(rng, n, e_max_kev):
    return rng.uniform(0, e_max_kev, n)


def expected_counts(live_days, wimp_mass_gev, wimp_cross_section_cm2, interaction="SI"):
    """Expected ER and WIMP counts for an exposure in live days of the 1042 kg fiducial volume
    of Table I (scale the days by mass / 1042 kg for another fiducial mass).

    The WIMP count is rescaled from Table I's 500 GeV, 1e-45 cm^2 point by the ratio of
    total rates (above 0.05 keV) given by wimprates for the requested mass and cross-section.
    """
    scale = live_days / TABLE_I_LIVE_DAYS
    reference = wimp_spectrum_table(TABLE_I_WIMP["mass_gev"], TABLE_I_WIMP["cross_section_cm2"])
    wanted = wimp_spectrum_table(float(wimp_mass_gev), float(wimp_cross_section_cm2), interaction)
    ratio = np.trapezoid(wanted[1], wanted[0]) / np.trapezoid(reference[1], reference[0])
    return {
        "er": TABLE_I_EXPECTED["er"] * scale,
        "wimp": TABLE_I_EXPECTED["wimp"] * scale * ratio,
    }
