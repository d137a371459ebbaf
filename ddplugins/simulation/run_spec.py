"""Simulated runs are named by what they contain: ``<source>_<preset>_<number>``.

=========  ==================================================================================
source     events
=========  ==================================================================================
er         flat electronic-recoil background (``sim_n_events`` events)
wimp       WIMP nuclear recoils (``sim_n_events`` events; mass, cross-section from options)
pseudo     pseudo-data: a Poisson number of ER and WIMP events from the expected counts of
           XENON1T SR0 (Table I of arXiv:1911.09210) scaled to ``sim_exposure_live_days``
fax        the FaX instruction CSV named by the ``fax_instructions_file`` option
=========  ==================================================================================

``preset`` must match the context's preset (science run, e.g. ``sr0``), so a run name never
claims settings it was not made with; ``number`` is the random seed. Example: ``pseudo_sr0_000``.
Everything else that changes the data is a tracked option and so enters the lineage.
"""

import dataclasses
import re

SOURCES = ("er", "wimp", "pseudo", "fax")
RUN_ID_PATTERN = re.compile(r"^(?P<source>[a-z]+)_(?P<preset>[a-z0-9]+)_(?P<number>\d+)$")


class UnknownRunError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class RunSpec:
    run_id: str
    source: str
    preset: str
    seed: int


def parse_run_id(run_id, expected_preset=None):
    match = RUN_ID_PATTERN.match(str(run_id))
    if not match or match["source"] not in SOURCES:
        raise UnknownRunError(
            f"Unknown run {run_id!r}: simulated runs are named <source>_<preset>_<number> with "
            f"source one of {', '.join(SOURCES)}, e.g. 'er_sr0_000' or 'pseudo_sr0_000'"
        )
    if expected_preset is not None and match["preset"] != expected_preset:
        raise UnknownRunError(
            f"Run {run_id!r} names preset {match['preset']!r} but this context uses preset "
            f"{expected_preset!r}: make the context with preset={match['preset']!r}"
        )
    return RunSpec(str(run_id), match["source"], match["preset"], int(match["number"]))
