"""Optical images of NEWSdm track candidates under 8 polarisation angles.

A track candidate in the nuclear emulsion is a few silver nanocrystals (grains) within an
optical-resolution spot. Each grain is drawn as a Gaussian point-spread function; its brightness
under polarisation angle theta_k = k * 180 deg / 8 follows the plasmon resonance of an elongated
grain, b * (1 + m cos(2 (theta_k - phi))) with the grain's orientation phi and modulation m.

* **carbon** (WIMP-like signal): a carbon-ion recoil track of length proportional to its energy
  (30 / 60 / 100 keV) with 2-3 grains of independent orientation and strong modulation, so the
  brightness centroid moves between polarisations (the plasmon-resonance signature);
* **fog**: a single round, thermally developed grain, weakly modulated, centroid fixed;
* **gamma**: a gamma-induced electron track, longer and curling (a random walk), many grains
  whose modulations largely average out.
"""

import numpy as np

N_POLARISATIONS = 8
CLASSES = {"carbon": 0, "fog": 1, "gamma": 2}


def _grain_chain(rng, n_grains, length_nm, curl):
    """Grain positions along a (possibly curling) path of the given length, centred."""
    if n_grains == 1:
        return np.zeros((1, 2))
    angle = rng.uniform(0, 2 * np.pi)
    step = length_nm / (n_grains - 1)
    points = [np.zeros(2)]
    for _ in range(n_grains - 1):
        angle += rng.normal(0, curl)
        points.append(points[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
    points = np.array(points)
    return points - points.mean(axis=0)


def render_stack(grains_xy_nm, brightness, pixel_nm, size, psf_sigma_nm):
    """(n_pol, size, size) image stack of grains with per-polarisation brightness (n_grains, n_pol)."""
    axis = (np.arange(size) - (size - 1) / 2) * pixel_nm
    gx = np.exp(-0.5 * ((axis[None, :] - grains_xy_nm[:, 0:1]) / psf_sigma_nm) ** 2)
    gy = np.exp(-0.5 * ((axis[None, :] - grains_xy_nm[:, 1:2]) / psf_sigma_nm) ** 2)
    return np.einsum("gk,gy,gx->kyx", brightness, gy, gx)


def simulate_tracks(rng, kinds, energies_kev, params):
    """Image stacks (n, 8, size, size) float32 in [0, 1] for track kinds and energies."""
    size, pixel = params["newsdm_image_size"], params["newsdm_pixel_nm"]
    theta = np.arange(N_POLARISATIONS) * np.pi / N_POLARISATIONS
    stacks = np.zeros((len(kinds), N_POLARISATIONS, size, size), np.float32)
    for i, (kind, energy) in enumerate(zip(kinds, energies_kev)):
        if kind == CLASSES["carbon"]:
            n_grains = rng.integers(2, 4)
            length = params["newsdm_carbon_nm_per_kev"] * energy * rng.uniform(0.8, 1.2)
            xy = _grain_chain(rng, n_grains, length, curl=0.2)
            modulation = params["newsdm_signal_modulation"]
        elif kind == CLASSES["fog"]:
            n_grains = 1
            xy = rng.normal(0, 5, (1, 2))
            modulation = params["newsdm_fog_modulation"]
        else:
            n_grains = rng.integers(5, 10)
            length = params["newsdm_gamma_length_nm"] * rng.uniform(0.7, 1.3)
            xy = _grain_chain(rng, n_grains, length, curl=0.8)
            modulation = params["newsdm_gamma_modulation"]
        phi = rng.uniform(0, np.pi, n_grains)
        grain_brightness = rng.uniform(0.6, 1.0, n_grains)
        brightness = grain_brightness[:, None] * (
            1 + modulation * np.cos(2 * (theta[None, :] - phi[:, None]))
        )
        image = render_stack(xy + rng.normal(0, 3, 2), brightness, pixel, size, params["newsdm_psf_sigma_nm"])
        image /= max(image.max(), 1e-9)
        image += rng.normal(0, params["newsdm_noise"], image.shape)
        stacks[i] = np.clip(image, 0, 1)
    return stacks


def periodic_stack(stacks):
    """Append the first polarisation after the last: (n, 8, h, w) -> (n, 9, h, w), so that a
    convolution along the polarisation axis sees polarisation 8 next to polarisation 1."""
    return np.concatenate([stacks, stacks[:, :1]], axis=1)


def rotate_stacks(rng, stacks):
    """Rotate each stack by a random angle in the image plane, all its images together."""
    from scipy import ndimage

    rotated = np.empty_like(stacks)
    for i, stack in enumerate(stacks):
        rotated[i] = ndimage.rotate(stack, rng.uniform(0, 360), axes=(-1, -2), reshape=False,
                                    order=1, mode="constant")
    return rotated
