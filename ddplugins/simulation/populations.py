"""The event populations a search meets: their names, expected counts and interactions.

Every population is a run source of its own (``<population>_<preset>_<number>``, see
``run_spec``) and a component of ``pseudo`` runs. Rates are options of ``instructions`` whose
values, with their sources, are in the detector configuration (``xenon1t.toml``).

Expected counts are those *produced* in the simulated volume for an exposure; what lands in an
analysis space follows from simulating them (``ddcore validate-sim``), never from a table.
"""

import enum

import numpy as np
from scipy import special

from ddplugins.simulation import spectra
from ddplugins.simulation.quanta import ER, NR
from ddplugins.tpc._options import drift_time_ns

SECONDS_PER_DAY = 86400.0
MAX_INTERACTIONS = 8


class Population(enum.IntEnum):
    """Truth class of a simulated event (``event_truth.population``)."""

    ER = 0           # flat electronic recoils (beta decays of 85Kr, 214Pb), single site
    WIMP = 1         # WIMP nuclear recoils (wimprates)
    NEUTRON = 2      # radiogenic neutrons: nuclear recoils, mostly multiple scatters
    CEVNS = 3        # coherent elastic scattering of solar 8B neutrinos: low-energy NR
    ACCIDENTAL = 4   # a lone S1 paired with an unrelated lone S2
    WALL = 5         # decays on the PTFE wall: charge loss, position reconstructed inward
    S2ONLY = 6       # a lone S2: no S1 (gas, near the gate, below threshold)
    MULTISITE = 7    # ER gamma scatters with two or more vertices


NAMES = tuple(p.name.lower() for p in Population)
POPULATION_TITLE = "Population: " + ", ".join(f"{p.value} {p.name.lower()}" for p in Population)
# populations drawn inside the fiducial volume (counts scale with its mass); the others come
# from the whole TPC (counts scale with live time only)
FIDUCIAL = ("er", "wimp", "neutron", "cevns", "multisite")
WIMP_NORMALISATIONS = ("wimprates", "table_i")


def population_code(name):
    try:
        return Population[name.upper()].value
    except KeyError:
        raise ValueError(f"Unknown population {name!r}; choose from {', '.join(NAMES)}") from None


# the wall's tail (run source ``walltail``) starts this far outside the fiducial radius: more than
# the largest inward error of the reconstructed position of a wall event seen (4.6 cm of 14,316 in
# a XENON1T walltail run with a 4 cm margin, 99% within 1.5 cm), so no event drawn closer to the
# wall reaches the fiducial volume (with those errors a 4 cm margin missed 2% of them). It defines
# what a walltail run holds: a change needs a new version of the instructions plugin.
WALL_TAIL_MARGIN_CM = 5.0


def wall_tail_min_shift_cm(opts):
    """Smallest inward shift [cm] of the electrons of a ``walltail`` run's wall events: the
    fiducial radius's distance from the wall less ``WALL_TAIL_MARGIN_CM`` (0: the whole population)."""
    return max(0.0, opts.tpc_radius_cm - opts.fiducial_radius_cm - WALL_TAIL_MARGIN_CM)


def _shift_tail(opts, shift_cm):
    """Share of wall events whose electrons come out at least ``shift_cm`` inward (half-normal)."""
    return special.erfc(shift_cm / (opts.wall_inward_shift_cm * np.sqrt(2)))


def wall_tail_share(opts):
    """Share of all wall events whose inward shift reaches ``wall_tail_min_shift_cm`` (the
    half-normal's tail): what one ``walltail`` event stands for is 1 / this many wall events."""
    return float(_shift_tail(opts, wall_tail_min_shift_cm(opts)))


def _inward_shifts(opts, rng, n, min_shift_cm=0.0):
    """Half-normal inward shifts [cm] of wall events' electrons, only those of at least
    ``min_shift_cm`` when it is above 0 (inverse of the tail's distribution)."""
    if min_shift_cm <= 0:
        shift = np.abs(rng.normal(0, opts.wall_inward_shift_cm, n))
    else:
        shift = opts.wall_inward_shift_cm * np.sqrt(2) * special.erfcinv(
            _shift_tail(opts, min_shift_cm) * (1 - rng.uniform(0, 1, n)))
    return np.minimum(shift, opts.tpc_radius_cm)


def max_drift_ns(opts):
    return float(drift_time_ns(opts.tpc_length_cm, opts))


def expected_counts(opts, live_days=None):
    """Expected events of every population produced in the simulated volume for ``live_days``
    (default: ``sim_exposure_live_days``) and the fiducial mass ``sim_fiducial_mass_kg``."""
    days = opts.sim_exposure_live_days if live_days is None else live_days
    kg_days = days * opts.sim_fiducial_mass_kg
    tonne_years = kg_days / 1e3 / spectra.DAYS_PER_YEAR
    seconds = days * SECONDS_PER_DAY
    neutron_window = opts.neutron_single_scatter_fraction * spectra.exponential_fraction(
        opts.neutron_energy_scale_kev, *opts.neutron_rate_window_kev,
        spectra.NUCLEAR_RECOIL_ENERGY_MIN_KEV, opts.neutron_energy_max_kev)
    cevns = spectra.cevns_spectrum_table()
    return {
        "er": opts.er_rate_per_kg_day_kev * kg_days * opts.er_energy_max_kev,
        "wimp": wimp_count(opts, tonne_years),
        "neutron": opts.neutron_rate_per_t_yr * tonne_years / neutron_window,
        "cevns": spectra.integral(*cevns, low=opts.cevns_energy_min_kev) * tonne_years,
        "accidental": opts.lone_s1_rate_hz * opts.lone_s2_rate_hz * max_drift_ns(opts) * 1e-9 * seconds,
        "wall": opts.wall_rate_per_day * days,
        "s2only": opts.lone_s2_rate_hz * seconds,
        "multisite": opts.multisite_rate_per_kg_day_kev * kg_days * opts.er_energy_max_kev,
    }


STRATIFIED = ("er", "wall")  # populations whose runs may draw a window of their (flat) spectrum


def energy_window(opts):
    """[low, high] keV of the flat spectrum an 'er' or 'wall' run draws (``sim_energy_window_kev``)."""
    return tuple(opts.sim_energy_window_kev or (0.0, opts.er_energy_max_kev))


def check_energy_window(opts, source, run_id="this run"):
    """A ValueError naming the run and the option where ``sim_energy_window_kev`` is set for a
    source without a flat spectrum or lies outside that spectrum."""
    window = opts.sim_energy_window_kev
    if window is None:
        return
    if source not in STRATIFIED:
        raise ValueError(f"Run {run_id!r}: sim_energy_window_kev={window!r} applies only to runs of "
                         f"{' or '.join(STRATIFIED)} (flat spectra); unset it for {source!r} runs")
    if (len(window) != 2 or not all(isinstance(v, (int, float)) for v in window)
            or not 0 <= window[0] < window[1] <= opts.er_energy_max_kev):
        raise ValueError(f"Run {run_id!r}: sim_energy_window_kev={window!r} must be [low, high] keV "
                         f"with 0 <= low < high <= er_energy_max_kev ({opts.er_energy_max_kev})")


def wimp_count(opts, tonne_years, normalisation=None):
    """WIMPs produced in an exposure: wimprates' rate at the configured model, or under the named
    benchmark "table_i" that rate scaled so the reference WIMP (500 GeV, 1e-45 cm^2 SI) gives
    Table I's 35.03 events in the WIMP search region (4.9-40.9 keV_nr) of 34.2 d x 1042 kg
    (``effective_wimp_cross_section`` reports the cross-section this amounts to)."""
    rate = spectra.wimp_rate_per_t_yr(opts.wimp_mass_gev, opts.wimp_cross_section_cm2, opts.wimp_interaction)
    if (normalisation or opts.wimp_normalisation) == "wimprates":
        return rate * tonne_years
    return rate * tonne_years * table_i_scale()


def table_i_scale():
    """Factor between Table I's WIMP count and wimprates' for the same (labelled) model."""
    reference = spectra.TABLE_I_WIMP
    energies, rates = spectra.wimp_spectrum_table(
        reference["mass_gev"], reference["cross_section_cm2"], reference["interaction"])
    table_exposure = spectra.TABLE_I_LIVE_DAYS * spectra.TABLE_I_FIDUCIAL_KG / 1e3 / spectra.DAYS_PER_YEAR
    in_region = spectra.integral(energies, rates, *spectra.WIMP_SEARCH_REGION_KEV) * table_exposure
    return spectra.TABLE_I_ANALYSIS_SPACE["wimp"] / in_region


def effective_wimp_cross_section(opts, normalisation=None):
    """The cross-section [cm^2] at which wimprates gives the WIMP count of a normalisation."""
    tonne_years = opts.sim_fiducial_mass_kg / 1e3 / spectra.DAYS_PER_YEAR
    rate = spectra.wimp_rate_per_t_yr(opts.wimp_mass_gev, opts.wimp_cross_section_cm2, opts.wimp_interaction)
    return opts.wimp_cross_section_cm2 * wimp_count(opts, tonne_years, normalisation) / (rate * tonne_years)


def _uniform_vertices(rng, n, r_max, z_top, z_bottom):
    r = r_max * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    return r * np.cos(phi), r * np.sin(phi), rng.uniform(z_bottom, z_top, n)


def _fiducial_vertices(opts, rng, n):
    if opts.sim_vertex_volume == "fiducial":
        return _uniform_vertices(rng, n, opts.fiducial_radius_cm, opts.fiducial_z_top_cm, opts.fiducial_z_bottom_cm)
    return _tpc_vertices(opts, rng, n)


def _tpc_vertices(opts, rng, n):
    return _uniform_vertices(rng, n, opts.tpc_radius_cm, 0.0, -opts.tpc_length_cm)


def _multiplicities(rng, n, p_single, minimum=1):
    """Interactions per event: ``minimum`` plus a geometric number (``p_single`` to stop)."""
    return np.minimum(minimum - 1 + rng.geometric(p_single, n), MAX_INTERACTIONS)


def _random_walk(opts, rng, first, multiplicity, mean_step_cm):
    """Vertices of multiple scatters: from each event's first vertex, steps of exponential length
    in isotropic directions, kept inside the TPC. Returns (event index, x, y, z) per interaction,
    grouped by event."""
    starts = np.cumsum(multiplicity) - multiplicity
    event = np.repeat(np.arange(len(multiplicity)), multiplicity)
    x, y, z = (np.empty(len(event)) for _ in range(3))
    x[starts], y[starts], z[starts] = first
    for i in range(1, int(multiplicity.max(initial=1))):
        rows = starts[multiplicity > i] + i
        step = rng.exponential(mean_step_cm, len(rows))
        cos_theta = rng.uniform(-1, 1, len(rows))
        phi = rng.uniform(0, 2 * np.pi, len(rows))
        sin_theta = np.sqrt(1 - cos_theta**2)
        new_x = x[rows - 1] + step * sin_theta * np.cos(phi)
        new_y = y[rows - 1] + step * sin_theta * np.sin(phi)
        scale = np.minimum(1.0, (opts.tpc_radius_cm - 0.1) / np.maximum(np.hypot(new_x, new_y), 1e-9))
        x[rows], y[rows] = new_x * scale, new_y * scale
        z[rows] = np.clip(z[rows - 1] + step * cos_theta, -opts.tpc_length_cm + 0.1, -0.1)
    return event, x, y, z


def interactions(opts, population, n, rng, wall_min_shift_cm=0.0):
    """Interactions of ``n`` events of one population: a dict of per-interaction arrays
    (``event`` 0..n-1, recoil_type, x, y, z, s2_x, s2_y, energy, delay_ns) and ``quanta``:
    "nest" where NEST gives photons and electrons, else fixed ``s1_photons``/``s2_electrons``.
    Wall events only with an inward shift of at least ``wall_min_shift_cm`` where it is above 0."""
    name = NAMES[population]
    if name in ("er", "wimp", "cevns"):
        x, y, z = _fiducial_vertices(opts, rng, n)
        event = np.arange(n)
        if name == "er":
            energy = spectra.sample_er_energies(rng, n, *energy_window(opts))
        elif name == "wimp":
            energy = spectra.sample_wimp_energies(
                rng, n, opts.wimp_mass_gev, opts.wimp_cross_section_cm2, opts.wimp_interaction)
        else:
            energies, rates = spectra.cevns_spectrum_table()
            energy = spectra.sample_table(rng, n, energies, rates * (energies >= opts.cevns_energy_min_kev), "CEvNS")
        table = _table(event, x, y, z, energy, ER if name == "er" else NR)
    elif name in ("neutron", "multisite"):
        first = _fiducial_vertices(opts, rng, n)
        if name == "neutron":
            multiplicity = _multiplicities(rng, n, opts.neutron_single_scatter_fraction)
            event, x, y, z = _random_walk(opts, rng, first, multiplicity, opts.neutron_mean_free_path_cm)
            energy = spectra.sample_exponential_energies(
                rng, len(event), opts.neutron_energy_scale_kev, spectra.NUCLEAR_RECOIL_ENERGY_MIN_KEV,
                opts.neutron_energy_max_kev)
        else:
            multiplicity = _multiplicities(rng, n, 0.5, minimum=2)
            event, x, y, z = _random_walk(opts, rng, first, multiplicity, opts.multisite_mean_step_cm)
            energy = spectra.sample_er_energies(rng, len(event), 0.0, opts.er_energy_max_kev)
        table = _table(event, x, y, z, energy, NR if name == "neutron" else ER)
    elif name == "wall":
        phi = rng.uniform(0, 2 * np.pi, n)
        z = rng.uniform(-opts.tpc_length_cm, 0, n)
        radius = np.full(n, opts.tpc_radius_cm)
        table = _table(np.arange(n), radius * np.cos(phi), radius * np.sin(phi), z,
                       spectra.sample_er_energies(rng, n, *energy_window(opts)), ER)
        # electrons from the wall drift along it and are partly lost on the PTFE; those that
        # arrive come out further in, where the field lines bend away from the wall: a smooth
        # displacement (half-normal), the tails of the reconstructed position come from the
        # position fit of small, charge-depleted S2s
        inward = _inward_shifts(opts, rng, n, wall_min_shift_cm)
        table["s2_x"], table["s2_y"] = (radius - inward) * np.cos(phi), (radius - inward) * np.sin(phi)
        table["charge_survival"] = 10 ** rng.uniform(np.log10(opts.wall_charge_survival_min), 0, n)
    elif name == "s2only":
        table = _lone_s2s(opts, rng, np.arange(n), opts.interaction_delay_ns)
    elif name == "accidental":
        event = np.arange(n)
        s1_time = opts.interaction_delay_ns + max_drift_ns(opts)
        lone_s1 = _table(event, *_tpc_vertices(opts, rng, n), np.full(n, np.nan), ER, quanta="fixed")
        lone_s1["s1_photons"] = _at_least_one(rng, opts.lone_s1_mean_photons, n)
        lone_s1["delay_ns"] = np.full(n, s1_time)
        # the lone S2 arrives up to one maximum drift time after the S1, from its own depth
        lone_s2 = _lone_s2s(opts, rng, event, 0.0)
        arrival = s1_time + rng.uniform(0, max_drift_ns(opts), n)
        lone_s2["delay_ns"] = arrival - drift_time_ns(-lone_s2["z"], opts)
        table = {k: np.concatenate([lone_s1[k], lone_s2[k]]) for k in lone_s1}
    else:
        raise ValueError(f"No interaction model for population {name!r}")
    table["population"] = np.full(len(table["event"]), population, np.int8)
    return table


def _at_least_one(rng, mean, n):
    """Counts of one or more with the given mean (geometric)."""
    return rng.geometric(1 / max(mean, 1.0), n)


def _lone_s2s(opts, rng, event, delay_ns):
    n = len(event)
    table = _table(event, *_tpc_vertices(opts, rng, n), np.full(n, np.nan), ER, quanta="fixed")
    table["s2_electrons"] = _at_least_one(rng, opts.lone_s2_mean_electrons, n)
    table["delay_ns"] = np.full(n, delay_ns, np.float64)
    return table


def _table(event, x, y, z, energy, recoil_type, quanta="nest"):
    n = len(event)
    return {
        "event": np.asarray(event), "recoil_type": np.full(n, recoil_type, np.int8),
        "x": x, "y": y, "z": z, "s2_x": np.array(x, copy=True), "s2_y": np.array(y, copy=True),
        "energy": np.asarray(energy, np.float64), "delay_ns": np.full(n, np.nan),
        "nest": np.full(n, quanta == "nest"), "s1_photons": np.zeros(n, np.int64),
        "s2_electrons": np.zeros(n, np.int64), "charge_survival": np.ones(n),
    }
