"""strax kernels that fill a result buffer (``strax.growing_result``), run with one buffer kept
between calls.

strax's wrapper allocates a fresh zeroed buffer on every call and copies and concatenates it each
time it fills: for ``find_peaks`` a 35 MB buffer of 10,000 peaks per call, for ``find_hits`` a
buffer of 10,000 hits filled and copied ~100 times per chunk of 400,000 records (40% of
find_hits' time). ``KeptBuffer`` keeps the buffer, grows it to the largest result seen and
zeroes only the rows a call used, so each call starts from the same all-zero buffer as strax's
and returns the same rows.
"""

import numpy as np


class KeptBuffer:
    """Call ``function`` (a ``strax.growing_result`` kernel) with a kept result buffer.

    Kernels that fill only some fields of a row rely on the rest being zero, and a rejected
    last candidate can leave its row written: both are covered by zeroing every row used.
    """

    def __init__(self, function, dtype, buffer_size=int(1e4), grow=True):
        self.function = function
        self.kernel = getattr(function, "__wrapped__", None)
        self.buffer = np.zeros(buffer_size, dtype)
        self.grow = grow

    def __call__(self, *args, then=None, **kwargs):
        """The kernel's result for ``args``; with ``then``, ``then(result)``, given the rows in
        the buffer itself when they fit it (not copied first: ``then`` may change them, e.g.
        sort them into a new array)."""
        dtype = self.buffer.dtype
        if self.kernel is None:  # a strax without the growing-result wrapper: its own path
            result = self.function(*args, result_dtype=dtype, **kwargs)
            return result if then is None else then(result)
        found, used, made = [], 0, None
        try:
            for n_added in self.kernel(*args, _result_buffer=self.buffer, **kwargs):
                found.append(self.buffer[:n_added].copy() if found or n_added == len(self.buffer) or then is None
                             else self.buffer[:n_added])
                used = max(used, n_added)
            if len(found) == 1 and then is not None:
                made = then(found[0])  # before the buffer is zeroed
                if np.may_share_memory(made, self.buffer):
                    made = made.copy()
        finally:
            self.buffer[:used + 1] = 0
        if made is not None:
            return made
        if not found:
            result = np.zeros(0, dtype)
            return result if then is None else then(result)
        if len(found) == 1:
            return found[0]
        result = np.concatenate(found)
        if self.grow:
            self.buffer = np.zeros(len(result) + len(result) // 4, dtype)
        return result if then is None else then(result)
