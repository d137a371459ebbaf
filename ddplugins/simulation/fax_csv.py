"""Import and export of FaX instruction tables as CSV.

Columns (one row per event, as in the seed slides):
``instruction,recoil_type,x,y,depth,s1_photons,s2_electrons,t`` with recoil_type ``ER`` or ``NR``,
positions in cm (depth positive below the gate) and ``t`` the interaction time in ns after the start
of the event's time slot.
"""

import csv

import numpy as np

from ddplugins.simulation.quanta import ER, NR

INT32_MAX = 2**31 - 1
COLUMNS = ("instruction", "recoil_type", "x", "y", "depth", "s1_photons", "s2_electrons", "t")
RECOIL_NAMES = {ER: "ER", NR: "NR"}


class FaxCSVError(ValueError):
    pass


def read_fax_csv(path):
    """dict of column arrays; a clear error names the file, row and column of bad input."""
    try:
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column name
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise FaxCSVError(f"Cannot read FaX instruction file {path}: {e}") from None
    with f:
        try:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise FaxCSVError(f"{path}: missing column(s) {', '.join(missing)}; need {','.join(COLUMNS)}")
            rows = list(reader)
        except UnicodeDecodeError as e:
            raise FaxCSVError(f"{path}: not UTF-8 text (byte {e.start}); save the CSV as UTF-8") from None
    columns = {c: [] for c in COLUMNS}
    for row_number, row in enumerate(rows, start=2):
        where = f"{path} row {row_number}"
        recoil = row["recoil_type"].strip().upper()
        if recoil not in ("ER", "NR"):
            raise FaxCSVError(f"{where}: recoil_type must be ER or NR, got {row['recoil_type']!r}")
        columns["recoil_type"].append(NR if recoil == "NR" else ER)
        for name in ("instruction", "s1_photons", "s2_electrons", "t"):
            try:
                number = float(row[name])
            except (TypeError, ValueError):
                raise FaxCSVError(f"{where}: {name} must be an integer, got {row[name]!r}") from None
            if not number.is_integer():
                # the simulator counts whole quanta and nanoseconds: 50.7 would silently become 50
                raise FaxCSVError(f"{where}: {name} must be a whole number, got {row[name]!r}")
            value = int(number)
            if value < 0:
                raise FaxCSVError(f"{where}: {name} must not be negative, got {value}")
            if value > INT32_MAX:
                raise FaxCSVError(f"{where}: {name} = {value} is beyond the int32 range of the instructions")
            columns[name].append(value)
        for name in ("x", "y", "depth"):
            try:
                value = float(row[name])
            except (TypeError, ValueError):
                raise FaxCSVError(f"{where}: {name} must be a number, got {row[name]!r}") from None
            if not np.isfinite(value):
                raise FaxCSVError(f"{where}: {name} is {value}, positions must be finite")
            columns[name].append(value)
        if columns["depth"][-1] < 0:
            raise FaxCSVError(f"{where}: depth must be positive (cm below the gate)")
    _check_events_are_adjacent(columns["instruction"], path)
    return {k: np.asarray(v) for k, v in columns.items()}


def _check_events_are_adjacent(instructions, path):
    """Rows sharing an instruction number are the interactions of one event: they must be
    adjacent, or the simulator would gather rows from all over the file into one event."""
    first_row = {}
    for index, number in enumerate(instructions):
        if number in first_row and instructions[index - 1] != number:
            raise FaxCSVError(f"{path} row {index + 2}: instruction {number} was already used in row "
                              f"{first_row[number]} with other instructions between; the rows of one event "
                              "(one instruction number) must be adjacent")
        first_row.setdefault(number, index + 2)


def write_fax_csv(path, instructions, slot_starts):
    """Write instructions (the ``instructions`` data type) as a FaX CSV."""
    write_table(path, {
        "instruction": instructions["event_number"], "recoil_type": instructions["recoil_type"],
        "x": instructions["x"], "y": instructions["y"], "depth": -instructions["z"],
        "s1_photons": instructions["s1_photons"], "s2_electrons": instructions["s2_electrons"],
        "t": np.asarray(instructions["time"]) - np.asarray(slot_starts)})


def write_table(path, table):
    """Write a table of FaX columns (dict of arrays, ``COLUMNS``, recoil_type as ER/NR codes)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in zip(*(table[c] for c in COLUMNS)):
            instruction, recoil, x, y, depth, photons, electrons, t = row
            writer.writerow([int(instruction), RECOIL_NAMES[int(recoil)], f"{x:.4f}", f"{y:.4f}", f"{depth:.4f}",
                             int(photons), int(electrons), int(t)])
