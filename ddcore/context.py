"""``ddcore.context``: a configured strax.Context for one registered detector."""

from __future__ import annotations

import datetime
import json
import logging
import os
import typing as ty

import strax

from ddcore import blinding
from ddcore import config as dd_config
from ddcore import registry
from ddcore._strax_shim import as_context_class, registered_plugin_class
from ddcore.files import FILE_OPTION_SUFFIX, HASH_OPTION_SUFFIX, FileOption
from ddcore.plugins import MODEL_DETECTOR_OPTION, SimulatedSource
from ddcore.raw_data import RAW_DATA_DIR_OPTION, RAW_DATA_SOURCE_OPTION, metadata_stamp, source_identity
from ddcore.raw_data import readers as raw_data_readers
from ddcore.storage import ZarrStore

log = logging.getLogger(__name__)

DATA_DIR_ENV = "DD_DATA"
DEFAULT_DATA_DIR = "./dd_data"


# what select_runs shows of each run document (as straxen's contexts do): calibration runs are
# found by their source
RUN_FIELDS = ("name", "number", "mode", "source", "tags.name", "start", "end", "livetime")


class DDContext(strax.Context):
    """A strax.Context that remembers the detector and preset it was made for, and keeps a run
    name tied to its data.

    Everything else is strax's: ``get_df``, ``make``, ``key_for``, ``show_config`` ... Contexts
    derived with ``new_context`` keep the detector and preset.

    **Run definitions.** When a simulated run is first made, its run document is written to the
    store: start and end, source, seed, and its definition, every tracked option in the lineage
    of the data the detector recorded (``raw_records`` for a TPC). Later contexts take the
    definition as the run's defaults (strax's per-run defaults), so ``er_sr0_000`` made with
    ``sim_n_events=500`` is the same 500 events whatever context asks for it; a context that
    sets one of those options to another value gets an error naming run, option and values.
    """

    detector: ty.Optional[str] = None
    preset: ty.Optional[str] = None

    def new_context(self, *args, **kwargs) -> "DDContext":
        new = as_context_class(super().new_context(*args, **kwargs), type(self))
        new.detector, new.preset = self.detector, self.preset
        return new

    def simulated_source_for(self, run_id) -> ty.Optional[type]:
        """The detector's simulated source plugin class that makes ``run_id`` (None: not simulated)."""
        if self.detector is None or str(run_id).startswith("_"):
            return None
        for plugin in registry.get_detector(self.detector).plugins:
            if issubclass(plugin, SimulatedSource) and plugin.understands(run_id):
                return plugin
        return None

    def _runs_being_defined(self) -> set:
        return self.__dict__.setdefault("_dd_runs_being_defined", set())

    def simulated_run_document(self, run_id) -> ty.Optional[dict]:
        """The run document a simulated run gets from this context's options (not stored)."""
        made = self.__dict__.setdefault("_dd_run_documents", {})
        if run_id in made and made[run_id][0] is self.config:
            return dict(made[run_id][1])  # strax asks for start and end one at a time
        source = self.simulated_source_for(run_id)
        if source is None or run_id in self._runs_being_defined():
            return None
        document = self._make_run_document(run_id, source)
        made[run_id] = (self.config, document)
        return dict(document)

    def _make_run_document(self, run_id, source) -> dict:
        self._runs_being_defined().add(run_id)
        try:
            provides = strax.to_str_tuple(source.provides)[0]
            plugin = self.get_single_plugin(run_id, provides)
            run_data_type = source.run_data_type or provides
            definition = {}
            for _, _, options in self.key_for(run_id, run_data_type).lineage.values():
                definition.update(options)
            definition.update({name: plugin.config[name] for name, option in plugin.takes_config.items()
                               if isinstance(option, FileOption)})
            definition = {name: value for name, value in definition.items()
                          if name not in plugin.takes_config or plugin.defines_run(name)}
            start, end = plugin.run_time_range()
        finally:
            self._runs_being_defined().discard(run_id)
        return dict(
            name=str(run_id), number=plugin.run_number, mode=plugin.spec.source,
            source=plugin.spec.source, seed=plugin.spec.seed, tags=[],
            start=_utc_datetime(start), end=_utc_datetime(end), livetime=(end - start) / 1e9,
            detector=self.detector, preset=self.preset, run_data_type=run_data_type,
            **{strax.RUN_DEFAULTS_KEY: json.loads(json.dumps(definition, default=str))},
        )

    def run_metadata(self, run_id, projection=None) -> dict:
        try:
            return super().run_metadata(run_id, projection=projection)
        except strax.RunMetadataNotAvailable:
            # A simulated run not made yet has no definition to apply, but its start and end
            # are known (strax's progress bar and time_range use them).
            if projection == strax.RUN_DEFAULTS_KEY:
                raise
            document = self.simulated_run_document(run_id)
            if document is None:
                raise
            if projection is not None:
                wanted = set(strax.to_str_tuple(projection))
                document = {k: v for k, v in document.items() if k in wanted}
            return document

    def run_defaults(self, run_id) -> dict:
        """The run's definition, checked against this context's explicit options."""
        if run_id in self._runs_being_defined():
            return {}
        defaults = super().run_defaults(run_id)
        checked = self.__dict__.setdefault("_dd_checked_run_defaults", {})
        if checked.get(run_id) is self.config:
            # strax asks once per option: check once per run and configuration
            return {**defaults, **self._raw_data_defaults(run_id, look_again=False)}
        if defaults:
            made_for = self.run_metadata(run_id, projection=["detector"]).get("detector")
            if made_for is not None and self.detector is not None and made_for != self.detector:
                raise dd_config.ConfigError(
                    f"Run {run_id!r} in this store was made for detector {made_for!r}, not "
                    f"{self.detector!r}: keep one store per detector (storage=...)"
                )
        for name, recorded in defaults.items():
            if name.endswith((FILE_OPTION_SUFFIX, HASH_OPTION_SUFFIX)) or name not in self.config:
                continue  # files are compared by content hash (ddcore.files)
            if _json_normalised(self.config[name]) != _json_normalised(recorded):
                raise dd_config.ConfigError(
                    f"Run {run_id!r} was made with {name}={recorded!r}, but this context sets "
                    f"{name}={self.config[name]!r}. A run name stands for one set of data: drop the "
                    f"option to use the run as it was made, or name another run for other data"
                )
        checked[run_id] = self.config
        return {**defaults, **self._raw_data_defaults(run_id, look_again=True)}

    def _raw_data_defaults(self, run_id, look_again: bool) -> dict:
        """The source identity of a run read from raw data of other software (its lineage hash
        and metadata hash). ``look_again``: see whether its metadata file changed (once per run
        and configuration, not for every option strax asks about; the reader checks again when
        it reads)."""
        directory = self.config.get(RAW_DATA_DIR_OPTION)
        if not directory or str(run_id).startswith("_") or RAW_DATA_SOURCE_OPTION in self.config:
            return {}
        cache = self.__dict__.setdefault("_dd_raw_data_sources", {})
        if run_id not in cache or look_again:
            stamp = metadata_stamp(directory, run_id)
            if run_id not in cache or cache[run_id][0] != stamp:
                cache[run_id] = (stamp, source_identity(directory, run_id))
        return {RAW_DATA_SOURCE_OPTION: cache[run_id][1]}

    def get_iter(self, run_id, targets, *args, **kwargs):
        region = blinding.blinded_region(self, run_id)
        hidden = region is not None and self._same_kind(region, strax.to_str_tuple(targets), run_id)
        if hidden:
            asked_for_region = region in strax.to_str_tuple(targets)
            if not asked_for_region:
                targets = (*strax.to_str_tuple(targets), region)
            if kwargs.get("keep_columns") is not None:
                kwargs["keep_columns"] = [*strax.to_str_tuple(kwargs["keep_columns"]), blinding.REGION_FIELD]
        if str(run_id).startswith("_"):
            targets = self._superrun_targets(targets)
            if not kwargs.get("progress_bar", True):
                kwargs.setdefault("multi_run_progress_bar", False)  # the bar over the superrun's runs
        chunks = super().get_iter(run_id, targets, *args, **kwargs)
        return blinding.hide_region(chunks, keep_field=asked_for_region) if hidden else chunks

    def _same_kind(self, region, targets, run_id) -> bool:
        """Whether any of ``targets`` is of the data kind the blinding ``region`` marks; a
        BlindingError where one summarises data of that kind in another (a run-level summary
        would count the hidden events)."""
        plugin = registered_plugin_class(self, region)
        if plugin is None:
            raise blinding.BlindingError(f"The blinding region {region!r} is not a data type of this context")
        kind = plugin.data_kind
        found = False
        for target in targets:
            target_class = registered_plugin_class(self, target)
            if target_class is None:
                continue
            if target_class.data_kind == kind:
                found = True
            elif kind in self._upstream_kinds(target_class):
                raise blinding.BlindingError(
                    f"Run {run_id!r} is blinded: {target!r} summarises its {kind} and so the signal region "
                    f"too; compute it from the events a read gives, or unblind the run")
        return found

    def _upstream_kinds(self, plugin_class) -> set:
        """The data kinds of everything a plugin class depends on, however far upstream."""
        kinds, seen = set(), set()
        waiting = list(strax.to_str_tuple(plugin_class.depends_on))
        while waiting:
            name = waiting.pop()
            upstream = registered_plugin_class(self, name)
            if name in seen or upstream is None:
                continue
            seen.add(name)
            if isinstance(upstream.data_kind, str):
                kinds.add(upstream.data_kind)
            waiting.extend(strax.to_str_tuple(upstream.depends_on))
        return kinds

    def _superrun_targets(self, targets):
        """A superrun (a dataset of runs, strax ids start with '_') of one data type is read as
        that data type of its runs, one after another: strax does so for a merge of several
        data types, here also for one."""
        targets = strax.to_str_tuple(targets)
        if len(targets) != 1 or targets[0].startswith(strax.context.TEMP_DATA_TYPE_PREFIX):
            return targets
        plugin = registered_plugin_class(self, targets[0])
        if plugin is not None and plugin.allow_superrun:
            return targets  # computed on the superrun as a whole (e.g. a dataset-level summary)
        name = strax.context.TEMP_DATA_TYPE_PREFIX + strax.deterministic_hash(("superrun", targets))
        merge = type(name, (strax.MergeOnlyPlugin,), dict(depends_on=targets, allow_superrun=True))
        self.register(merge)
        return (name,)

    def get_components(self, run_id, targets=(), save=(), time_range=None, **kwargs):
        if str(run_id).startswith("_"):
            # strax reads the runs of a superrun whole; get_iter applies the time range to what
            # comes out
            time_range = None
        # keywords: straxen, when imported, wraps strax's method in one that takes no more
        # positional arguments
        components = super().get_components(run_id, targets=targets, save=save, time_range=time_range, **kwargs)
        if components.savers and not str(run_id).startswith("_"):
            self.record_run_definition(run_id)
        return components

    def record_run_definition(self, run_id) -> None:
        """Write the run document of a simulated run to the first writable store, once."""
        writable = [sf for sf in self.storage if not sf.readonly and sf.provide_run_metadata]
        if not writable:
            return
        try:
            super().run_metadata(run_id, projection=["name"])
            return  # already recorded
        except strax.RunMetadataNotAvailable:
            pass
        document = self.simulated_run_document(run_id)
        if document is not None:
            writable[0].write_run_metadata(run_id, document)
            log.debug("Recorded the definition of run %s in %s", run_id, writable[0])


def _utc_datetime(ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)


def _json_normalised(value):
    """Option values as a JSON round trip gives them, numbers as floats (450 == 450.0)."""
    def numbers_as_float(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, list):
            return [numbers_as_float(x) for x in v]
        if isinstance(v, dict):
            return {k: numbers_as_float(x) for k, x in v.items()}
        return v
    return numbers_as_float(json.loads(json.dumps(value, default=str)))


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)


def _storage_frontends(storage) -> list:
    if storage is None:
        return [ZarrStore(default_data_dir())]
    if isinstance(storage, (str, os.PathLike)):
        return [ZarrStore(storage)]
    if isinstance(storage, strax.StorageFrontend):
        return [storage]
    return list(storage)


def context(detector: ty.Optional[str] = None, storage=None, preset: ty.Optional[str] = None,
            config_file=None, config=None, raw_data=None, **options) -> DDContext:
    """A strax.Context with ``detector``'s plugins, configuration and a zarr store.

    :param detector: a registered detector name (see ``ddcore.detectors()``); None: the
        analysis config's, else the registered default detector
    :param storage: folder of the zarr store (default: the analysis config's ``data``, else
        ``$DD_DATA`` or ``./dd_data``), a strax storage frontend, or a list of them
    :param preset: option preset from the detector's config file (e.g. ``"sr1"``); defaults to
        the analysis config's, else the detector's default preset
    :param config_file: TOML file to use instead of the detector's own config file
    :param config: an analysis config (a path, e.g. ``configs/xenon1t_sr1.toml``, or a
        :class:`ddcore.config.AnalysisConfig`): detector, preset, store and options on top of
        the detector's config file; the arguments here override it
    :param raw_data: a strax DataDirectory folder with raw_records (and truth) that other software
        wrote: its runs are processed from them (``ddcore.raw_data``) instead of simulated; the
        folder is only read
    :param options: option values that override the config files (they enter the lineage)
    """
    analysis = None
    if config is not None:
        analysis = config if isinstance(config, dd_config.AnalysisConfig) else dd_config.load_analysis_config(config)
        detector, preset = detector or analysis.detector, preset or analysis.preset
        storage = storage if storage is not None else analysis.data
        raw_data = raw_data if raw_data is not None else analysis.raw_data
    spec = registry.get_detector(detector)
    if analysis is not None:
        options = {**_checked(spec.name, analysis.options, f"{analysis.path} option"), **options}
    detector = spec.name
    config_path = config_file or spec.config_file
    preset = preset or spec.default_preset
    values = {}
    if config_path is not None:
        values = dd_config.load_detector_config(config_path, spec.plugins, preset=preset)
    elif preset is not None:
        raise dd_config.ConfigError(f"Detector {detector!r} has no config file for preset {preset!r}")
    if MODEL_DETECTOR_OPTION in dd_config.plugin_options(spec.plugins):
        values[MODEL_DETECTOR_OPTION] = detector
    values.update(_checked(detector, options, f"ddcore.context({detector!r}) argument"))
    plugins = list(spec.plugins)
    if raw_data is not None:
        readers = raw_data_readers(os.fspath(raw_data))
        replaced = {d for r in readers for d in strax.to_str_tuple(r.provides)}
        plugins = [p for p in plugins if not set(strax.to_str_tuple(p.provides)) & replaced] + readers
        used = dd_config.plugin_options(plugins)
        values = {k: v for k, v in values.items() if k in used}  # the simulator's options go with it
        values[RAW_DATA_DIR_OPTION] = os.path.abspath(os.fspath(raw_data))
    st = DDContext(
        storage=_storage_frontends(storage),
        register=plugins,
        config=values,
        **{"use_per_run_defaults": True, "store_run_fields": RUN_FIELDS, **spec.context_options},
    )
    st.detector, st.preset = detector, preset
    return st


def _checked(detector: ty.Optional[str], options: dict, where: str) -> dict:
    if detector is None:
        return dict(options)
    known = dd_config.plugin_options(registry.get_detector(detector).plugins)
    return {name: dd_config.check_option(name, value, known, where) for name, value in options.items()}


def derive(st: strax.Context, **options) -> strax.Context:
    """A context like ``st`` (same store, plugins, options) with some options changed.

    Options are checked against the detector's plugins; file options get their content hashes
    when strax configures the plugins that read them, as for every context.
    """
    detector = getattr(st, "detector", None)
    return st.new_context(config=_checked(detector, options, "ddcore.derive argument"))
