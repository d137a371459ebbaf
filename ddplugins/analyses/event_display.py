"""Event displays: the rasteriser's images at a size people can look at (``ddcore show``)."""

import os



def _rasterizer_for(st, run_id):
    from ddplugins.events.event_images import make_rasterizer

    return make_rasterizer(st.get_single_plugin(run_id, "event_images"))


def event_display(st, run_id, event_index, size=800):
    """(size, size, 3) float image: Hit image over Peak image, as the seed paper drew them."""
    hitpatterns = st.get_array(run_id, "event_hitpatterns", progress_bar=False)
    waveforms = st.get_array(run_id, "event_waveforms", progress_bar=False)
    if not 0 <= event_index < len(hitpatterns):
        raise ValueError(
            f"Run {run_id!r} has {len(hitpatterns)} events: event {event_index} does not exist"
        )
    rasterizer = _rasterizer_for(st, run_id)
    one_hit = hitpatterns[event_index : event_index + 1]
    one_wf = waveforms[event_index : event_index + 1]
    half = size // 2
    hit = rasterizer.hit_images(one_hit, half, size)[0]
    peak = rasterizer.peak_images(one_wf, size - half, size)[0]
    return hit, peak


def save_event_display(st, run_id, event_index, path=None, size=800):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hit, peak = event_display(st, run_id, event_index, size)
    path = path or f"{run_id}_event{event_index}.png"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    dpi = 100
    fig, axes = plt.subplots(2, 1, figsize=(size / dpi, size / dpi * 1.1), dpi=dpi)
    titles = (
        "S1 on the bottom array  |  S2 on the top array",
        "S1 waveform  |  S2 waveform (log amplitude)",
    )
    for ax, image, title, cmap in zip(axes, (hit, peak), titles, ("viridis", "magma")):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{run_id}, event {event_index}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
