"""Numba kernels of the detector response: photons -> photoelectrons -> digitised raw records.

``simulate_photoelectrons`` turns per-event S1 photon counts and S2 electron counts into single
photoelectrons (channel, time, area); ``digitize`` turns those into zero-suppressed strax
``raw_records``. Random numbers come from numba's generator, seeded per call, so the output is a
pure function of the inputs and the seed.
"""

import numba
import numpy as np

RANDOM_TABLE_SIZE = 1 << 16  # values in each table of random numbers (16-bit indices)


def spe_template_cdf(rise_ns=4.0, length_ns=120):
    """Cumulative single-PE pulse shape at 1 ns steps, normalised to 1.

    The shape is t^2 exp(-t / rise): a fast rise and an exponential tail, ~14 ns wide, like a
    typical PMT single-photoelectron pulse.
    """
    t = np.arange(length_ns + 1, dtype=np.float64)
    pulse = t**2 * np.exp(-t / rise_ns)
    cdf = np.cumsum(pulse)
    return cdf / cdf[-1]


def sample_fractions(template_cdf, dt):
    """(dt, n) array: the share of a single-PE pulse in each of n samples, for a photoelectron
    arriving 0 .. dt-1 ns after the start of its first sample."""
    template_len = len(template_cdf) - 1
    n = template_len // dt + 2
    fractions = np.zeros((dt, n))
    for offset in range(dt):
        for k in range(n):
            lo = min(max(k * dt - offset, 0), template_len)
            hi = min(max((k + 1) * dt - offset, 0), template_len)
            fractions[offset, k] = template_cdf[hi] - template_cdf[lo]
    return fractions


@numba.njit(cache=True)
def _gaussian_table(size):
    """Standard normal values to draw noise from by index: a table lookup costs a fraction of a
    Box-Muller draw, which dominated digitisation time (millions of samples per chunk)."""
    return np.random.standard_normal(size)


@numba.njit(cache=True)
def _exponential_table(size):
    """Unit-mean exponential values to draw delays from by index (no logarithm per photon)."""
    return np.random.exponential(1.0, size)


@numba.njit(cache=True, inline="always")
def _next(state):
    """xorshift64 step on a one-element uint64 array; cheaper than numba's Mersenne twister,
    which dominated the per-sample and per-photon loops."""
    x = state[0]
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    state[0] = x
    return x


@numba.njit(cache=True, inline="always")
def _next_fields(state):
    """xorshift64* output: four 16-bit fields good enough to draw four things from one step."""
    return _next(state) * np.uint64(2685821657736338717)


@numba.njit(cache=True, inline="always")
def _field(bits, k):
    """The k-th 16-bit field of ``bits`` as an index (0 .. 65535)."""
    return np.int64((bits >> np.uint64(16 * k)) & np.uint64(0xFFFF))


@numba.njit(cache=True, inline="always")
def _unit(bits, k):
    """A uniform value in [0, 1) from the k-th 16-bit field of ``bits``."""
    return _field(bits, k) * (1.0 / 65536.0)


@numba.njit(cache=True, inline="always")
def _uniform(state):
    return np.float64(_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, inline="always")
def _from_table(state, table):
    return table[np.int64(_next(state) >> np.uint64(48))]


@numba.njit(cache=True)
def _rng_state(seed):
    return np.array([np.uint64(seed) * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)])


@numba.njit(cache=True)
def _grow(array, needed):
    if needed <= len(array):
        return array
    bigger = np.empty(max(needed, 2 * len(array)), array.dtype)
    bigger[: len(array)] = array
    return bigger


@numba.njit(cache=True, inline="always")
def _push(stack, sizes, i, small):
    if small:
        stack[sizes[0]] = i
        sizes[0] += 1
    else:
        stack[len(stack) - 1 - sizes[1]] = i
        sizes[1] += 1


@numba.njit(cache=True)
def _alias_table(weights):
    """Walker's alias table of a discrete distribution (Vose's construction): (threshold, alias).
    A draw costs one random number whatever the number of outcomes."""
    n = len(weights)
    scaled = weights * (n / weights.sum())
    threshold = np.ones(n)
    alias = np.arange(n)
    # one stack for outcomes under their share (from the front), one for the others (from the back)
    stack = np.empty(n, np.int64)
    sizes = np.zeros(2, np.int64)
    for i in range(n):
        _push(stack, sizes, i, scaled[i] < 1.0)
    while sizes[0] and sizes[1]:
        sizes -= 1
        s, g = stack[sizes[0]], stack[n - 1 - sizes[1]]
        threshold[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        _push(stack, sizes, g, scaled[g] < 1.0)
    return threshold, alias


@numba.njit(cache=True, inline="always")
def _pick_either(first, threshold_a, alias_a, channels_a, threshold_b, alias_b, channels_b, state):
    """A channel from alias table a if ``first``, else from b; both drawn, one kept, so the
    choice costs no branch (top or bottom array is a coin flip per photon)."""
    bits = _next(state)
    high, low = bits >> np.uint64(32), np.float64(bits & np.uint64(0xFFFFFFFF)) * (1.0 / 4294967296.0)
    i = np.int64(high * np.uint64(len(channels_a)) >> np.uint64(32))
    i += np.int64(low >= threshold_a[i]) * (alias_a[i] - i)
    k = np.int64(high * np.uint64(len(channels_b)) >> np.uint64(32))
    k += np.int64(low >= threshold_b[k]) * (alias_b[k] - k)
    return channels_b[k] + np.int64(first) * (channels_a[i] - channels_b[k])


@numba.njit(cache=True)
def _solid_angle_table(channels, pmt_x, pmt_y, x, y, height):
    """Alias table of the PMTs' light shares as seen from a point ``height`` below their plane."""
    weights = np.empty(len(channels))
    for k in range(len(channels)):
        c = channels[k]
        d2 = (pmt_x[c] - x) ** 2 + (pmt_y[c] - y) ** 2 + height**2
        weights[k] = height / d2**1.5
    return _alias_table(weights)


EVENT_DTYPE = np.dtype([
    ("time", np.int64),            # interaction time [ns]
    ("x", np.float64),             # [cm]
    ("y", np.float64),             # [cm]
    ("depth", np.float64),         # below the gate [cm]
    ("s2_x", np.float64),          # where the electrons leave the liquid [cm]
    ("s2_y", np.float64),          # [cm]
    ("s1_detected", np.int64),     # detected S1 photons
    ("s2_electrons", np.int64),    # electrons reaching the gas
    ("drift_time", np.float64),    # [ns]
])
"""Per-event input of :func:`simulate_photoelectrons`."""

RESPONSE_DTYPE = np.dtype([
    ("s1_aft_top", np.float64),               # S1 area fraction top at the gate
    ("s1_aft_bottom", np.float64),            # ... and at the cathode
    ("tpc_length", np.float64),               # [cm]
    ("top_array_height", np.float64),         # top PMT plane above the gate [cm]
    ("bottom_array_depth", np.float64),       # bottom PMT plane below the cathode [cm]
    ("s2_aft", np.float64),
    ("s2_lrf_height", np.float64),            # [cm]
    ("s2_photons_per_electron", np.float64),  # mean detected photons per extracted electron
    ("diffusion_sigma_per_sqrt_ns", np.float64),  # longitudinal diffusion [ns / sqrt(ns)]
    ("surface_delay_ns", np.float64),
    ("luminescence_ns", np.float64),
    ("gas_singlet_fraction", np.float64),
    ("gas_singlet_ns", np.float64),
    ("gas_triplet_ns", np.float64),
    ("transit_spread_ns", np.float64),
    ("p_double_pe", np.float64),
    ("spe_resolution", np.float64),
    ("p_afterpulse", np.float64),
    ("afterpulse_min_ns", np.float64),
    ("afterpulse_max_ns", np.float64),
    ("p_photoionization", np.float64),
    ("photoionization_window_ns", np.float64),  # longest drift time [ns]
])
"""Detector-response parameters of :func:`simulate_photoelectrons` (one record)."""


@numba.njit(cache=True)
def _append_afterpulses(state, gaussian, lo, hi, channel, time, area, response):
    """Afterpulses of photoelectrons lo..hi-1, appended from hi: each photoelectron makes one with
    probability ``p_afterpulse``, uniformly delayed. Returns the new end, or -1 (and the generator
    as it was) where the arrays are too short.

    A function of its own because, written inline in ``simulate_photoelectrons`` (whose loop
    grows and so reassigns these arrays), the same loop took 30 ns per photoelectron instead of
    ~2 (0.25 s of every 2,000 realistic XENON1T events)."""
    p = response[0]
    start = state[0]
    n = hi
    for i in range(lo, hi):
        if _uniform(state) < p.p_afterpulse:
            if n == len(channel):
                state[0] = start
                return -1
            channel[n] = channel[i]
            time[n] = time[i] + np.int64(
                p.afterpulse_min_ns + _uniform(state) * (p.afterpulse_max_ns - p.afterpulse_min_ns))
            area[n] = max(1.0 + p.spe_resolution * _from_table(state, gaussian), 0.05)
            n += 1
    return n


@numba.njit(cache=True)
def simulate_photoelectrons(seed, events, s1_delays, top_channels, bottom_channels, pmt_x, pmt_y, response):
    """Photoelectrons of all events: (channel int16, time int64 [ns], area float32 [PE]) in event
    order, and each event's first photoelectron (int64, one more entry than events)."""
    p = response[0]
    s1_aft_top, s1_aft_bottom, tpc_length = p.s1_aft_top, p.s1_aft_bottom, p.tpc_length
    top_array_height, bottom_array_depth = p.top_array_height, p.bottom_array_depth
    s2_aft, s2_lrf_height, s2_photons_per_electron = p.s2_aft, p.s2_lrf_height, p.s2_photons_per_electron
    diffusion_sigma_per_sqrt_ns, surface_delay_ns = p.diffusion_sigma_per_sqrt_ns, p.surface_delay_ns
    luminescence_ns, gas_singlet_fraction = p.luminescence_ns, p.gas_singlet_fraction
    gas_singlet_ns, gas_triplet_ns, transit_spread_ns = p.gas_singlet_ns, p.gas_triplet_ns, p.transit_spread_ns
    p_double_pe, spe_resolution, p_afterpulse = p.p_double_pe, p.spe_resolution, p.p_afterpulse
    p_photoionization, photoionization_window_ns = p.p_photoionization, p.photoionization_window_ns
    event_time, drift_time = events["time"], events["drift_time"]
    s1_detected, s2_electrons = events["s1_detected"], events["s2_electrons"]
    np.random.seed(seed)
    gaussian = _gaussian_table(RANDOM_TABLE_SIZE)
    exponential = _exponential_table(RANDOM_TABLE_SIZE)
    state = _rng_state(seed)
    channel = np.empty(4096, np.int16)
    time = np.empty(4096, np.int64)
    area = np.empty(4096, np.float32)
    n = 0
    delay_i = 0
    uniform_threshold, uniform_alias = _alias_table(np.ones(len(bottom_channels)))
    event_first = np.empty(len(event_time) + 1, np.int64)
    for ev in range(len(event_time)):
        ev_start = event_first[ev] = n
        x, y, depth = events[ev]["x"], events[ev]["y"], events[ev]["depth"]
        # S1: share between arrays by a depth-dependent AFT, within an array by solid angle
        aft = s1_aft_top + (s1_aft_bottom - s1_aft_top) * depth / tpc_length
        top_threshold, top_alias = _solid_angle_table(top_channels, pmt_x, pmt_y, x, y, depth + top_array_height)
        bottom_threshold, bottom_alias = _solid_angle_table(
            bottom_channels, pmt_x, pmt_y, x, y, tpc_length - depth + bottom_array_depth
        )
        n_photons = s1_detected[ev]
        # S2: electrons, each making a Poisson number of detected photons
        sigma = diffusion_sigma_per_sqrt_ns * np.sqrt(max(drift_time[ev], 0.0))
        lrf_threshold, lrf_alias = _solid_angle_table(
            top_channels, pmt_x, pmt_y, events[ev]["s2_x"], events[ev]["s2_y"], s2_lrf_height
        )
        n_electrons = s2_electrons[ev]
        n_pi = np.random.poisson(p_photoionization * n_electrons) if p_photoionization > 0 else 0
        for e in range(n_photons + n_electrons + n_pi):
            if e < n_photons:
                k = 1
                base_t = s1_delays[delay_i]
                delay_i += 1
            else:
                k = np.random.poisson(s2_photons_per_electron)
                base_t = drift_time[ev]
                if e < n_photons + n_electrons:
                    base_t += _from_table(state, gaussian) * sigma + -surface_delay_ns * np.log(1.0 - _uniform(state))
                else:
                    # photoionised electrons come from the liquid between the vertex and the cathode
                    base_t += _uniform(state) * max(photoionization_window_ns - drift_time[ev], 0.0)
            channel = _grow(channel, n + 2 * k)
            time = _grow(time, n + 2 * k)
            area = _grow(area, n + 2 * k)
            for _ in range(k):
                # one generator step gives four 16-bit draws: a photon takes two or three steps
                # (one for its PMT) instead of eight draws
                if e < n_photons:
                    t = base_t
                    bits = _next_fields(state)
                    ch = _pick_either(_unit(bits, 0) < aft, top_threshold, top_alias, top_channels,
                                      bottom_threshold, bottom_alias, bottom_channels, state)
                else:
                    bits = _next_fields(state)
                    t = base_t + _unit(bits, 0) * luminescence_ns
                    gas_tau = gas_singlet_ns if _unit(bits, 1) < gas_singlet_fraction else gas_triplet_ns
                    t += gas_tau * exponential[_field(bits, 2)]
                    ch = _pick_either(_unit(bits, 3) < s2_aft, lrf_threshold, lrf_alias, top_channels,
                                      uniform_threshold, uniform_alias, bottom_channels, state)
                    bits = _next_fields(state)
                # fields 1-3 of the photon's last step: transit time, double PE, first PE's area
                t += gaussian[_field(bits, 1)] * transit_spread_ns
                n_pe = 2 if _unit(bits, 2) < p_double_pe else 1
                for pe in range(n_pe):
                    channel[n] = ch
                    # times relative to the event: float64 cannot resolve ns at epoch scale
                    time[n] = event_time[ev] + np.int64(t)
                    spread = gaussian[_field(bits, 3)] if pe == 0 else _from_table(state, gaussian)
                    area[n] = max(1.0 + spe_resolution * spread, 0.05)
                    n += 1
        if p_afterpulse > 0:
            end = -1
            while end < 0:
                end = _append_afterpulses(state, gaussian, ev_start, n, channel, time, area, response)
                if end < 0:
                    channel, time, area = _grow(channel, 2 * n), _grow(time, 2 * n), _grow(area, 2 * n)
            n = end
    event_first[len(event_time)] = n
    return channel[:n], time[:n], area[:n], event_first


def with_single_photoelectrons(channel, time, area, event_first, event_time, extra_channel, extra_time, extra_area):
    """Photoelectrons of events (``event_first``: each event's first, and the end) merged with
    single photoelectrons of their own (dark counts), each a one-photoelectron event placed
    among the events by time, so that ``sort_photoelectrons`` still finds small blocks."""
    sizes = np.concatenate([np.diff(event_first), np.ones(len(extra_time), np.int64)])
    firsts = np.concatenate([event_first[:-1], len(channel) + np.arange(len(extra_time))])
    order = np.argsort(np.concatenate([event_time, extra_time]), kind="stable")
    sizes, firsts = sizes[order], firsts[order]
    new_first = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=new_first[1:])
    take = np.repeat(firsts - new_first[:-1], sizes) + np.arange(new_first[-1])
    return (np.concatenate([channel, extra_channel])[take], np.concatenate([time, extra_time])[take],
            np.concatenate([area, extra_area])[take], new_first)


NOISE_TABLE_BITS = 18  # 256k noise values per run (1 MB: stays in cache); each pulse group reads a run of them


@numba.njit(cache=True)
def noise_table(seed, noise_rms):
    """Digitiser noise to add to a sample's signal before flooring to ADC counts: Gaussian with
    ``noise_rms`` [ADC], plus 0.5 so that flooring rounds."""
    np.random.seed(seed)
    return (np.random.standard_normal(1 << NOISE_TABLE_BITS) * noise_rms + 0.5).astype(np.float32)


@numba.njit(cache=True)
def _time_span(time, lo, hi):
    earliest, latest = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for i in range(lo, hi):
        earliest = min(earliest, time[i])
        latest = max(latest, time[i])
    return earliest, latest


@numba.njit(cache=True)
def _block_starts(time, event_first, separation):
    """The events that start a block: those after which every photoelectron comes more than
    ``separation`` ns after every photoelectron before (the first event always starts one)."""
    n_events = len(event_first) - 1
    none_yet, no_more = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    latest_before = np.full(n_events + 1, none_yet)
    earliest_after = np.full(n_events + 1, no_more)
    for ev in range(n_events):
        earliest, latest = _time_span(time, event_first[ev], event_first[ev + 1])
        latest_before[ev + 1] = max(latest_before[ev], latest)
        earliest_after[ev] = earliest
    for ev in range(n_events - 1, -1, -1):
        earliest_after[ev] = min(earliest_after[ev], earliest_after[ev + 1])
    starts = [0]
    for ev in range(1, n_events):
        if (latest_before[ev] != none_yet and earliest_after[ev] != no_more
                and earliest_after[ev] - latest_before[ev] > separation):
            starts.append(ev)
    return starts


@numba.njit(cache=True)
def _sort_in_place(values, buffer, counts):
    """Sort int64 ``values`` in place: insertion sort for the few photoelectrons a channel sees
    of most events; beyond, a radix sort on 8-bit digits of the offset from the smallest value
    (an S2 spans a few microseconds: two passes, and none of quicksort's mispredicted branches).
    ``buffer`` holds at least len(values) values, ``counts`` 257."""
    n = len(values)
    if n <= 24:
        for i in range(1, n):
            moving = values[i]
            k = i
            while k > 0 and values[k - 1] > moving:
                values[k] = values[k - 1]
                k -= 1
            values[k] = moving
        return
    smallest, span = values.min(), values.max() - values.min()
    source, target = values, buffer[:n]
    shift = 0
    while shift < 64 and (span >> shift) > 0:
        counts[:] = 0
        for v in source:
            counts[((v - smallest) >> shift & 255) + 1] += 1
        for d in range(256):
            counts[d + 1] += counts[d]
        for v in source:
            digit = (v - smallest) >> shift & 255
            target[counts[digit]] = v
            counts[digit] += 1
        source, target = target, source
        shift += 8
    if (shift // 8) % 2:  # the sorted values ended in the buffer
        values[:] = source


@numba.njit(cache=True)
def _sort_few(channel, time, area, lo, hi, sorted_channel, sorted_time, sorted_area):
    """Photoelectrons lo..hi-1 copied to the sorted arrays by (channel, time): insertion sort."""
    for i in range(lo, hi):
        k = i
        while k > lo and (sorted_channel[k - 1] > channel[i]
                          or (sorted_channel[k - 1] == channel[i] and sorted_time[k - 1] > time[i])):
            sorted_channel[k] = sorted_channel[k - 1]
            sorted_time[k] = sorted_time[k - 1]
            sorted_area[k] = sorted_area[k - 1]
            k -= 1
        sorted_channel[k] = channel[i]
        sorted_time[k] = time[i]
        sorted_area[k] = area[i]


@numba.njit(cache=True)
def sort_photoelectrons(channel, time, area, event_first, separation):
    """Photoelectrons ordered by block, then channel, then time, as new arrays (channel, time,
    area), and each block's first position.

    Blocks are runs of consecutive events, split where everything after comes more than
    ``separation`` ns after everything before. With events in their own time slots every event
    is a block: the sorts stay small (one event's photoelectrons per channel), and the records
    of one block all come before those of the next. Within a channel only the times are sorted:
    the areas are independent draws, so which time gets which area does not matter.
    """
    n_channels = np.int64(channel.max()) + 1 if len(channel) else 0
    sorted_channel = np.empty_like(channel)
    sorted_time = np.empty_like(time)
    sorted_area = np.empty_like(area)
    starts = _block_starts(time, event_first, separation)
    block_first = np.empty(len(starts) + 1, np.int64)
    first = np.zeros(n_channels + 1, np.int64)
    buffer = np.empty(len(time), np.int64)
    counts = np.zeros(257, np.int64)
    for b in range(len(starts)):
        lo = event_first[starts[b]]
        hi = event_first[starts[b + 1]] if b + 1 < len(starts) else len(channel)
        block_first[b] = lo
        if hi - lo <= 24:  # a few photoelectrons (a dark count): no pass over all channels
            _sort_few(channel, time, area, lo, hi, sorted_channel, sorted_time, sorted_area)
            continue
        # counting sort of the block by channel, then each channel's times
        first[:] = 0
        for i in range(lo, hi):
            first[channel[i] + 1] += 1
        for c in range(n_channels):
            first[c + 1] += first[c]
        fill = first[:-1] + lo
        for i in range(lo, hi):
            k = fill[channel[i]]
            sorted_channel[k] = channel[i]
            sorted_time[k] = time[i]
            sorted_area[k] = area[i]
            fill[channel[i]] = k + 1
        for c in range(n_channels):
            _sort_in_place(sorted_time[lo + first[c]:lo + first[c + 1]], buffer, counts)
    block_first[len(starts)] = len(channel)
    return sorted_channel, sorted_time, sorted_area, block_first


@numba.njit(cache=True)
def _append_time_sorted(records, n, out, n_out):
    """Append ``records[:n]`` to ``out`` at ``n_out`` in strax's order: time, then channel."""
    if n == 0:
        return n_out
    earliest, latest = records[0]["time"], records[0]["time"]
    for k in range(n):
        earliest = min(earliest, records[k]["time"])
        latest = max(latest, records[k]["time"])
    if latest - earliest < (1 << 46):
        key = np.empty(n, np.int64)
        for k in range(n):
            key[k] = ((records[k]["time"] - earliest) << 16) + records[k]["channel"]
        by_key = np.argsort(key, kind="mergesort")
    else:  # too long for one key: channel first, then a stable sort by time
        by_key = np.argsort(records["channel"][:n], kind="mergesort")
        by_key = by_key[np.argsort(records["time"][:n][by_key], kind="mergesort")]
    for k in range(n):
        out[n_out + k] = records[by_key[k]]
    return n_out + n


DIGITIZER_DTYPE = np.dtype([
    ("baseline", np.int64),              # [ADC counts]
    ("zle_threshold", np.int64),         # zero suppression: ADC counts below the baseline
    ("zle_window", np.int64),            # samples kept either side of a crossing
    ("samples_per_record", np.int64),
    ("dt", np.int64),                    # sample width [ns]
])
"""Digitizer parameters of :func:`digitize` and :func:`record_capacity` (one record)."""


def digitizer_parameters(baseline, zle_threshold, zle_window, samples_per_record, dt):
    """The digitizer record the kernels read."""
    digitizer = np.zeros(1, DIGITIZER_DTYPE)
    digitizer[0] = (baseline, zle_threshold, zle_window, samples_per_record, dt)
    return digitizer


@numba.njit(cache=True)
def digitize(seed, channel, time, area, block_first, fractions, noise, gains, digitizer, out, scratch):
    """Write zero-suppressed raw records of photoelectrons into ``out``, in strax's order.

    The photoelectrons come in blocks (``block_first``: where each starts, and the end), each
    sorted by channel, then time, and later than the records of the blocks before it can reach
    (see ``sort_photoelectrons``). A block's records are written into ``scratch`` channel after
    channel and appended to ``out`` sorted by time. Photoelectrons closer than twice the
    zero-suppression window form one group, digitised with Gaussian noise; samples more than
    ``zle_threshold`` below the baseline open a pulse that keeps ``zle_window`` samples either
    side (``digitizer``: a :data:`DIGITIZER_DTYPE` record); a photoelectron of area 1 integrates
    to its channel's ``gains`` [ADC x samples]. Returns the number of records written; ``out`` and
    ``scratch`` must hold at least the records ``record_capacity`` gives for all blocks and for
    the largest one.

    A sample counts floor(signal + noise) ADC below the baseline. The noise of a group's samples
    is a run of consecutive values of ``noise`` (``noise_table``) from a
    random start: independent Gaussian values within a pulse, read in order (drawing a random
    index per sample took three times as long). Only samples whose signal could cross the
    threshold with the largest noise value are looked at to find the pulses.
    """
    state = _rng_state(seed)
    n_out = 0
    largest_noise = noise.max()
    for block in range(len(block_first) - 1):
        n_block = _digitize_block(state, noise, largest_noise, channel, time, area, block_first[block],
                                  block_first[block + 1], fractions, gains, digitizer, scratch)
        n_out = _append_time_sorted(scratch, n_block, out, n_out)
    return n_out


@numba.njit(cache=True)
def _tiled(values, length):
    """``values`` repeated to ``length``: noise for a group longer than the table (>2 ms)."""
    tiled = np.empty(length, values.dtype)
    for k in range(length):
        tiled[k] = values[k % len(values)]
    return tiled


@numba.njit(cache=True)
def _digitize_block(state, noise, largest_noise, channel, time, area, i, n_pe, fractions, gains, digitizer, out):
    """Records of photoelectrons ``i`` to ``n_pe`` (sorted by channel, time) written into ``out``
    from its start, channel after channel; returns how many."""
    d = digitizer[0]
    baseline, zle_threshold, zle_window = d.baseline, d.zle_threshold, d.zle_window
    samples_per_record, dt = d.samples_per_record, d.dt
    could_cross = zle_threshold + 1 - largest_noise
    n_template = fractions.shape[1]
    gap = 2 * zle_window * dt + n_template * dt
    signal = np.zeros(1024)
    pulses = np.zeros((64, 2), np.int64)
    n_out = 0
    while i < n_pe:
        j = i + 1
        while j < n_pe and channel[j] == channel[i] and time[j] - time[j - 1] <= gap:
            j += 1
        first_sample = time[i] // dt - zle_window
        last_sample = time[j - 1] // dt + n_template + zle_window
        length = last_sample - first_sample
        if length > len(signal):
            signal = np.zeros(2 * length)
        signal[:length] = 0.0
        group_noise = noise if length <= len(noise) else _tiled(noise, length)
        # a random start from which the whole group's noise is read in order
        noise_start = np.int64((_next(state) >> np.uint64(11)) % np.uint64(len(group_noise) - length + 1))
        adc_per_pe = gains[channel[i]]
        for p in range(i, j):
            offset = time[p] - first_sample * dt
            s0 = offset // dt
            shape = fractions[offset - s0 * dt]
            amplitude = area[p] * adc_per_pe
            for k in range(min(n_template, length - s0)):
                signal[s0 + k] += amplitude * shape[k]
        # pass 1: where the threshold is crossed; pulses are [start, end) sample ranges
        n_pulses = 0
        # outside the photoelectrons' pulses the signal is 0: look there only if noise alone can cross
        scan_from, scan_to = (0, length) if could_cross <= 0 else (zle_window, length - zle_window)
        for s in range(scan_from, scan_to):
            if signal[s] < could_cross:
                continue
            if np.floor(signal[s] + group_noise[noise_start + s]) <= zle_threshold:
                continue
            lo = max(s - zle_window, 0)
            hi = min(length, s + zle_window + 1)
            if n_pulses and lo <= pulses[n_pulses - 1, 1]:
                pulses[n_pulses - 1, 1] = hi
            else:
                if n_pulses == len(pulses):
                    bigger = np.zeros((2 * n_pulses, 2), np.int64)
                    bigger[:n_pulses] = pulses
                    pulses = bigger
                pulses[n_pulses, 0] = lo
                pulses[n_pulses, 1] = hi
                n_pulses += 1
        # pass 2: write the pulses
        for q in range(n_pulses):
            start, end = pulses[q, 0], pulses[q, 1]
            pulse_length = end - start
            for record_i in range((pulse_length + samples_per_record - 1) // samples_per_record):
                r = out[n_out]
                r_start = start + record_i * samples_per_record
                n_samples = min(samples_per_record, end - r_start)
                r["time"] = (first_sample + r_start) * dt
                r["length"] = n_samples
                r["dt"] = dt
                r["channel"] = channel[i]
                r["pulse_length"] = pulse_length
                r["record_i"] = record_i
                r["baseline"] = baseline
                data = r["data"]
                for k in range(n_samples):
                    s = r_start + k
                    count = np.int64(np.floor(signal[s] + group_noise[noise_start + s]))
                    data[k] = max(baseline - count, 0)
                data[n_samples:] = 0
                n_out += 1
        i = j
    return n_out


@numba.njit(cache=True)
def record_capacity(channel, time, block_first, template_len_ns, digitizer):
    """Upper bounds on the records ``digitize`` writes: for all blocks, and for the largest."""
    total = largest = 0
    for block in range(len(block_first) - 1):
        lo, hi = block_first[block], block_first[block + 1]
        n = max_raw_records(channel[lo:hi], time[lo:hi], template_len_ns, digitizer)
        total += n
        largest = max(largest, n)
    return total, largest


@numba.njit(cache=True)
def max_raw_records(channel, time, template_len_ns, digitizer):
    """Upper bound on the records ``digitize`` writes for these photoelectrons."""
    d = digitizer[0]
    zle_window, samples_per_record, dt = d.zle_window, d.samples_per_record, d.dt
    gap = 2 * zle_window * dt + template_len_ns
    total = 0
    i = 0
    while i < len(time):
        j = i + 1
        while j < len(time) and channel[j] == channel[i] and time[j] - time[j - 1] <= gap:
            j += 1
        length = (time[j - 1] - time[i]) // dt + template_len_ns // dt + 3 + 2 * zle_window
        # every pulse spans >= 2 * zle_window + 1 samples and may end in a partial record
        total += length // samples_per_record + length // (2 * zle_window + 1) + 2
        i = j
    return total
