"""Calibration runs: the sources an experiment puts in its detector to learn its background and
signal response, simulated as run sources of their own (``rn220_<preset>_<number>``,
``ambe_<preset>_<number>``, ``sim_n_events`` events each). Their run documents say
``source="rn220"`` or ``source="ambe"``, which is how a calibration finds them
(``ddplugins.search.calibration_runs``); their truth class (``event_truth.population``) is the one
of the background they stand for, so a method can be scored on them afterwards.

rn220
    220Rn dissolved in the xenon: its daughter 212Pb decays by beta emission uniformly in the whole
    TPC, single site, an electronic recoil spectrum that is almost flat at low energy (XENON1T's
    ER-band calibration: E. Aprile et al., Phys. Rev. D 95, 072008 (2017); the 212Pb branches
    below are the ENSDF evaluation for A = 212, rounded). Unlike the background model's flat
    ``er`` spectrum it is the sum of allowed beta shapes.
ambe
    An AmBe neutron source outside the cryostat at mid height: neutrons enter through the wall
    near the source's azimuth and scatter, mostly several times (the ``neutron_*`` options of the
    radiogenic background set the mean free path and the single-scatter share), with a recoil
    spectrum harder than the radiogenic one (AmBe neutrons average ~4 MeV: an exponential of
    ``AMBE_RECOIL_SCALE_KEV``, assumed). Its 4.4 MeV gammas are left out (they deposit far above
    the energies of the search).
"""

import numpy as np

from ddplugins.simulation import populations, spectra
from ddplugins.simulation.populations import Population
from ddplugins.simulation.quanta import ER, NR

CALIBRATION_SOURCES = ("rn220", "ambe")
# the background each source stands for: its events' truth class, for scoring afterwards
STANDS_FOR = {"rn220": Population.ER, "ambe": Population.NEUTRON}

ELECTRON_MASS_KEV = 510.999
FINE_STRUCTURE = 1 / 137.036
BISMUTH_Z = 83
# 212Pb beta decays to 212Bi: (share, endpoint [keV]) of its three main branches (ENSDF, rounded;
# Q = 569.9 keV; to the ground state, the 238.6 keV and the 415.3 keV levels)
PB212_BRANCHES = ((0.119, 569.9), (0.813, 331.3), (0.054, 154.6))

AMBE_RECOIL_SCALE_KEV = 45.0  # assumed: ~4 MeV neutrons, maximum recoil on xenon ~120 keV
AMBE_RECOIL_MAX_KEV = 200.0
AMBE_AZIMUTH_SPREAD_RAD = 0.4  # where the neutrons enter: a spread around the source's azimuth


def pb212_spectrum(energy_kev):
    """Relative rate of 212Pb beta decays at kinetic energy ``energy_kev`` [keV]: the allowed
    shape p E (Q - T)^2 F(Z, E) of each branch (non-relativistic Fermi function), weighted by
    its share."""
    kinetic = np.asarray(energy_kev, float)
    total = kinetic + ELECTRON_MASS_KEV
    momentum = np.sqrt(np.maximum(total**2 - ELECTRON_MASS_KEV**2, 1e-12))
    eta = 2 * np.pi * FINE_STRUCTURE * BISMUTH_Z * total / momentum
    fermi = eta / -np.expm1(-eta)
    rate = np.zeros_like(kinetic)
    for share, endpoint in PB212_BRANCHES:
        rate += share * np.where(kinetic < endpoint, momentum * total * (endpoint - kinetic) ** 2 * fermi, 0.0)
    return rate


def interactions(opts, source, n, rng):
    """Interactions of ``n`` events of a calibration run, as ``populations.interactions`` gives
    them for the background populations."""
    if source == "rn220":
        energies = np.linspace(0.0, opts.er_energy_max_kev, 400)
        energy = spectra.sample_table(rng, n, energies, pb212_spectrum(energies), "212Pb beta")
        x, y, z = populations._tpc_vertices(opts, rng, n)
        table = populations._table(np.arange(n), x, y, z, energy, ER)
    elif source == "ambe":
        table = populations._table(*_ambe_scatters(opts, rng, n), NR)
    else:
        raise ValueError(f"No calibration source {source!r}; choose from {', '.join(CALIBRATION_SOURCES)}")
    table["population"] = np.full(len(table["event"]), STANDS_FOR[source], np.int8)
    return table


def _ambe_scatters(opts, rng, n):
    """(event, x, y, z, energy) of AmBe neutron scatters: a first vertex one exponential free path
    in from the wall near the source (azimuth 0, mid height), then a random walk."""
    phi = rng.normal(0.0, AMBE_AZIMUTH_SPREAD_RAD, n)
    radius = opts.tpc_radius_cm - np.minimum(rng.exponential(opts.neutron_mean_free_path_cm, n),
                                             2 * opts.tpc_radius_cm - 0.2)
    z = np.clip(rng.normal(-opts.tpc_length_cm / 2, opts.tpc_length_cm / 4, n), -opts.tpc_length_cm + 0.1, -0.1)
    first = (radius * np.cos(phi), radius * np.sin(phi), z)
    multiplicity = populations._multiplicities(rng, n, opts.neutron_single_scatter_fraction)
    event, x, y, z = populations._random_walk(opts, rng, first, multiplicity, opts.neutron_mean_free_path_cm)
    energy = spectra.sample_exponential_energies(rng, len(event), AMBE_RECOIL_SCALE_KEV,
                                                 spectra.NUCLEAR_RECOIL_ENERGY_MIN_KEV, AMBE_RECOIL_MAX_KEV)
    return event, x, y, z, energy
