"""PMT array layouts generated from a few geometry parameters, or read from a table of a real
detector's PMTs (helpers of the TPC plugins)."""

import csv

import numpy as np

TOP, BOTTOM = 0, 1

pmt_dtype = np.dtype(
    [
        ("channel", np.int16),
        ("array", np.int8),
        ("x", np.float64),
        ("y", np.float64),
        ("alive", np.bool_),
        ("adc_per_pe", np.float64),  # the channel's gain [ADC x samples per PE]; NaN: the detector's
        ("relative_gain", np.float64),  # times the detector's adc_per_pe where adc_per_pe is NaN
    ]
)
ARRAY_NAMES = {"top": TOP, "bottom": BOTTOM, "0": TOP, "1": BOTTOM}


def ring_layout(n_rings, pitch_cm):
    """Concentric rings: ring k (k = 0..n_rings-1) holds max(1, 6k) PMTs at r = k * pitch."""
    xs, ys = [0.0], [0.0]
    for k in range(1, n_rings):
        phi = 2 * np.pi * np.arange(6 * k) / (6 * k)
        xs.extend(k * pitch_cm * np.cos(phi))
        ys.extend(k * pitch_cm * np.sin(phi))
    return np.asarray(xs), np.asarray(ys)


def hex_layout(pitch_cm, max_radius_cm):
    """Hexagonal grid with a PMT at the centre, all PMTs with r <= max_radius, row by row."""
    n = int(np.ceil(max_radius_cm / pitch_cm)) + 1
    j, i = np.mgrid[-2 * n : 2 * n + 1, -2 * n : 2 * n + 1]
    x = pitch_cm * (i + j / 2)
    y = pitch_cm * j * np.sqrt(3) / 2
    inside = np.hypot(x, y) <= max_radius_cm + 1e-9
    x, y = x[inside], y[inside]
    order = np.lexsort((x, -y))
    return x[order], y[order]


def pmt_layout(
    top_layout,
    top_pitch_cm,
    top_rings,
    top_max_radius_cm,
    bottom_pitch_cm,
    bottom_max_radius_cm,
    dead_channels=(),
    gain_spread=0.0,
):
    """Channel table: top array first (channels 0..n_top-1), then the bottom array. Each
    channel's gain is the detector's times a relative gain: 1, or with ``gain_spread`` > 0 a
    Gaussian draw of that relative width (at least 0.2), the same draw for every run and plugin
    (a detector's calibrated gains, known to processing as to simulation)."""
    if top_layout == "rings":
        top = ring_layout(top_rings, top_pitch_cm)
    elif top_layout == "hex":
        top = hex_layout(top_pitch_cm, top_max_radius_cm)
    else:
        raise ValueError(f"top_array_layout must be 'rings' or 'hex', not {top_layout!r}")
    bottom = hex_layout(bottom_pitch_cm, bottom_max_radius_cm)
    n_top, n_bottom = len(top[0]), len(bottom[0])
    pmts = np.zeros(n_top + n_bottom, dtype=pmt_dtype)
    pmts["channel"] = np.arange(len(pmts))
    pmts["array"][n_top:] = BOTTOM
    pmts["x"] = np.concatenate([top[0], bottom[0]])
    pmts["y"] = np.concatenate([top[1], bottom[1]])
    pmts["alive"] = True
    pmts["adc_per_pe"] = np.nan
    pmts["relative_gain"] = relative_gains(len(pmts), gain_spread)
    return with_dead_channels(pmts, dead_channels)


GAIN_SPREAD_SEED = 1609  # fixed: the spread is a property of the detector, not of a run


def relative_gains(n_channels, spread):
    """Relative gains of ``n_channels`` PMTs with a Gaussian spread (clipped at 0.2)."""
    if spread <= 0:
        return np.ones(n_channels)
    draws = np.random.default_rng(GAIN_SPREAD_SEED).standard_normal(n_channels)
    return np.maximum(1 + spread * draws, 0.2)


def with_dead_channels(pmts, dead_channels):
    dead = np.asarray(dead_channels, dtype=int)
    if np.any((dead < 0) | (dead >= len(pmts))):
        raise ValueError(f"dead_channels {tuple(dead)} outside channel range 0..{len(pmts) - 1}")
    pmts["alive"][dead] = False
    return pmts


def read_pmt_table(path, dead_channels=()):
    """The PMTs of a CSV with columns ``channel,array,x_cm,y_cm`` and optionally
    ``gain_adc_per_pe`` (0: a channel that is off), comment lines starting with '#' (as
    straxen's pmt_positions files have). Channels must be 0..n-1, each once, the top array's
    before the bottom's; a ValueError names the file, row and column of anything else."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = [line for line in f if not line.startswith("#")]
    reader = csv.DictReader(lines)
    missing = [c for c in ("channel", "array", "x_cm", "y_cm") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"PMT table {path}: missing column(s) {', '.join(missing)}")
    rows = list(reader)
    pmts = np.zeros(len(rows), dtype=pmt_dtype)
    pmts["relative_gain"] = 1.0
    for k, row in enumerate(rows):
        where = f"PMT table {path}, row with channel {row['channel']!r}"
        try:
            pmts[k]["channel"] = int(row["channel"])
            pmts[k]["x"], pmts[k]["y"] = float(row["x_cm"]), float(row["y_cm"])
            gain = row.get("gain_adc_per_pe")
            pmts[k]["adc_per_pe"] = float(gain) if gain not in (None, "") else np.nan
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if row["array"].strip().lower() not in ARRAY_NAMES:
            raise ValueError(f"{where}: array must be top or bottom, got {row['array']!r}")
        pmts[k]["array"] = ARRAY_NAMES[row["array"].strip().lower()]
        if pmts[k]["adc_per_pe"] < 0 or not np.isfinite(pmts[k]["x"] + pmts[k]["y"]):
            raise ValueError(f"{where}: position must be finite and gain not negative")
    if not np.array_equal(np.sort(pmts["channel"]), np.arange(len(pmts))):
        raise ValueError(f"PMT table {path}: channels must be 0..{len(pmts) - 1}, each once")
    pmts = pmts[np.argsort(pmts["channel"])]
    if np.any(np.diff(pmts["array"]) < 0):
        raise ValueError(f"PMT table {path}: the top array's channels must come before the bottom's")
    pmts["alive"] = ~(pmts["adc_per_pe"] == 0)
    return with_dead_channels(pmts, dead_channels)
