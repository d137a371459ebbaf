"""Without the machine-learning extra (TensorFlow, Keras, scikit-learn hidden from the import
system), simulation and processing work and what needs the extra says how to install it."""

from tests.helpers import REPOSITORY, run_python

HIDE_ML = """
import importlib.abc, sys
class HideML(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'sklearn'):
            raise ModuleNotFoundError(f'No module named {name!r}')
sys.meta_path.insert(0, HideML())
"""


def test_processing_needs_no_machine_learning_stack_and_models_say_what_to_install(tmp_path):
    code = HIDE_ML + f"""
import pytest, ddcore
from ddcore.extras import MissingExtraError
st = ddcore.context('xenon1t', storage={str(tmp_path)!r}, sim_n_events=10, sim_events_per_chunk=10)
assert len(st.get_array('er_sr0_000', 'event_images', progress_bar=False)) > 3
with pytest.raises(MissingExtraError,
                   match=r"needs keras, part of the machine-learning extra: pip install 'ddcore\\[ml\\]'"):
    st.get_array('er_sr0_000', 'cnn_scores', progress_bar=False)
from ddplugins.analyses import evaluation
with pytest.raises(MissingExtraError, match="The boosted trees needs sklearn"):
    evaluation.train_boosted_trees(None, None)
from ddcore.cli import main
assert main(['train', 'cnn', '--data', {str(tmp_path)!r}, '--events', '10']) == 2
print('ok')
"""
    result = run_python(code, cwd=str(REPOSITORY))
    assert result.stdout.strip().endswith("ok")
    assert "pip install 'ddcore[ml]'" in result.stderr
