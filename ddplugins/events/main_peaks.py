"""Selecting each event's main and alternate S1 and S2 among its peaks (numba)."""

import numba
import numpy as np
import strax

from ddplugins.peaks.peak_basics import S1, S2


@numba.njit(cache=True)
def _two_largest(first, last, wanted_type, before, peak_time, peak_type, peak_area):
    """Indices of the largest and second largest peaks of a type in [first, last) that start
    before ``before`` (-1 where there is none)."""
    largest, second = -1, -1
    for p in range(first, last):
        if peak_type[p] != wanted_type or peak_time[p] >= before:
            continue
        if largest == -1 or peak_area[p] > peak_area[largest]:
            second = largest
            largest = p
        elif second == -1 or peak_area[p] > peak_area[second]:
            second = p
    return largest, second


@numba.njit(cache=True)
def _main_peaks(event_time, event_endtime, peak_time, peak_type, peak_area, result):
    """result[:, 0..4] = peak index of main S1, main S2, alternate S1, alternate S2 (-1: none),
    number of peaks in the event.

    The main S2 is the largest S2 in the event; the main S1 the largest S1 before the main S2;
    the alternates are the second largest of each.
    """
    first = 0
    n_peaks = len(peak_time)
    for ev in range(len(event_time)):
        while first < n_peaks and peak_time[first] < event_time[ev]:
            first += 1
        last = first
        while last < n_peaks and peak_time[last] < event_endtime[ev]:
            last += 1
        main_s2, alt_s2 = _two_largest(first, last, S2, event_endtime[ev], peak_time, peak_type, peak_area)
        s1_before = peak_time[main_s2] if main_s2 != -1 else event_endtime[ev]
        main_s1, alt_s1 = _two_largest(first, last, S1, s1_before, peak_time, peak_type, peak_area)
        result[ev, 0] = main_s1
        result[ev, 1] = main_s2
        result[ev, 2] = alt_s1
        result[ev, 3] = alt_s2
        result[ev, 4] = last - first


def main_peak_indices(events, peaks):
    """(n_events, 5) int array: main S1, main S2, alt S1, alt S2 indices into peaks, n_peaks."""
    result = np.full((len(events), 5), -1, np.int64)
    if len(events):
        _main_peaks(
            events["time"],
            strax.endtime(events),
            peaks["time"],
            peaks["type"],
            peaks["area"].astype(np.float64),
            result,
        )
    return result


def take(values, index, fill=0):
    """values[index] with ``fill`` where index is -1 (works for subarray fields too)."""
    picked = np.asarray(values)[np.maximum(index, 0)]
    missing = (index < 0).reshape((-1,) + (1,) * (picked.ndim - 1))
    return np.where(missing, fill, picked)
