"""Property tests of the numba kernels (as strax tests its processing kernels)."""

import numpy as np
import pytest
import strax
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ddplugins._kept_buffer import KeptBuffer
from ddplugins._sorting import sort_by_time
from ddplugins.events.event_waveforms import rebin_onto_window
from ddplugins.events.main_peaks import _main_peaks
from ddplugins.events.position import fit_positions
from ddplugins.peaks._find_hits import alone_in_time
from ddplugins.peaks.peak_basics import S1, S2
from ddplugins.records.records import records_from_raw
from ddplugins.simulation import pmt_response
from ddplugins.tpc._options import PMT_LAYOUT_OPTIONS, SHARED_OPTIONS, pmt_table

DT = 10
SAMPLES_PER_RECORD = 110
FRACTIONS = pmt_response.sample_fractions(pmt_response.spe_template_cdf(), DT)

photoelectrons = st.lists(
    st.tuples(st.integers(0, 20_000), st.floats(0.2, 5.0)), min_size=1, max_size=40
)


def _digitize(pes, zle_threshold, zle_window, baseline=16000, noise_rms=0.0):
    time = np.sort(np.array([t for t, _ in pes], np.int64)) + 1_000_000
    area = np.array([a for _, a in pes], np.float32)
    channel = np.zeros(len(time), np.int16)
    return area, _digitize_blocks(channel, time, area, np.array([0, len(time)]), zle_threshold,
                                  zle_window, baseline=baseline, noise_rms=noise_rms)


def _digitize_blocks(channel, time, area, block_first, zle_threshold, zle_window, baseline=16000,
                     noise_rms=0.0, seed=0):
    digitizer = pmt_response.digitizer_parameters(baseline, zle_threshold, zle_window, SAMPLES_PER_RECORD, DT)
    gains = np.full(int(channel.max()) + 1 if len(channel) else 1, 100.0)
    total, largest = pmt_response.record_capacity(channel, time, block_first, FRACTIONS.shape[1] * DT, digitizer)
    out = np.zeros(total, strax.raw_record_dtype(SAMPLES_PER_RECORD))
    scratch = np.zeros(largest, out.dtype)
    noise = pmt_response.noise_table(seed, noise_rms)
    n = pmt_response.digitize(seed, channel, time, area, block_first, FRACTIONS, noise, gains, digitizer, out,
                              scratch)
    return out[:n]


@settings(max_examples=60, deadline=None)
@given(photoelectrons)
def test_digitize_round_trip_keeps_the_area(pes):
    """Without noise and with a zero threshold, the recorded ADC area is the photoelectrons'
    area times the gain, up to rounding of each sample."""
    area, records = _digitize(pes, zle_threshold=0, zle_window=5)
    samples = np.concatenate([r["data"][: r["length"]] for r in records]).astype(np.int64)
    recorded = np.sum(16000 - samples)
    expected = area.sum() * 100.0 * FRACTIONS.sum(axis=1).mean()
    assert abs(recorded - expected) <= 0.5 * len(samples) + 1e-3 * expected


@settings(max_examples=60, deadline=None)
@given(photoelectrons, st.integers(3, 40), st.integers(1, 50), st.sampled_from([0.0, 2.25]))
def test_zero_suppression_keeps_a_window_around_every_crossing(pes, zle_threshold, zle_window, noise_rms):
    # with noise, thresholds above the largest noise value (4.3 sigma): only signal opens pulses
    assume(noise_rms == 0 or zle_threshold > 4.5 * noise_rms + 1)
    _, records = _digitize(pes, zle_threshold=zle_threshold, zle_window=zle_window, noise_rms=noise_rms)
    # reassemble pulses: records of one pulse are consecutive
    pulses, current = [], None
    for r in records:
        if r["record_i"] == 0:
            current = [r["time"], []]
            pulses.append(current)
        current[1].append(r["data"][: r["length"]])
        assert r["length"] <= SAMPLES_PER_RECORD
    starts = [p[0] for p in pulses]
    assert starts == sorted(starts)
    for start, parts in pulses:
        counts = 16000 - np.concatenate(parts).astype(np.int64)
        above = np.flatnonzero(counts > zle_threshold)
        assert len(above), "a pulse without a threshold crossing"
        assert above[0] == zle_window
        assert len(counts) - 1 - above[-1] == zle_window
        # no gap of more than two windows without a crossing inside one pulse
        assert np.all(np.diff(above) <= 2 * zle_window + 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=50), st.integers(1, 40),
       st.floats(-300, 300), st.integers(2, 60))
def test_rebinning_conserves_the_area_inside_the_window(data, dt, offset, n_out):
    data = np.array(data)
    new_dt = 500.0 / n_out
    out = np.zeros(n_out)
    rebin_onto_window(data, len(data), float(dt), offset, new_dt, n_out, out)
    # the part of each sample inside [0, 500) ns
    lo = offset + np.arange(len(data)) * dt
    inside = np.clip(np.minimum(lo + dt, 500.0) - np.maximum(lo, 0.0), 0, None) / dt
    np.testing.assert_allclose(out.sum(), np.sum(data * inside), rtol=1e-9, atol=1e-9)


@st.composite
def peaks_and_events(draw):
    n = draw(st.integers(0, 30))
    times = np.sort(np.array(draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n)), np.int64))
    types = np.array(draw(st.lists(st.sampled_from([0, S1, S2]), min_size=n, max_size=n)), np.int8)
    areas = np.array(draw(st.permutations(list(range(1, n + 1)))), np.float64)
    bounds = sorted(draw(st.lists(st.integers(0, 10_001), min_size=2, max_size=8, unique=True)))
    return times, types, areas, np.array(bounds[:-1], np.int64), np.array(bounds[1:], np.int64)


def _two_largest_reference(candidates, areas):
    ranked = sorted(candidates, key=lambda p: -areas[p])
    return (ranked + [-1, -1])[:2]


@settings(max_examples=200, deadline=None)
@given(peaks_and_events())
def test_main_and_alternate_peaks_are_the_largest_and_second_largest(case):
    times, types, areas, starts, ends = case
    result = np.full((len(starts), 5), -1, np.int64)
    _main_peaks(starts, ends, times, types, areas, result)
    for ev, (t0, t1) in enumerate(zip(starts, ends)):
        inside = [p for p in range(len(times)) if t0 <= times[p] < t1]
        main_s2, alt_s2 = _two_largest_reference([p for p in inside if types[p] == S2], areas)
        before = times[main_s2] if main_s2 >= 0 else t1
        main_s1, alt_s1 = _two_largest_reference(
            [p for p in inside if types[p] == S1 and times[p] < before], areas)
        assert list(result[ev]) == [main_s1, main_s2, alt_s1, alt_s2, len(inside)]


XENON1T_TOP = pmt_table({name: SHARED_OPTIONS[name]["default"] for name in PMT_LAYOUT_OPTIONS})
XENON1T_TOP = XENON1T_TOP[XENON1T_TOP["array"] == 0]


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 35), st.floats(0, 2 * np.pi), st.floats(100, 1e5))
def test_position_fit_recovers_exact_patterns(r, phi, total):
    x, y, h = r * np.cos(phi), r * np.sin(phi), 6.0
    d2 = (XENON1T_TOP["x"] - x) ** 2 + (XENON1T_TOP["y"] - y) ** 2 + h**2
    weights = 1 / d2**1.5
    areas = (total * weights / weights.sum())[None, :]
    result = np.zeros((1, 2))
    fit_positions(areas, XENON1T_TOP["x"].copy(), XENON1T_TOP["y"].copy(), h, 47.9, result)
    assert np.hypot(result[0, 0] - x, result[0, 1] - y) < 0.08


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1e-6, 1e3), min_size=1, max_size=300))
def test_alias_table_gives_each_outcome_its_probability(weights):
    """Column i is taken with probability threshold[i], else its alias: the probabilities the
    table implies equal the normalised weights."""
    weights = np.array(weights)
    threshold, alias = pmt_response._alias_table(weights)
    implied = threshold.copy()
    np.add.at(implied, alias, 1 - threshold)
    np.testing.assert_allclose(implied / len(weights), weights / weights.sum(), atol=1e-9)


SEPARATION = 3_000


@st.composite
def events_of_photoelectrons(draw):
    """Events in time order, each with (channel, time offset) photoelectrons; some overlap."""
    events, start = [], 1_000_000
    for _ in range(draw(st.integers(1, 6))):
        start += draw(st.sampled_from([0, 1_000, SEPARATION, 50_000]))
        pes = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20_000)), max_size=40))
        events.append([(c, start + t) for c, t in pes])
    channel = np.array([c for pes in events for c, _ in pes], np.int16)
    time = np.array([t for pes in events for _, t in pes], np.int64)
    event_first = np.cumsum([0] + [len(pes) for pes in events])
    return channel, time, event_first


@settings(max_examples=100, deadline=None)
@given(events_of_photoelectrons())
def test_photoelectrons_sorted_in_whole_events_into_separated_blocks(case):
    channel, time, event_first = case
    area = np.arange(len(time), dtype=np.float32)  # tells which photoelectron went where
    by_channel, by_time, with_area, block_first = pmt_response.sort_photoelectrons(
        channel, time, area, event_first, SEPARATION)
    assert block_first[0] == 0 and block_first[-1] == len(time)
    assert set(block_first) <= set(event_first)
    for lo, hi in zip(block_first[:-1], block_first[1:]):
        expected = lo + np.lexsort((time[lo:hi], channel[lo:hi]))
        np.testing.assert_array_equal(by_channel[lo:hi], channel[expected])
        np.testing.assert_array_equal(by_time[lo:hi], time[expected])
        # areas stay with their channel and block (which time gets which does not matter)
        assert sorted(zip(by_channel[lo:hi], with_area[lo:hi])) == sorted(zip(channel[lo:hi], area[lo:hi]))
        if lo and hi > lo:
            assert time[lo:hi].min() - time[:lo].max() > SEPARATION
    # blocks split exactly where everything after comes more than SEPARATION after everything before
    splits = {event_first[k] for k in range(1, len(event_first) - 1)
              if 0 < event_first[k] < len(time)
              and time[event_first[k]:].min() - time[:event_first[k]].max() > SEPARATION}
    assert set(block_first[1:-1]) == splits


@settings(max_examples=30, deadline=None)
@given(events_of_photoelectrons(), st.sampled_from([0.5, 3.0]))
def test_records_come_out_in_strax_order(case, area):
    channel, time, event_first = case
    assume(len(time))
    channel, time, areas, block_first = pmt_response.sort_photoelectrons(
        channel, time, np.full(len(time), area, np.float32), event_first, SEPARATION)
    records = _digitize_blocks(channel, time, areas, block_first, zle_threshold=15, zle_window=5,
                               noise_rms=2.25, seed=1)
    assert len(records)
    assert records.tobytes() == strax.sort_by_time(records).tobytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(-1, 300)), min_size=0, max_size=300))
def test_sort_by_time_orders_as_strax(rows):
    """Ties in time go by channel, equal (time, channel) keep their order: strax.sort_by_time's."""
    hits = np.zeros(len(rows), strax.hit_dtype)
    hits["time"] = [t for t, _ in rows]
    hits["channel"] = [c for _, c in rows]
    hits["area"] = np.arange(len(rows))
    assert sort_by_time(hits).tobytes() == strax.sort_by_time(hits).tobytes()


def _hits_of(rows):
    """Hits of (time [samples], channel, length, area) rows, in time order."""
    hits = np.zeros(len(rows), strax.hit_dtype)
    hits["time"] = np.sort([t for t, *_ in rows]) * DT
    hits["channel"] = [c for _, c, *_ in rows]
    hits["length"] = [n for *_, n, _ in rows]
    hits["area"] = [a for *_, a in rows]
    hits["dt"] = DT
    return hits


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 3), st.integers(1, 20),
                                   st.floats(0.0, 50.0)), min_size=1, max_size=40), min_size=1, max_size=3),
       st.integers(1, 8), st.integers(1, 2), st.booleans())
def test_peak_finder_reusing_its_buffer_finds_what_strax_finds(chunks, buffer_size, min_channels, grow):
    """Chunk after chunk with one kept buffer (small, so it fills and is reused within a call)."""
    dtype = strax.peak_dtype(n_channels=4)
    finder = KeptBuffer(strax.find_peaks, dtype, buffer_size=buffer_size, grow=grow)
    for rows in chunks:
        hits = _hits_of(rows)
        options = dict(gap_threshold=300, left_extension=20, right_extension=150,
                       min_channels=min_channels, min_area=1.0)
        expected = strax.find_peaks(hits, np.ones(4), result_dtype=dtype, **options)
        assert finder(hits, np.ones(4), **options).tobytes() == expected.tobytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 3), st.integers(1, 20), st.floats(0.5, 50.0)),
                min_size=1, max_size=60),
       st.integers(171, 900))
def test_hits_alone_in_time_make_no_peak_of_two_channels(rows, gap):
    """Leaving out the hits ``alone_in_time`` flags (dark counts) gives strax's peaks of at
    least two channels, byte for byte."""
    dtype = strax.peak_dtype(n_channels=4)
    hits = _hits_of(rows)
    options = dict(gap_threshold=gap, left_extension=20, right_extension=150, min_channels=2)
    expected = strax.find_peaks(hits, np.ones(4), result_dtype=dtype, **options)
    kept = hits[~alone_in_time(hits, gap)]
    found = strax.find_peaks(kept, np.ones(4), result_dtype=dtype, **options) if len(kept) else np.zeros(0, dtype)
    assert found.tobytes() == expected.tobytes()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 3), st.integers(1, 20)),
                         max_size=30), min_size=1, max_size=3),
       st.integers(1, 8))
def test_kept_buffer_hands_its_rows_to_then_before_zeroing_them(chunks, buffer_size):
    dtype = strax.peak_dtype(n_channels=4)
    finder = KeptBuffer(strax.find_peaks, dtype, buffer_size=buffer_size)
    for rows in chunks:
        hits = _hits_of([(t, c, n, 1.0) for t, c, n in rows])
        options = dict(gap_threshold=300, left_extension=20, right_extension=150, min_channels=1)
        expected = strax.find_peaks(hits, np.ones(4), result_dtype=dtype, **options)[::-1]
        assert finder(hits, np.ones(4), then=lambda found: found[::-1], **options).tobytes() == expected.tobytes()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(1, SAMPLES_PER_RECORD),
                                   st.lists(st.integers(-20, 60), min_size=SAMPLES_PER_RECORD,
                                            max_size=SAMPLES_PER_RECORD)),
                         max_size=12), min_size=1, max_size=3),
       st.integers(1, 6), st.booleans())
def test_hit_finder_reusing_its_buffer_finds_what_strax_finds(chunks, buffer_size, grow):
    from strax.processing.pulse_processing import _find_hits

    finder = KeptBuffer(_find_hits, strax.hit_dtype, buffer_size=buffer_size, grow=grow)
    for rows in chunks:
        records = np.zeros(len(rows), strax.record_dtype(SAMPLES_PER_RECORD))
        records["time"] = np.arange(len(rows)) * 10_000
        records["channel"] = [c for c, *_ in rows]
        records["length"] = [n for _, n, _ in rows]
        records["dt"] = DT
        records["baseline"] = 0.25
        records["data"] = np.array([v for *_, v in rows], np.int16).reshape(len(rows), SAMPLES_PER_RECORD)
        found = finder(records, np.full(4, 15.0), np.zeros(4))
        assert found.tobytes() == strax.find_hits(records, min_amplitude=np.full(4, 15.0)).tobytes()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**40), max_size=300), st.integers(0, 2**50))
def test_photoelectron_time_sort_sorts(times, offset):
    values = np.array(times, np.int64) + offset
    expected = np.sort(values)
    pmt_response._sort_in_place(values, np.empty(len(values), np.int64), np.zeros(257, np.int64))
    np.testing.assert_array_equal(values, expected)


def _afterpulse_case(n, p_afterpulse, capacity):
    response = np.zeros(1, pmt_response.RESPONSE_DTYPE)
    response[0]["p_afterpulse"], response[0]["spe_resolution"] = p_afterpulse, 0.3
    response[0]["afterpulse_min_ns"], response[0]["afterpulse_max_ns"] = 100.0, 1_000.0
    channel, time, area = np.zeros(capacity, np.int16), np.zeros(capacity, np.int64), np.zeros(capacity, np.float32)
    channel[:n], time[:n], area[:n] = np.arange(n) % 7, np.arange(n) * 10_000, 1.0
    return response, channel, time, area


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 300), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_afterpulses_refused_for_want_of_room_come_out_the_same_with_room(n, p_afterpulse, seed):
    gaussian = np.random.default_rng(0).standard_normal(pmt_response.RANDOM_TABLE_SIZE)
    response, *roomy = _afterpulse_case(n, p_afterpulse, 2 * n)
    state = pmt_response._rng_state(seed)
    end = pmt_response._append_afterpulses(state, gaussian, 0, n, *roomy, response)
    assert n <= end <= 2 * n
    tight_state = pmt_response._rng_state(seed)
    _, *tight = _afterpulse_case(n, p_afterpulse, n)
    refused = pmt_response._append_afterpulses(tight_state, gaussian, 0, n, *tight, response)
    if end == n:
        assert refused == n
    else:
        assert refused == -1 and tight_state[0] == pmt_response._rng_state(seed)[0]
    # an afterpulse follows its photoelectron on the same channel 100-1,000 ns later
    channel, time = roomy[0], roomy[1]
    source = time[n:end] // 10_000
    assert np.all(np.diff(source) > 0)  # in the photoelectrons' order, at most one each
    assert np.all((time[n:end] - time[source] >= 100) & (time[n:end] - time[source] < 1_000))
    np.testing.assert_array_equal(channel[n:end], channel[source])
    if end > n:  # refused for want of room, then given room: the same afterpulses
        grown = [np.concatenate([a, np.zeros_like(a)]) for a in tight]
        assert pmt_response._append_afterpulses(tight_state, gaussian, 0, n, *grown, response) == end
        for a, b in zip(grown, roomy):
            np.testing.assert_array_equal(a, b)


def test_afterpulses_come_at_their_probability():
    gaussian = np.random.default_rng(0).standard_normal(pmt_response.RANDOM_TABLE_SIZE)
    n, p_afterpulse = 100_000, 0.02
    response, *arrays = _afterpulse_case(n, p_afterpulse, 2 * n)
    end = pmt_response._append_afterpulses(pmt_response._rng_state(1), gaussian, 0, n, *arrays, response)
    assert abs((end - n) - n * p_afterpulse) < 5 * np.sqrt(n * p_afterpulse)
    assert np.median(arrays[2][n:end]) == pytest.approx(1.0, abs=0.05)


pulses = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3_000), st.integers(1, 3 * SAMPLES_PER_RECORD),
              st.integers(0, 1), st.floats(0.0, 0.99), st.integers(0, 2**31)),
    min_size=1, max_size=12,
)


def _records_of(pulses):
    """Records of pulses (channel, start sample, length, bit shift, baseline fraction, seed), a
    pulse cut into consecutive records as strax does; sparse hits, some saturating. A
    pulse that overlaps an earlier one of its channel is left out (a digitiser channel records
    one pulse at a time)."""
    rows, taken = [], []
    for channel, start, length, shift, fraction, seed in pulses:
        if any(c == channel and start < e and s < start + length for c, s, e in taken):
            continue
        taken.append((channel, start, start + length))
        rng = np.random.default_rng(seed)
        for k, first in enumerate(range(0, length, SAMPLES_PER_RECORD)):
            r = np.zeros(1, strax.record_dtype(SAMPLES_PER_RECORD))[0]
            r["time"] = (start + first) * DT
            r["channel"], r["dt"], r["record_i"] = channel, DT, k
            r["pulse_length"], r["length"] = length, min(SAMPLES_PER_RECORD, length - first)
            r["amplitude_bit_shift"], r["baseline"] = shift, 100 + fraction
            samples = rng.integers(-40, 20, r["length"])
            spikes = rng.random(r["length"]) < 0.1
            samples[spikes] = rng.integers(60, 120, spikes.sum())
            r["data"][:r["length"]] = samples
            rows.append(r)
    return strax.sort_by_time(np.array(rows))


@settings(max_examples=60, deadline=None)
@given(pulses, st.booleans())
def test_sum_waveform_equals_strax(pulses, store_top):
    from ddplugins.peaks._sum_waveform import sum_waveform

    records = _records_of(pulses)
    hits = strax.sort_by_time(strax.find_hits(records, min_amplitude=np.full(4, 60)))
    assume(len(hits))
    to_pe = np.array([0.01, 0.02, 0.005, 0.011])
    dtype = strax.peak_dtype(n_channels=4, n_sum_wv_samples=20, store_data_top=True, store_data_start=True)
    peaks = strax.find_peaks(hits, to_pe, gap_threshold=300, left_extension=20, right_extension=150,
                             min_channels=1, min_area=0, result_dtype=dtype)
    assume(len(peaks))
    strax.find_hit_integration_bounds(hits, np.zeros(0, dtype=strax.time_dt_fields), records,
                                      save_outside_hits=(30, 200), n_channels=4,
                                      allow_bounds_beyond_records=True)
    hits["time"] -= (hits["left"] - hits["left_integration"]) * hits["dt"]
    hits["length"] = hits["right_integration"] - hits["left_integration"]
    hits = strax.sort_by_time(hits)
    expected, found = peaks.copy(), peaks.copy()
    links = strax.record_links(records)
    strax.sum_waveform(expected, hits, records, links, to_pe, n_top_channels=2,
                       store_data_top=store_top, store_data_start=True)
    sum_waveform(found, hits, records, links, to_pe, 2, store_top, True)
    assert found.tobytes() == expected.tobytes()


@settings(max_examples=60, deadline=None)
@given(pulses, st.lists(st.floats(1.0, 130.0), min_size=4, max_size=4),
       st.lists(st.floats(0.0, 30.0), min_size=4, max_size=4), st.floats(0.0, 8.0))
def test_find_hits_equals_strax(pulses, min_amplitude, min_height_over_noise, baseline_rms):
    from ddplugins.peaks._find_hits import find_hits

    records = _records_of(pulses)
    records["baseline_rms"] = baseline_rms
    thresholds = np.array(min_amplitude), np.array(min_height_over_noise)
    expected = strax.find_hits(records, *thresholds)
    assert find_hits(records, *thresholds).tobytes() == expected.tobytes()


@settings(max_examples=60, deadline=None)
@given(pulses, st.integers(1, 60), st.integers(0, 10))
def test_records_from_raw_equals_strax_pulse_processing(pulses, baseline_samples, drop_first):
    """One pass = strax's raw_to_records, zero_out_of_bounds, baseline (flipped), integrate;
    pulses shorter than the baseline window, continuation records, stray samples beyond a
    record's length."""
    records = _records_of(pulses)
    raw = np.zeros(len(records), strax.raw_record_dtype(SAMPLES_PER_RECORD))
    for name in ("time", "length", "dt", "channel", "pulse_length", "record_i"):
        raw[name] = records[name]
    raw["data"] = 16000 - records["data"]  # beyond the length too: raw_to_records must drop it
    expected = strax.raw_to_records(raw)
    strax.zero_out_of_bounds(expected)
    strax.baseline(expected, baseline_samples=baseline_samples, flip=True)
    strax.integrate(expected)
    assert records_from_raw(raw, baseline_samples).tobytes() == expected.tobytes()
    continuation = np.flatnonzero(raw["record_i"] > 0)
    if drop_first and len(continuation):  # its pulse's first record cut away
        cut = raw[raw["record_i"] > 0][:1]
        with pytest.raises(RuntimeError, match="missing 0th fragment"):
            records_from_raw(cut, baseline_samples)


@settings(max_examples=60, deadline=None)
@given(pulses, st.integers(0, 100), st.integers(0, 400))
def test_integration_bounds_equal_strax(pulses, left_ns, right_ns):
    """On hits as find_hits returns them (record order), as strax's on the time-sorted hits."""
    from ddplugins.peaks._find_hits import find_hits, set_integration_bounds

    records = _records_of(pulses)
    hits = find_hits(records, np.full(4, 60.0), np.zeros(4))
    expected = strax.sort_by_time(hits)
    strax.find_hit_integration_bounds(expected, np.zeros(0, dtype=strax.time_dt_fields), records,
                                      save_outside_hits=(left_ns, right_ns), n_channels=4,
                                      allow_bounds_beyond_records=True)
    set_integration_bounds(hits, left_ns, right_ns, 4)
    assert strax.sort_by_time(hits).tobytes() == expected.tobytes()
