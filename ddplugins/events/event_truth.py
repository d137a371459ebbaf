"""``event_truth``: the simulated instruction behind each event (simulated runs only)."""

import numpy as np
import strax

from ddcore.plugins import DDPlugin
from ddplugins.simulation.populations import POPULATION_TITLE

# event_truth field <- instructions field
TRUTH_COLUMNS = {
    "true_event_number": "event_number",
    "true_recoil_type": "recoil_type",
    "label": "label",
    "population": "population",
    "injected": "injected",
    "true_x": "x",
    "true_y": "y",
    "true_z": "z",
    "true_energy": "energy",
    "true_s1_photons": "s1_photons",
    "true_s2_electrons": "s2_electrons",
}


class EventTruth(DDPlugin):
    """Join instructions to events by time: an event holds the instructions whose interaction
    times fall inside its window; the truth columns describe the one that made the most
    electrons, ``true_*2`` the second (a multiple scatter). Kept apart from event_basics so real
    data needs no truth."""

    __version__ = "0.3.0"
    depends_on = ("events", "instructions")
    provides = "event_truth"
    data_kind = "events"

    dtype = strax.time_fields + [
        (("True event number in the run (-1: no instruction in the window)", "true_event_number"), np.int64),
        (("True recoil type: 0 ER, 1 NR (-1: none)", "true_recoil_type"), np.int8),
        (("Truth label: 0 background, 1 WIMP signal (-1: none)", "label"), np.int8),
        ((POPULATION_TITLE + " (-1: none or a FaX event)", "population"), np.int8),
        (("1 if injected on top of the background model", "injected"), np.int8),
        (("Interactions of the true event (all its instructions)", "true_n_interactions"), np.int16),
        (("Summed recoil energy of the true event's interactions [keV]", "true_energy_total"), np.float32),
        (("True x [cm]", "true_x"), np.float32),
        (("True y [cm]", "true_y"), np.float32),
        (("True z [cm]", "true_z"), np.float32),
        (("True recoil energy [keV]", "true_energy"), np.float32),
        (("Photons produced", "true_s1_photons"), np.int32),
        (("Electrons produced", "true_s2_electrons"), np.int32),
        (("Instructions inside the event window", "n_instructions"), np.int16),
        (("True x of the interaction with the second most electrons [cm] (NaN: single)", "true_x2"), np.float32),
        (("True y of the interaction with the second most electrons [cm] (NaN: single)", "true_y2"), np.float32),
        (("True z of the interaction with the second most electrons [cm] (NaN: single)", "true_z2"), np.float32),
        (("Recoil energy of the interaction with the second most electrons [keV]", "true_energy2"), np.float32),
    ]

    def compute(self, events, instructions):
        result = self.new_result(events)
        for name in ("true_event_number", "true_recoil_type", "label", "population"):
            result[name] = -1
        for name in ("true_x", "true_y", "true_z", "true_energy", "true_x2", "true_y2", "true_z2",
                     "true_energy2", "true_energy_total"):
            result[name] = np.nan
        if not len(events) or not len(instructions):
            return result
        points = np.zeros(len(instructions), strax.time_fields)
        points["time"] = instructions["time"]
        points["endtime"] = instructions["time"] + 1
        container = strax.fully_contained_in(points, events)
        inside = container >= 0
        np.add.at(result["n_instructions"], container[inside], 1)
        # rank the interactions of each event by electrons: the main one, then the second
        source = np.flatnonzero(inside)
        order = np.lexsort((-instructions["s2_electrons"][source].astype(np.int64), container[source]))
        source = source[order]
        target = container[source]
        first = np.r_[True, target[1:] != target[:-1]]
        for out_name, in_name in TRUTH_COLUMNS.items():
            result[out_name][target[first]] = instructions[in_name][source[first]]
        second = np.r_[False, ~first[1:]] & np.r_[False, first[:-1]]
        for name in ("x", "y", "z", "energy"):
            result[f"true_{name}2"][target[second]] = instructions[name][source[second]]
        # the whole true event, also interactions outside the window (an S2 beyond it)
        _, row_event, rows_per_event = np.unique(
            instructions["event_number"], return_inverse=True, return_counts=True)
        energy = np.nan_to_num(instructions["energy"].astype(np.float64))
        known = np.bincount(row_event, weights=np.isfinite(instructions["energy"]))
        total = np.where(known > 0, np.bincount(row_event, weights=energy), np.nan)
        result["true_n_interactions"][target[first]] = rows_per_event[row_event[source[first]]]
        result["true_energy_total"][target[first]] = total[row_event[source[first]]]
        return result
