"""Simulated runs are named by what they contain: ``<source>_<preset>_<number>``.

==========  =================================================================================
source      events (``sim_n_events`` of one population, see ``populations.Population``)
==========  =================================================================================
er          flat electronic-recoil background (beta decays), single site
wimp        WIMP nuclear recoils (wimprates; mass, cross-section and interaction from options)
neutron     radiogenic-neutron nuclear recoils, most of them multiple scatters
cevns       coherent elastic scattering of solar 8B neutrinos (low-energy nuclear recoils)
accidental  a lone S1 paired with an unrelated lone S2 in one event window
wall        decays on the TPC wall: charge loss, electrons extracted further inward
s2only      lone S2s without any S1
multisite   ER gamma scatters with two or more vertices
pseudo      pseudo-data: Poisson counts of every population in ``sim_pseudo_components`` for
            ``sim_exposure_live_days`` from their rates, plus the ``sim_inject`` populations
fax         the FaX instruction CSV named by the ``fax_instructions_file`` option
rn220       calibration run: 212Pb beta decays uniform in the TPC (``calibration_sources``)
ambe        calibration run: AmBe neutron scatters entering from a source outside the cryostat
walltail    wall events drawn only in the tail of their inward shift that can reach the fiducial
            volume (``populations.wall_tail_min_shift_cm``): the wall template's events in the
            analysis space from many fewer simulated events, each standing for
            1 / ``populations.wall_tail_share`` wall events
==========  =================================================================================

``preset`` must match the context's preset (science run, e.g. ``sr0``), so a run name never
claims settings it was not made with; ``number`` is the random seed. Parsing is
``ddcore.plugins.parse_run_id``, shared by every simulated source. Example: ``pseudo_sr0_000``.
Everything else that changes the data is a tracked option and so enters the lineage.
"""

# new sources are appended: a source's position is part of its random streams
SOURCES = ("er", "wimp", "pseudo", "fax", "neutron", "cevns", "accidental", "wall", "s2only", "multisite",
           "rn220", "ambe", "walltail")
# blocks of sources in the order they were added: the run numbers (and so run start times) of a
# block's runs stay what they were when later sources are added (``Instructions.run_number``)
FIRST_SOURCES = 10
SOURCE_BLOCKS = (SOURCES[:FIRST_SOURCES], SOURCES[FIRST_SOURCES:12], SOURCES[12:])
