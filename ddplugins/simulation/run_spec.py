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
claims settings it was not made with; ``number`` is the random seed. Parsing is
``ddcore.plugins.parse_run_id``, shared by every simulated source. Example: ``pseudo_sr0_000``.
Everything else that changes the data is a tracked option and so enters the lineage.
"""

SOURCES = ("er", "wimp", "pseudo", "fax")
