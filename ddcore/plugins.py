"""Base plugin classes detector packages build on.

- :class:`DDPlugin`: a ``strax.Plugin`` with :meth:`~DDPlugin.new_result`.
- :class:`ModelPlugin`: applies a model file (safe Keras loading, content hash in the lineage).
- :class:`SimulatedSource`: a plugin without inputs that simulates the run its run id names,
  ``<source>_<preset>_<number>`` with the number as random seed.
"""

from __future__ import annotations

import dataclasses
import re
import typing as ty

import numpy as np
import strax

from ddcore import models
from ddcore._strax_shim import AppendWithoutCopy
from ddcore.config import ConfigError
from ddcore.corrections import CorrectableMixin
from ddcore.files import hash_option_for, verify_file_hash
from ddcore.storage import GATHERED_IN_STORE

MODEL_DETECTOR_OPTION = "model_detector"
RUN_ID_PATTERN = re.compile(r"^(?P<source>[a-z][a-z0-9]*)_(?P<preset>[a-z0-9]+)_(?P<number>\d+)$")


class Checked(strax.Config):
    """A ``strax.Config`` whose value physics or sanity bounds: checked whenever strax configures
    the plugin, with an error naming the option and the value.

    :param minimum, maximum: bounds (inclusive unless ``above``/``below`` is used instead)
    :param above, below: exclusive bounds
    :param choices: the allowed values
    """

    def __init__(self, *, minimum=None, maximum=None, above=None, below=None, choices=None, **kwargs):
        self.bounds = dict(minimum=minimum, maximum=maximum, above=above, below=below)
        self.choices = tuple(choices) if choices is not None else None
        rule = self.rule()
        if rule:
            kwargs["help"] = f"{kwargs.get('help', '')} ({rule})"
        super().__init__(**kwargs)

    def rule(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        b = self.bounds
        low = (f"{b['minimum']} <= " if b["minimum"] is not None
               else f"{b['above']} < " if b["above"] is not None else "")
        high = (f" <= {b['maximum']}" if b["maximum"] is not None
                else f" < {b['below']}" if b["below"] is not None else "")
        return f"{low}value{high}" if low or high else ""

    def check(self, value) -> None:
        if self.choices is not None:
            if value not in self.choices:
                raise ConfigError(f"Option {self.name!r} = {value!r}: must be {self.rule()}")
            return
        b = self.bounds
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v or (
                (b["minimum"] is not None and v < b["minimum"])
                or (b["maximum"] is not None and v > b["maximum"])
                or (b["above"] is not None and v <= b["above"])
                or (b["below"] is not None and v >= b["below"])
            ):
                raise ConfigError(f"Option {self.name!r} = {value!r}: must be {self.rule()}")

    def validate(self, config, run_id=None, run_defaults=None, set_defaults=True):
        super().validate(config, run_id=run_id, run_defaults=run_defaults, set_defaults=set_defaults)
        if self.name in config:
            self.check(config[self.name])


class Correctable(CorrectableMixin, Checked):
    """A :class:`Checked` option whose value may also be a correction reference
    (``"corrections://electron_lifetime_us?version=v2&store=xenon1t"``, :mod:`ddcore.corrections`):
    the plugin reads the value of its run, checked against the bounds; the lineage holds the
    reference, that is the version."""


class DDPlugin(AppendWithoutCopy):
    """strax.Plugin with the helpers every ddplugins plugin uses (and input chunks taken without
    a copy where strax would copy them: ``ddcore._strax_shim.AppendWithoutCopy``)."""

    # fields that count rows from the start of the run (an event number): a run made as chunk
    # ranges in parallel shifts them by the rows of the earlier ranges (ddcore.parallel)
    run_counter_fields: tuple[str, ...] = ()
    # True when the output summarises the whole run (one row per run): made from the merged
    # data, never from a chunk range
    run_summary: bool = False
    # a data type's small chunks are gathered into saved chunks of up to this size (strax's
    # default, 200 MB, is too large to load a saved chunk at a time comfortably)
    chunk_target_size_mb = 20

    def can_rechunk(self, data_type):
        """Never: strax would gather the chunks to save in memory, copying the growing chunk with
        each new one (tens of MB over a long run for the small-row types). The zarr store gathers
        them in its chunk infos instead (``metadata``, ``ddcore.storage.GATHERED_IN_STORE``); other
        stores save the chunks as they come."""
        return False

    def metadata(self, run_id, data_type):
        md = super().metadata(run_id, data_type)
        if super().can_rechunk(data_type):
            md[GATHERED_IN_STORE] = True
        return md

    def new_result(self, things: np.ndarray) -> np.ndarray:
        """Zeroed output rows, one per row of ``things``, with its time and endtime."""
        result = np.zeros(len(things), self.dtype)
        result["time"] = things["time"]
        result["endtime"] = strax.endtime(things)
        return result

    def verified_file(self, file_option: str) -> str:
        """Resolved path of a :func:`ddcore.files.file_options` file, checked to be the file
        whose content hash is in this plugin's lineage (strax may reuse a lineage computed
        before the file changed)."""
        hash_option = hash_option_for(file_option)
        provides = strax.to_str_tuple(self.provides)[0]
        lineage = getattr(self, "lineage", None) or {}
        expected = lineage.get(provides, (None, None, {}))[2].get(hash_option, self.config[hash_option])
        return verify_file_hash(file_option, self.config[file_option], expected,
                                where=f" of {provides!r} for run {self.run_id!r}")


class ModelPlugin(DDPlugin):
    """A plugin that applies a model file to its input.

    Subclasses declare the option pair with :func:`ddcore.files.file_options` (its name prefix
    is ``model_option``) and set ``model_kind``, ``model_inputs`` (input names a model may read
    first), ``model_extra_inputs`` (names its further inputs may have), ``model_outputs`` and
    ``model_probability_output`` (True: the output must be one sigmoid unit, a probability);
    ``setup`` loads the model as ``self.model`` after checking the file is the one whose hash
    entered the lineage.
    """

    model_option: str = ""
    model_kind: str = ""
    model_inputs: tuple[str, ...] = ()
    model_extra_inputs: tuple[str, ...] = ()
    model_outputs: int = 1
    model_probability_output: bool = False

    def setup(self):
        path = self.verified_file(f"{self.model_option}_file")
        trained_for = models.read_manifest(path).get("detector")
        expected = self.config.get(MODEL_DETECTOR_OPTION)
        if expected and trained_for and trained_for != expected:
            raise models.ModelFileError(
                f"{path} (option {self.model_option + '_file'!r}) was trained for detector "
                f"{trained_for!r}, this context is for {expected!r}: train a model for {expected!r} "
                "(ddcore train ...) and point the option at it"
            )
        self.model = models.load_model(path, self.model_kind, self.model_inputs, self.model_outputs,
                                       extra_inputs=self.model_extra_inputs,
                                       probability_output=self.model_probability_output)


def model_detector_option() -> strax.Config:
    """The option a :class:`ModelPlugin` declares so that a model trained for another detector
    is refused (``ddcore.context`` sets it to the context's detector)."""
    return strax.Config(default="", type=str, track=False,
                        help="Detector the model must have been trained for (its manifest says); "
                        "empty: not checked")


class UnknownRunError(ValueError):
    """A run id that no source of the detector can make."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    run_id: str
    source: str
    preset: str
    seed: int


def parse_run_id(run_id, sources: ty.Sequence[str], expected_preset: str | None = None,
                 preset_option: str = "science_run") -> RunSpec:
    """Split ``<source>_<preset>_<number>``; raise UnknownRunError naming the run otherwise."""
    match = RUN_ID_PATTERN.match(str(run_id))
    if not match or match["source"] not in sources:
        raise UnknownRunError(
            f"Unknown run {run_id!r}: simulated runs are named <source>_<preset>_<number> with "
            f"source one of {', '.join(sources)}, e.g. '{sources[0]}_{expected_preset or 'sr0'}_000'"
        )
    if expected_preset is not None and match["preset"] != expected_preset:
        raise UnknownRunError(
            f"Run {run_id!r} names preset {match['preset']!r}, but this context's "
            f"{preset_option!r} option is {expected_preset!r}: name the run "
            f"'{match['source']}_{expected_preset}_{match['number']}', or make a context whose "
            f"{preset_option!r} is {match['preset']!r} (ddcore.context(..., preset=...) where the "
            "detector defines such a preset)"
        )
    return RunSpec(str(run_id), match["source"], match["preset"], int(match["number"]))


class SimulatedSource(DDPlugin):
    """A plugin with no inputs that simulates the run named by the run id.

    Subclasses list the run-id ``sources`` they make, name the option holding the preset the run
    ids must carry (``preset_option``), and implement :meth:`setup_run` (return the number of
    chunks), :meth:`run_time_range` and ``compute(self, chunk_i)``. ``self.spec`` holds the
    parsed run id.

    The run's *definition* (every tracked option in the lineage of ``run_data_type``, the data
    type that holds what the detector recorded) is written to the run metadata the first time the
    run is made; later contexts take it as the run's defaults, so a run name always means the
    same data (see ``ddcore.context.DDContext``). Options that cannot change a run of this
    source (``defines_run`` says which) stay out of its definition.
    """

    depends_on = ()
    rechunk_on_save = False
    sources: tuple[str, ...] = ()
    preset_option: str = "science_run"
    run_data_type: str = ""  # default: what the source provides
    # True when every chunk holds whole events, spaced so that nothing made from one chunk
    # depends on another: the run may then be made as chunk ranges in parallel (ddcore.parallel)
    independent_chunks: bool = False

    @classmethod
    def understands(cls, run_id) -> bool:
        """Whether ``run_id`` names a run of one of this source's ``sources``."""
        match = RUN_ID_PATTERN.match(str(run_id))
        return bool(match) and match["source"] in cls.sources

    def defines_run(self, option: str) -> bool:
        """Whether ``option`` can change the data of this run (default: every option)."""
        return True

    @property
    def run_number(self) -> int:
        """A number unique to (source, seed) among this plugin's runs."""
        return self.spec.seed * len(self.sources) + self.sources.index(self.spec.source)

    def run_time_range(self) -> tuple[int, int]:
        """(start, end) of the run [ns since the unix epoch]."""
        raise NotImplementedError

    def setup(self):
        self.spec = parse_run_id(
            self.run_id, self.sources, self.config[self.preset_option], self.preset_option
        )
        self.n_chunks = max(1, int(self.setup_run()))
        # strax iterates exactly these chunks (rather than polling is_ready until the source
        # reports it is finished, which prints "Source finished!")
        if not self.chunk_number:
            self.chunk_number = list(range(self.n_chunks))

    def setup_run(self) -> int:
        """Prepare the run described by ``self.spec``; return its number of chunks."""
        raise NotImplementedError

    def is_ready(self, chunk_i):
        return chunk_i < self.n_chunks

    def source_finished(self):
        return True
