"""Populations outside the background model: FaX instruction tables with the physics they claim,
simulated and processed like any FaX run."""

import numpy as np
import pytest

import ddcore
from ddplugins.simulation import fax_csv, outside_model
from ddplugins.tpc._options import drift_time_ns
from tests.helpers import SMALL_RUN_OPTIONS

N_EVENTS = 60


@pytest.fixture(scope="module")
def options(st):
    return outside_model.detector_options(st.get_single_plugin("er_sr0_001", "instructions"))


@pytest.fixture(scope="module")
def tables(options):
    return {name: outside_model.instruction_table(name, options, N_EVENTS, seed=5)
            for name in outside_model.OUTSIDE_MODEL}


def _per_event(table, values, how):
    return np.array([how(values[table["instruction"] == i]) for i in range(N_EVENTS)])


def test_every_table_is_a_valid_fax_table_of_every_event(tables, options, tmp_path):
    for name, table in tables.items():
        path = tmp_path / f"{name}.csv"
        fax_csv.write_table(path, table)
        again = fax_csv.read_fax_csv(path)
        np.testing.assert_array_equal(np.unique(again["instruction"]), np.arange(N_EVENTS), name)
        np.testing.assert_array_equal(again["s2_electrons"], table["s2_electrons"], name)
        assert np.all(again["depth"] <= options["tpc_length_cm"]), name
        # every interaction after one drift time, every electron in the gas before its slot ends
        assert np.all(again["t"] >= drift_time_ns(options["tpc_length_cm"], options)), name
        assert np.all(again["t"] + drift_time_ns(again["depth"], options) < options["sim_event_spacing_us"] * 1e3), name
    again = outside_model.instruction_table("pileup", options, N_EVENTS, seed=5)
    np.testing.assert_array_equal(again["t"], tables["pileup"]["t"])
    with pytest.raises(ValueError, match="gamma_x"):
        outside_model.instruction_table("gamma_y", options, 1, seed=0)


def test_each_population_has_its_physics(tables, options):
    gamma_x = tables["gamma_x"]
    hidden = gamma_x["depth"] == options["tpc_length_cm"]
    # one hidden scatter per event, at the cathode, light but no charge, at the same time as the visible one
    assert hidden.sum() == N_EVENTS and np.all(gamma_x["s2_electrons"][hidden] == 0)
    assert gamma_x["s1_photons"][hidden].mean() > 10 and np.mean(gamma_x["s2_electrons"][~hidden] > 0) > 0.9
    assert np.all(_per_event(gamma_x, gamma_x["t"], np.ptp) == 0)
    train = tables["electron_train"]
    emitted = train["depth"] < 0.1  # the train's electrons come from just below the liquid surface
    emissions = _per_event(train, emitted, np.sum)
    assert emissions.mean() == pytest.approx(outside_model.OutsideModelParameters().train_emissions_per_window, rel=0.3)
    assert np.all(train["s2_electrons"][emitted] >= 1) and np.all(train["s1_photons"][emitted] == 0)
    below = tables["below_gate"]
    assert np.all(below["depth"] < 0.31) and len(below["t"]) == N_EVENTS
    pileup = tables["pileup"]
    delays = _per_event(pileup, pileup["t"], np.ptp)
    assert np.all(delays >= 1000) and np.all(delays <= drift_time_ns(options["tpc_length_cm"], options))


def test_gamma_x_events_have_more_s1_for_their_s2_than_without_the_hidden_scatter(st, tables, tmp_path):
    """The same visible scatters with and without the hidden one: the hidden light raises cS1
    event by event and leaves cS2 alone."""
    gamma_x = tables["gamma_x"]
    visible = {k: v[gamma_x["depth"] < st.get_single_plugin("er_sr0_001", "instructions").tpc_length_cm]
               for k, v in gamma_x.items()}
    events = {}
    for name, table in (("gamma_x", gamma_x), ("visible", visible)):
        path = tmp_path / f"{name}.csv"
        fax_csv.write_table(path, table)
        context = ddcore.context("xenon1t", storage=str(tmp_path / "store"), **SMALL_RUN_OPTIONS,
                                 fax_instructions_file=str(path))
        run = "fax_sr0_801" if name == "gamma_x" else "fax_sr0_802"
        found = context.get_array(run, ["event_basics", "event_truth"], progress_bar=False)
        found = found[found["true_event_number"] >= 0]
        # one event per true event (the first, where its light made more than one)
        events[name] = found[np.unique(found["true_event_number"], return_index=True)[1]]
    common = np.intersect1d(events["gamma_x"]["true_event_number"], events["visible"]["true_event_number"])
    assert len(common) > 0.8 * N_EVENTS
    both = [e[np.isin(e["true_event_number"], common)] for e in (events["gamma_x"], events["visible"])]
    with_hidden, without = (np.nan_to_num(e["cs1"]) for e in both)
    assert np.mean(with_hidden > without) > 0.8
    assert np.nanmedian(both[0]["cs2_bottom"] / both[1]["cs2_bottom"]) == pytest.approx(1, abs=0.1)
