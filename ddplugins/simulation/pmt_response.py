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
def _pick(table, channels, state):
    """A channel drawn from an alias table: the upper bits choose a column, the lower 32 decide
    between the column and its alias."""
    threshold, alias = table
    bits = _next(state)
    i = np.int64((bits >> np.uint64(32)) * np.uint64(len(channels)) >> np.uint64(32))
    if np.float64(bits & np.uint64(0xFFFFFFFF)) * (1.0 / 4294967296.0) >= threshold[i]:
        i = alias[i]
    return channels[i]


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
def simulate_photoelectrons(seed, events, s1_delays, top_channels, bottom_channels, pmt_x, pmt_y, response):
    """Photoelectrons of all events: (channel int16, time int64 [ns], area float32 [PE])."""
    p = response[0]
    s1_aft_top, s1_aft_bottom, tpc_length = p.s1_aft_top, p.s1_aft_bottom, p.tpc_length
    top_array_height, bottom_array_depth = p.top_array_height, p.bottom_array_depth
    s2_aft, s2_lrf_height, s2_photons_per_electron = p.s2_aft, p.s2_lrf_height, p.s2_photons_per_electron
    diffusion_sigma_per_sqrt_ns, surface_delay_ns = p.diffusion_sigma_per_sqrt_ns, p.surface_delay_ns
    luminescence_ns, gas_singlet_fraction = p.luminescence_ns, p.gas_singlet_fraction
    gas_singlet_ns, gas_triplet_ns, transit_spread_ns = p.gas_singlet_ns, p.gas_triplet_ns, p.transit_spread_ns
    p_double_pe, spe_resolution, p_afterpulse = p.p_double_pe, p.spe_resolution, p.p_afterpulse
    afterpulse_min_ns, afterpulse_max_ns = p.afterpulse_min_ns, p.afterpulse_max_ns
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
    bottom_uniform = _alias_table(np.ones(len(bottom_channels)))
    for ev in range(len(event_time)):
        ev_start = n
        x, y, depth = events[ev]["x"], events[ev]["y"], events[ev]["depth"]
        # S1: share between arrays by a depth-dependent AFT, within an array by solid angle
        aft = s1_aft_top + (s1_aft_bottom - s1_aft_top) * depth / tpc_length
        top_table = _solid_angle_table(top_channels, pmt_x, pmt_y, x, y, depth + top_array_height)
        bottom_table = _solid_angle_table(
            bottom_channels, pmt_x, pmt_y, x, y, tpc_length - depth + bottom_array_depth
        )
        n_photons = s1_detected[ev]
        # S2: electrons, each making a Poisson number of detected photons
        sigma = diffusion_sigma_per_sqrt_ns * np.sqrt(max(drift_time[ev], 0.0))
        lrf_table = _solid_angle_table(
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
                if e < n_photons:
                    t = base_t
                    if _uniform(state) < aft:
                        ch = _pick(top_table, top_channels, state)
                    else:
                        ch = _pick(bottom_table, bottom_channels, state)
                else:
                    t = base_t + _uniform(state) * luminescence_ns
                    if _uniform(state) < gas_singlet_fraction:
                        t += gas_singlet_ns * _from_table(state, exponential)
                    else:
                        t += gas_triplet_ns * _from_table(state, exponential)
                    if _uniform(state) < s2_aft:
                        ch = _pick(lrf_table, top_channels, state)
                    else:
                        ch = _pick(bottom_uniform, bottom_channels, state)
                t += _from_table(state, gaussian) * transit_spread_ns
                n_pe = 2 if _uniform(state) < p_double_pe else 1
                for _pe in range(n_pe):
                    channel[n] = ch
                    # times relative to the event: float64 cannot resolve ns at epoch scale
                    time[n] = event_time[ev] + np.int64(t)
                    area[n] = max(1.0 + spe_resolution * _from_table(state, gaussian), 0.05)
                    n += 1
        if p_afterpulse > 0:
            ev_end = n
            for i in range(ev_start, ev_end):
                if _uniform(state) < p_afterpulse:
                    channel = _grow(channel, n + 1)
                    time = _grow(time, n + 1)
                    area = _grow(area, n + 1)
                    channel[n] = channel[i]
                    time[n] = time[i] + np.int64(
                        afterpulse_min_ns + _uniform(state) * (afterpulse_max_ns - afterpulse_min_ns)
                    )
                    area[n] = max(1.0 + spe_resolution * _from_table(state, gaussian), 0.05)
                    n += 1
    return channel[:n], time[:n], area[:n]


@numba.njit(cache=True, inline="always")
def _noise_index(state):
    """Next 16-bit index into the noise table: four per step of a xorshift64* generator (its
    multiplied output is good in every bit, unlike plain xorshift's low bits)."""
    if state[2] == 0:
        x = state[0]
        x ^= x >> np.uint64(12)
        x ^= x << np.uint64(25)
        x ^= x >> np.uint64(27)
        state[0] = x
        state[1] = x * np.uint64(2685821657736338717)
        state[2] = 4
    index = state[1] & np.uint64(0xFFFF)
    state[1] >>= np.uint64(16)
    state[2] -= 1
    return np.int64(index)


@numba.njit(cache=True)
def channel_time_order(channel, time):
    """The order of ``np.lexsort((time, channel))``: a counting sort by channel, then a stable
    sort of each channel's times (hundreds of channels: far fewer comparisons)."""
    n_channels = np.int64(channel.max()) + 1 if len(channel) else 0
    first = np.zeros(n_channels + 1, np.int64)
    for i in range(len(channel)):
        first[channel[i] + 1] += 1
    for c in range(n_channels):
        first[c + 1] += first[c]
    fill = first[:-1].copy()
    order = np.empty(len(channel), np.int64)
    for i in range(len(channel)):
        order[fill[channel[i]]] = i
        fill[channel[i]] += 1
    for c in range(n_channels):
        same_channel = order[first[c]:first[c + 1]]
        order[first[c]:first[c + 1]] = same_channel[np.argsort(time[same_channel], kind="mergesort")]
    return order


@numba.njit(cache=True)
def digitize(
    seed,
    channel,
    time,
    area,
    fractions,
    adc_per_pe,
    baseline,
    noise_rms,
    zle_threshold,
    zle_window,
    samples_per_record,
    dt,
    out,
):
    """Write zero-suppressed raw records of photoelectrons (sorted by channel, time) into ``out``.

    Photoelectrons closer than twice the zero-suppression window form one group, digitised with
    Gaussian noise; samples more than ``zle_threshold`` below the baseline open a pulse that keeps
    ``zle_window`` samples either side. Returns the number of records written; ``out`` must hold
    at least ``max_raw_records(...)`` records.

    Noise is drawn once per sample, in two passes: first for the samples whose signal could
    cross the threshold with the largest noise value (they decide where pulses are), then for
    the other samples of the pulses as they are written; samples outside pulses need none.
    """
    np.random.seed(seed)
    noise = _gaussian_table(RANDOM_TABLE_SIZE) * noise_rms + 0.5  # count = floor(signal + noise)
    could_cross = zle_threshold + 1 - noise.max()
    state = np.zeros(3, np.uint64)
    state[0] = _rng_state(seed)[0]
    n_template = fractions.shape[1]
    gap = 2 * zle_window * dt + n_template * dt
    signal = np.zeros(1024)
    counts = np.zeros(1024, np.int64)
    decided = np.zeros(1024, np.bool_)
    pulses = np.zeros((64, 2), np.int64)
    n_out = 0
    i = 0
    n_pe = len(time)
    while i < n_pe:
        j = i + 1
        while j < n_pe and channel[j] == channel[i] and time[j] - time[j - 1] <= gap:
            j += 1
        first_sample = time[i] // dt - zle_window
        last_sample = time[j - 1] // dt + n_template + zle_window
        length = last_sample - first_sample
        if length > len(signal):
            signal = np.zeros(2 * length)
            counts = np.zeros(2 * length, np.int64)
            decided = np.zeros(2 * length, np.bool_)
        signal[:length] = 0.0
        for p in range(i, j):
            offset = time[p] - first_sample * dt
            s0 = offset // dt
            shape = fractions[offset - s0 * dt]
            amplitude = area[p] * adc_per_pe
            for k in range(min(n_template, length - s0)):
                signal[s0 + k] += amplitude * shape[k]
        # pass 1: where the threshold is crossed; pulses are [start, end) sample ranges
        n_pulses = 0
        for s in range(length):
            decided[s] = signal[s] >= could_cross
            if not decided[s]:
                continue
            counts[s] = np.int64(np.floor(signal[s] + noise[_noise_index(state)]))
            if counts[s] <= zle_threshold:
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
        # pass 2: write the pulses, drawing noise for the samples not decided yet
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
                    if decided[s]:
                        count = counts[s]
                    else:
                        count = np.int64(np.floor(signal[s] + noise[_noise_index(state)]))
                    data[k] = max(baseline - count, 0)
                data[n_samples:] = 0
                n_out += 1
        i = j
    return n_out


@numba.njit(cache=True)
def max_raw_records(channel, time, template_len_ns, zle_window, samples_per_record, dt):
    """Upper bound on the records ``digitize`` writes for these photoelectrons."""
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
