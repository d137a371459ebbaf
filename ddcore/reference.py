"""Reference pages made from what is registered: every data type of a detector (fields with
units, dependencies, options with defaults and help) with its dependency graph, and the command
line. The docs site builds its reference from these (``docs/hooks.py``); nothing here knows a
detector by name."""

from __future__ import annotations

import io
import tempfile

import numpy as np

from ddcore import registry


def _as_tuple(value) -> tuple:
    return (value,) if isinstance(value, str) else tuple(value)


def dependencies(detector: str) -> dict[str, tuple[str, ...]]:
    """{data type: the data types it depends on} of a registered detector."""
    found = {}
    for plugin in registry.get_detector(detector).plugins:
        for provided in _as_tuple(plugin.provides):
            found[provided] = _as_tuple(plugin.depends_on)
    return found


def _depth(graph: dict[str, tuple[str, ...]]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def of(name, seen=()):
        if name not in depth:
            if name in seen:
                raise ValueError(f"Data types depend on each other in a circle through {name!r}")
            parents = [p for p in graph.get(name, ()) if p in graph]
            depth[name] = 1 + max((of(p, (*seen, name)) for p in parents), default=-1)
        return depth[name]

    for name in graph:
        of(name)
    return depth


def dependency_graph(detector: str, fmt: str = "svg") -> bytes:
    """A picture of the detector's data types (left: sources, right: what they feed), as SVG
    (or any format matplotlib writes)."""
    from matplotlib.figure import Figure

    graph = dependencies(detector)
    depth = _depth(graph)
    columns: dict[int, list[str]] = {}
    for name in sorted(graph, key=lambda n: (depth[n], n)):
        columns.setdefault(depth[name], []).append(name)
    position = {name: (d, -(i - (len(names) - 1) / 2)) for d, names in columns.items()
                for i, name in enumerate(names)}
    height = max(len(names) for names in columns.values())
    fig = Figure(figsize=(2.1 * len(columns) + 1, 0.9 * height + 1))
    ax = fig.subplots()
    for name, parents in graph.items():
        for parent in parents:
            if parent in position:
                ax.annotate("", xy=position[name], xytext=position[parent],
                            arrowprops=dict(arrowstyle="->", color="0.55", shrinkA=34, shrinkB=34, lw=0.9))
    for name, (x, y) in position.items():
        ax.text(x, y, name, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.35", fc="#e8f0fb", ec="#4c72b0"))
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(-height / 2 - 0.2, height / 2 + 0.2)
    ax.axis("off")
    ax.set_title(f"{detector}: data types and what each depends on", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight")
    return buffer.getvalue()


def _cell(value) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."


def data_type_reference(detector: str, graph_image: str | None = None) -> str:
    """Markdown: every data type of ``detector`` with its plugin, version, data kind,
    dependencies, fields (type, description with units) and the options its plugin takes
    (detector default and help)."""
    from ddcore.config import preset_names
    from ddcore.context import context

    det = registry.get_detector(detector)
    with tempfile.TemporaryDirectory() as store:
        st = context(detector, storage=store)
        presets = preset_names(det.config_file) if det.config_file else []
        lines = [f"# {detector}", "", det.description, "",
                 f"Presets: {', '.join(presets) or 'none'} (default {det.default_preset or 'none'}). "
                 f"Every option below can be set with `ddcore.context({detector!r}, option=value)`, "
                 f"`--set option=value` or an analysis config; its value enters the lineage.", ""]
        if graph_image:
            lines += [f"![{detector} data types]({graph_image})", ""]
        for plugin in det.plugins:
            for data_type in _as_tuple(plugin.provides):
                lines += _data_type_section(st, plugin, data_type)
    return "\n".join(lines) + "\n"


def _data_type_section(st, plugin, data_type) -> list[str]:
    depends = ", ".join(f"`{d}`" for d in _as_tuple(plugin.depends_on)) or "none (a source)"
    doc = " ".join((plugin.__doc__ or "").strip().split("\n\n")[0].split()).replace("``", "`")
    kind = plugin.data_kind if isinstance(plugin.data_kind, str) else plugin.data_kind.get(data_type, "")
    lines = [f"## `{data_type}`", "", doc, "",
             f"Plugin `{plugin.__module__}.{plugin.__name__}` version {plugin.__version__}; data kind "
             f"`{kind}`; depends on {depends}.", "", "| field | type | description |", "|---|---|---|"]
    fields = st.data_info(data_type)
    for _, row in fields.iterrows():
        lines.append(f"| `{row['Field name']}` | {row['Data type']} | {_cell(row['Comment'])} |")
    options = st.show_config(data_type)
    own = options[[name in plugin.takes_config and data_type in _as_tuple(applies)
                   for name, applies in zip(options["option"], options["applies_to"])]]
    if len(own):
        lines += ["", "| option | default | help |", "|---|---|---|"]
        for _, row in own.drop_duplicates("option").sort_values("option").iterrows():
            default = row["current"] if not _is_missing(row["current"]) else row["default"]
            shown = "none" if _is_missing(default) else f"`{_cell(default)}`"
            lines.append(f"| `{row['option']}` | {shown} | {_cell(row['help'])} |")
    return lines + [""]


def _is_missing(value) -> bool:
    """No value: None, NaN, or strax's marker of an option with no default."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == "<OMITTED>"


def cli_reference() -> str:
    """Markdown: the ``--help`` of ``ddcore`` and of every command, kernel and plugin ones."""
    from ddcore.cli import _build

    parser, commands = _build()
    lines = ["# Command line", "", "Every command the installed packages provide, with its `--help`.", "",
             "```text", parser.format_help().rstrip(), "```", ""]
    for name, command in commands.parsers.items():
        lines += [f"## `ddcore {name}`", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(lines)
