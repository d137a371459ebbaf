"""What ddcore._strax_shim relies on in strax, pinned: a strax release that changes one of these
fails here, by name."""

import inspect

import numpy as np
import pytest
import strax
import strax.testutils

import ddcore
from ddcore._strax_shim import AppendWithoutCopy, as_context_class, registered_plugin_class


def test_registered_plugin_class_is_the_class_strax_registered(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path))
    for plugin in ddcore.get_detector("xenon1t").plugins:
        for data_type in strax.to_str_tuple(plugin.provides):
            assert registered_plugin_class(st, data_type) is plugin
    assert registered_plugin_class(st, "no_such_data") is None

    class OtherPeaks(strax.testutils.Peaks):
        provides = "peak_basics"

    st.register(OtherPeaks)  # registering again replaces, as strax's own methods see it
    assert registered_plugin_class(st, "peak_basics") is OtherPeaks
    assert "peak_basics" in st.provided_dtypes()


def test_new_context_of_strax_is_a_plain_context_that_becomes_the_subclass(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path), preset="sr1")
    plain = strax.Context.new_context(st, config={"sim_n_events": 3})
    assert type(plain) is strax.Context  # what as_context_class expects
    derived = as_context_class(plain, type(st))
    assert type(derived) is ddcore.DDContext and derived.config["sim_n_events"] == 3
    assert [type(s) for s in derived.storage] == [type(s) for s in st.storage]
    assert registered_plugin_class(derived, "event_basics") is registered_plugin_class(st, "event_basics")
    via_method = st.new_context(config={"sim_n_events": 3})
    assert (type(via_method), via_method.detector, via_method.preset) == (ddcore.DDContext, "xenon1t", "sr1")
    with pytest.raises(TypeError, match="expected a plain strax.Context"):
        as_context_class(object(), ddcore.DDContext)


def test_strax_fetch_chunk_is_what_append_without_copy_overrides():
    parameters = list(inspect.signature(strax.Plugin._fetch_chunk).parameters)
    assert parameters == ["self", "d", "iters", "check_end_not_before"]
    assert "self._fetch_chunk(" in inspect.getsource(strax.Plugin.iter)
    assert "self.input_buffer" in inspect.getsource(strax.Plugin.iter)


class _PassOn(strax.Plugin):
    provides = "passed_on"
    depends_on = ("records",)
    dtype = strax.testutils.Records.dtype
    compressor = "zstd"

    def compute(self, records):
        return records


class _PassOnWithoutCopy(AppendWithoutCopy, _PassOn):
    pass


def _chunk(start, end, values):
    data = np.zeros(len(values), strax.testutils.Records.dtype)
    data["time"], data["length"], data["dt"] = values, 1, 1
    return strax.Chunk(start=start, end=end, data=data, dtype=data.dtype, data_type="records",
                       data_kind="records", run_id="0", target_size_mb=200)


def test_an_empty_buffer_takes_the_new_chunk_without_a_copy():
    plugin = _PassOnWithoutCopy()
    plugin.input_buffer = {"records": _chunk(0, 10, [])}
    new = _chunk(10, 20, [11, 15])
    assert plugin._fetch_chunk("records", {"records": iter([new])}) is True
    buffered = plugin.input_buffer["records"]
    assert (buffered.start, buffered.end, buffered.run_id) == (0, 20, "0")
    assert np.shares_memory(buffered.data, new.data)
    # what strax's method makes of the same: equal, but a copy
    reference = _PassOn()
    reference.input_buffer = {"records": _chunk(0, 10, [])}
    reference._fetch_chunk("records", {"records": iter([_chunk(10, 20, [11, 15])])})
    assert (reference.input_buffer["records"].start, reference.input_buffer["records"].end) == (0, 20)
    np.testing.assert_array_equal(reference.input_buffer["records"].data, buffered.data)
    # something left over, a gap, the end of the input: strax's own behaviour
    plugin.input_buffer = {"records": _chunk(0, 10, [5])}
    plugin._fetch_chunk("records", {"records": iter([_chunk(10, 20, [12])])})
    assert list(plugin.input_buffer["records"].data["time"]) == [5, 12]
    assert plugin._fetch_chunk("records", {"records": iter([])}) is False
    with pytest.raises(RuntimeError, match="ended prematurely"):
        plugin.input_buffer = {"records": _chunk(0, 10, [])}
        plugin._fetch_chunk("records", {"records": iter([])}, check_end_not_before=15)


@pytest.mark.parametrize("plugin", [_PassOn, _PassOnWithoutCopy])
def test_a_chain_gives_the_same_data_with_or_without_the_copy(plugin):
    st = strax.Context(storage=[], register=[strax.testutils.Records, plugin],
                       config=dict(n_chunks=5, recs_per_chunk=7))
    data = st.get_array("0", "passed_on", progress_bar=False)
    expected = st.get_array("0", "records", progress_bar=False)
    np.testing.assert_array_equal(data, expected)
