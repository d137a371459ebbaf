"""Populations outside the background model, written as FaX instruction tables.

An anomaly search earns its name on events it was not told about. None of these populations is a
run source, a pseudo-data component, a calibration run or a likelihood template: each exists only
as a FaX instruction CSV (``fax_csv``) that a ``fax`` run simulates down to raw records, exactly as
a collaboration would inject a population of its own making.

============== ====================================================================================
gamma_x        a gamma's Compton scatter in the fiducial volume plus a second one in the
               charge-insensitive region below the cathode: the second adds S1 light but no
               charge, so the event has too little S2 for its S1 and moves towards the NR band
electron_train an ER event inside the electron train of an earlier, large S2: single electrons
               and small bursts of them reach the gas all through its event window
below_gate     interactions within a few mm below the gate: drift times of a few us (S1 and S2
               close or merged) and S2s distorted by charge lost on the gate wires
pileup         two energetic ER interactions of independent events in one event window: two S1s
               and two S2s, the second interaction up to one drift time after the first
============== ====================================================================================

The quanta of every vertex come from NEST at the detector's drift field; the parameters below are
assumptions of this project (orders of magnitude a detector physicist would give), named in every
table's docstring and in docs/results.md.
"""

import dataclasses

import numpy as np

from ddplugins.simulation import fax_csv
from ddplugins.simulation.quanta import ER, nest_quanta
from ddplugins.tpc._options import drift_time_ns

OUTSIDE_MODEL = ("gamma_x", "electron_train", "below_gate", "pileup")
EVENT_MARGIN_NS = 20_000  # after the longest drift, as the simulator's own interaction delay


@dataclasses.dataclass(frozen=True)
class OutsideModelParameters:
    """Assumed parameters of the populations outside the model (none is fitted to data)."""

    hidden_energy_max_kev: float = 10.0      # gamma_x: below-cathode deposit, flat 0 - this [keV]
    train_emissions_per_window: float = 20.0  # electron_train: emissions in S1 .. S1 + drift + 100 us
    train_burst_mean_electrons: float = 1.5   # electron_train: electrons per emission (geometric)
    train_spread_cm: float = 1.0              # electron_train: spread around the earlier S2's position
    below_gate_depth_cm: float = 0.3          # below_gate: vertices within this depth [cm]
    below_gate_survival_min: float = 0.1      # below_gate: charge survival, log-uniform up to 1
    pileup_energy_max_kev: float = 50.0       # pileup: each interaction flat 0 - this [keV]


def detector_options(plugin):
    """The options of an ``instructions`` plugin these tables need (geometry, field, volume),
    correctable ones resolved for its run."""
    names = ("tpc_radius_cm", "tpc_length_cm", "drift_field_v_per_cm", "drift_velocity_um_per_ns",
             "drift_time_gate_us", "fiducial_radius_cm", "fiducial_z_top_cm", "fiducial_z_bottom_cm",
             "er_energy_max_kev", "sim_event_spacing_us")
    return {name: getattr(plugin, name) for name in names}


def instruction_table(name, options, n_events, seed, parameters=OutsideModelParameters()):
    """FaX instruction rows (dict of columns, ``fax_csv.COLUMNS``) of ``n_events`` events of the
    population ``name``; reproducible for a seed."""
    if name not in OUTSIDE_MODEL:
        raise ValueError(f"Unknown population outside the model {name!r}; choose from {', '.join(OUTSIDE_MODEL)}")
    rng = np.random.default_rng([seed, OUTSIDE_MODEL.index(name)])
    rows = _BUILDERS[name](options, n_events, rng, parameters)
    energy = rows.pop("energy")
    with_quanta = np.isfinite(energy)
    photons, electrons = np.zeros(len(energy), np.int64), np.zeros(len(energy), np.int64)
    photons[with_quanta], electrons[with_quanta], _ = nest_quanta(
        np.full(int(with_quanta.sum()), ER), energy[with_quanta], options["drift_field_v_per_cm"],
        seed=rng.integers(2**31))
    rows["s1_photons"] = photons
    rows["s2_electrons"] = rng.binomial(electrons, rows.pop("charge_survival")) + rows.pop("extra_electrons")
    rows["recoil_type"] = np.full(len(energy), ER)
    order = np.argsort(rows["instruction"], kind="stable")
    return {column: np.asarray(rows[column])[order] for column in fax_csv.COLUMNS}


def write_instructions(path, name, plugin, n_events, seed, parameters=OutsideModelParameters()):
    """Write the population's FaX CSV for the detector of an ``instructions`` plugin; its path."""
    table = instruction_table(name, detector_options(plugin), n_events, seed, parameters)
    fax_csv.write_table(path, table)
    return path


def _interaction_time(options):
    return drift_time_ns(options["tpc_length_cm"], options) + EVENT_MARGIN_NS


def _disc(rng, n, radius):
    r = radius * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    return r * np.cos(phi), r * np.sin(phi)


def _fiducial(options, rng, n):
    x, y = _disc(rng, n, options["fiducial_radius_cm"])
    depth = rng.uniform(-options["fiducial_z_top_cm"], -options["fiducial_z_bottom_cm"], n)
    return x, y, depth


def _rows(event, x, y, depth, energy, t, charge_survival=1.0, extra_electrons=0):
    """One row per vertex: NEST quanta from ``energy`` [keV] (NaN: none), the electrons kept
    with probability ``charge_survival``, plus ``extra_electrons`` that need no recoil."""
    n = len(event)

    def per_row(value, dtype):
        return np.broadcast_to(np.asarray(value, dtype), (n,)).copy()

    return {"instruction": per_row(event, np.int64), "x": per_row(x, float), "y": per_row(y, float),
            "depth": per_row(depth, float), "energy": per_row(energy, float),
            "t": np.round(per_row(t, float)).astype(np.int64),
            "charge_survival": per_row(charge_survival, float), "extra_electrons": per_row(extra_electrons, np.int64)}


def _joined(*tables):
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def _gamma_x(options, n, rng, p):
    events = np.arange(n)
    t = _interaction_time(options)
    visible = _rows(events, *_fiducial(options, rng, n), rng.uniform(0, options["er_energy_max_kev"], n), t)
    # the FaX table holds vertices inside the TPC: the hidden scatter's light leaves from the
    # cathode plane, its charge never reaches the gas
    hidden = _rows(events, *_disc(rng, n, options["tpc_radius_cm"]), np.full(n, options["tpc_length_cm"]),
                   rng.uniform(0, p.hidden_energy_max_kev, n), t, charge_survival=0.0)
    return _joined(visible, hidden)


def _electron_train(options, n, rng, p):
    events = np.arange(n)
    t = _interaction_time(options)
    main = _rows(events, *_fiducial(options, rng, n), rng.uniform(0, options["er_energy_max_kev"], n), t)
    emissions = rng.poisson(p.train_emissions_per_window, n)
    owner = np.repeat(events, emissions)
    centre_x, centre_y = _disc(rng, n, options["tpc_radius_cm"] - p.train_spread_cm)
    x = centre_x[owner] + rng.normal(0, p.train_spread_cm, len(owner))
    y = centre_y[owner] + rng.normal(0, p.train_spread_cm, len(owner))
    scale = np.minimum(1.0, (options["tpc_radius_cm"] - 0.1) / np.maximum(np.hypot(x, y), 1e-9))
    window_ns = drift_time_ns(options["tpc_length_cm"], options) + 100_000
    arrival = t + rng.uniform(0, window_ns, len(owner))
    electrons = rng.geometric(1 / p.train_burst_mean_electrons, len(owner))
    train = _rows(owner, x * scale, y * scale, np.full(len(owner), 0.01), np.full(len(owner), np.nan),
                  arrival, extra_electrons=electrons)
    return _joined(main, train)


def _below_gate(options, n, rng, p):
    x, y = _disc(rng, n, options["tpc_radius_cm"])
    depth = rng.uniform(0.02, p.below_gate_depth_cm, n)
    survival = 10 ** rng.uniform(np.log10(p.below_gate_survival_min), 0, n)
    return _rows(np.arange(n), x, y, depth, rng.uniform(0, options["er_energy_max_kev"], n),
                 _interaction_time(options), charge_survival=survival)


def _pileup(options, n, rng, p):
    events = np.arange(n)
    t = _interaction_time(options)
    first = _rows(events, *_fiducial(options, rng, n), rng.uniform(0, p.pileup_energy_max_kev, n), t)
    later = t + rng.uniform(1_000, drift_time_ns(options["tpc_length_cm"], options), n)
    second = _rows(events, *_fiducial(options, rng, n), rng.uniform(0, p.pileup_energy_max_kev, n), later)
    return _joined(first, second)


_BUILDERS = {"gamma_x": _gamma_x, "electron_train": _electron_train, "below_gate": _below_gate, "pileup": _pileup}
