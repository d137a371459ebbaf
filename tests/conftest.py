import pytest

import ddcore
from tests.helpers import ER_RUN, SMALL_RUN_OPTIONS, TINY_EVENTS, TINY_STRATUM_EVENTS, WIMP_RUN


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dd_store")


@pytest.fixture(scope="session")
def make_context(store_dir):
    def make(**options):
        return ddcore.context("xenon1t", storage=str(store_dir), **{**SMALL_RUN_OPTIONS, **options})

    return make


@pytest.fixture(scope="session")
def st(make_context):
    context = make_context()
    for run_id in (ER_RUN, WIMP_RUN):
        context.make(run_id, ["event_images", "event_basics", "event_truth"], progress_bar=False)
    return context


@pytest.fixture(scope="session")
def er_events(st):
    return st.get_df(ER_RUN, ["event_basics", "event_truth"], progress_bar=False)


@pytest.fixture(scope="session")
def wimp_events(st):
    return st.get_df(WIMP_RUN, ["event_basics", "event_truth"], progress_bar=False)


@pytest.fixture(scope="session")
def tiny_models(make_context, tmp_path_factory):
    """A CNN, a CVAE and their calibration, trained and made on small runs in seconds."""
    from ddplugins.search import training

    folder = tmp_path_factory.mktemp("models")
    st = make_context()
    paths = {
        "cnn": folder / "cnn.keras",
        "cvae": folder / "cvae.keras",
        "calibration": folder / "calibration.json",
    }
    training.train_cnn(st, paths["cnn"], n_train=TINY_EVENTS, n_validation=60, epochs=4, batch_size=32,
                       n_conv_layers=1)
    training.train_cvae(st, paths["cvae"], n_train=TINY_EVENTS, n_validation=60, epochs=2, batch_size=32)
    training.calibrate(st, paths["calibration"], paths["cnn"], paths["cvae"], n_events=TINY_EVENTS,
                       strata=[("wall", (0.5, 3.5), TINY_STRATUM_EVENTS)])
    return paths
