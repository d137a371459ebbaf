"""``raw_records`` of a detector that is not the one the analysis assumes.

Registered in place of ``SimulatedRawRecords`` in a context of its own (``mis_modelled``), it
simulates a detector whose g1, g2, electron lifetime, light-yield map, ER band or drift field depart
from the configured options, while every processing plugin keeps the configured values: data from a
mis-modelled detector, analysed with the nominal model, as an experiment's would be.
"""

import numpy as np

from ddcore.plugins import Checked
from ddplugins.simulation.quanta import ER, nest_quanta
from ddplugins.simulation.raw_records import SimulatedRawRecords

SHIFT_OPTIONS = ("true_g1_factor", "true_g2_factor", "true_electron_lifetime_factor", "true_light_yield_tilt",
                 "true_er_recombination_shift", "true_drift_field_factor")


class MisModelledRawRecords(SimulatedRawRecords):
    """Raw records of a mis-modelled detector: the configured one, shifted by the ``true_*`` options."""

    __version__ = SimulatedRawRecords.__version__ + "-mismodelled.0"

    true_g1_factor = Checked(above=0, default=1.0, type=(float, int),
                             help="The simulated detector's g1 over the configured one (the processing keeps "
                             "the configured)")
    true_g2_factor = Checked(above=0, default=1.0, type=(float, int),
                             help="The simulated detector's S2 photons per extracted electron over the configured")
    true_electron_lifetime_factor = Checked(above=0, default=1.0, type=(float, int),
                                            help="The simulated electron lifetime over the configured one")
    true_light_yield_tilt = Checked(minimum=-0.5, maximum=0.5, default=0.0, type=(float, int),
                                    help="A light-yield map distortion the processing does not know: the S1 light "
                                    "yield times 1 + tilt x (2 depth / drift length - 1), the bottom brighter "
                                    "for tilt > 0")
    true_er_recombination_shift = Checked(minimum=-0.5, maximum=0.5, default=0.0, type=(float, int),
                                          help="ER band shift: this share of each ER vertex's electrons recombine "
                                          "into photons (negative: that share of its photons become electrons)")

    true_drift_field_factor = Checked(above=0, default=1.0, type=(float, int),
                                      help="The simulated drift field over the configured one: NEST draws the "
                                      "photons and electrons of every interaction with a recoil energy again at "
                                      "that field (recombination); the drift velocity stays the configured one")

    @classmethod
    def mis_modelled(cls, st, store, **shifts):
        """A context like ``st`` whose raw records come from the detector ``shifts`` describe,
        storing in a zarr store of its own (folder ``store``): there a run name means the same
        random events as in ``st``'s store, seen by another detector."""
        from ddcore.storage import ZarrStore

        unknown = set(shifts) - set(SHIFT_OPTIONS)
        if unknown:
            raise ValueError(f"Unknown detector shift(s) {', '.join(sorted(unknown))}; choose from "
                             f"{', '.join(SHIFT_OPTIONS)}")
        return st.new_context(storage=[ZarrStore(store)], register=[cls], config=shifts)

    def _response_parameters(self):
        response = super()._response_parameters()
        response["s2_photons_per_electron"] *= self.true_g2_factor
        return response

    def _quanta(self, instructions, rng):
        if self.true_drift_field_factor != 1:
            instructions = self._quanta_at_true_field(instructions, rng)
        shift = self.true_er_recombination_shift
        if shift == 0:
            return instructions
        instructions = instructions.copy()
        er = instructions["recoil_type"] == ER
        if shift > 0:
            moved = rng.binomial(instructions["s2_electrons"][er], shift)
            instructions["s2_electrons"][er] -= moved
            instructions["s1_photons"][er] += moved
        else:
            moved = rng.binomial(instructions["s1_photons"][er], -shift)
            instructions["s1_photons"][er] -= moved
            instructions["s2_electrons"][er] += moved
        return instructions

    def _quanta_at_true_field(self, instructions, rng):
        """Photons, electrons and excitons drawn again by NEST at the true field, for interactions
        with a recoil energy (the others, lone S1s and S2s, have fixed quanta). Charge lost before
        the shift (wall events' ``charge_survival``) is not applied again: shift runs of
        populations without charge loss."""
        instructions = instructions.copy()
        drawn = np.flatnonzero(np.isfinite(instructions["energy"]) & (instructions["energy"] > 0))
        if len(drawn):
            photons, electrons, excitons = nest_quanta(
                instructions["recoil_type"][drawn], instructions["energy"][drawn].astype(np.float64),
                self.drift_field_v_per_cm * self.true_drift_field_factor, seed=rng.integers(2**31))
            instructions["s1_photons"][drawn] = photons
            instructions["s2_electrons"][drawn] = electrons
            instructions["excitons"][drawn] = excitons
        return instructions

    def _s1_light_yield(self, x, y, depth):
        tilt = 1 + self.true_light_yield_tilt * (2 * np.asarray(depth) / self.tpc_length_cm - 1)
        return super()._s1_light_yield(x, y, depth) * self.true_g1_factor * tilt

    def _electron_lifetime_us(self):
        return super()._electron_lifetime_us() * self.true_electron_lifetime_factor
