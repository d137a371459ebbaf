import pytest

import ddcore
from tests.helpers import ER_RUN, SMALL_RUN_OPTIONS, WIMP_RUN


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
