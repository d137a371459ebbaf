"""Photons, electrons and excitons per recoil from NEST (nestpy)."""

import numpy as np

from ddcore.log import c_stderr_silenced

ER, NR = 0, 1
LIQUID_XENON_DENSITY = 2.862  # g/cm^3


def nest_quanta(recoil_type, energy_kev, drift_field_v_cm, seed, density=LIQUID_XENON_DENSITY):
    """(photons, electrons, excitons) arrays, reproducible for a given seed."""
    import nestpy

    nestpy.RandomGen.rndm().set_seed(int(seed))
    calc = nestpy.NESTcalc(nestpy.detectors.VDetector())
    species = {ER: nestpy.interactions.beta, NR: nestpy.interactions.NR}
    n = len(energy_kev)
    photons = np.zeros(n, np.int32)
    electrons = np.zeros(n, np.int32)
    excitons = np.zeros(n, np.int32)
    # NEST writes a model note ("m5 is slightly energy dependent ...") straight to stderr
    with c_stderr_silenced():
        for i in range(n):
            yields = calc.GetYields(
                interaction=species[int(recoil_type[i])],
                energy=float(energy_kev[i]),
                density=density,
                drift_field=float(drift_field_v_cm),
            )
            quanta = calc.GetQuanta(yields, density)
            photons[i] = max(quanta.photons, 0)
            electrons[i] = max(quanta.electrons, 0)
            excitons[i] = max(quanta.excitons, 0)
    return photons, electrons, excitons


def nest_s1_photon_times(
    recoil_type, n_photons, produced_photons, excitons, energy_kev, drift_field_v_cm, seed
):
    """Emission delays [ns] of each event's detected photons from NEST's singlet/triplet model.

    Returns one flat array, event after event, ``n_photons[i]`` delays per event. The detected
    photons keep the exciton share of the produced ones.
    """
    import nestpy

    nestpy.RandomGen.rndm().set_seed(int(seed))
    calc = nestpy.NESTcalc(nestpy.detectors.VDetector())
    species = {ER: nestpy.interactions.beta, NR: nestpy.interactions.NR}
    delays = np.zeros(int(np.sum(n_photons)), np.float64)
    offset = 0
    for i in range(len(n_photons)):
        n = int(n_photons[i])
        if n == 0:
            continue
        energy = float(energy_kev[i]) if np.isfinite(energy_kev[i]) else 1.0
        share = min(max(excitons[i], 0) / max(produced_photons[i], 1), 1.0)
        delays[offset : offset + n] = calc.GetPhotonTimes(
            species[int(recoil_type[i])], n, int(round(n * share)), float(drift_field_v_cm), energy
        )
        offset += n
    return delays
