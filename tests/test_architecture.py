"""The house rules: the kernel imports no plugin, options are declared where they are used,
commands and detectors arrive through entry points, one console script named ddcore."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import strax

import ddcore
from ddcore import registry
from tests.helpers import REPOSITORY, run_command

KERNEL_COMMANDS = {"detectors", "make", "info", "batch"}
PLUGIN_COMMANDS = {"train", "grid-search", "evaluate", "report", "published", "demo", "show", "validate-sim",
                   "newsdm", "blind", "unblind", "closure"}


def test_import_linter_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(REPOSITORY / "pyproject.toml"), "--no-cache"],
                            capture_output=True, text=True, cwd=REPOSITORY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_kernel_code_does_not_name_the_plugins():
    """Only docstrings and comments of ddcore may mention ddplugins (e.g. as an example)."""
    for path in (REPOSITORY / "ddcore").glob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert "ddplugins" not in node.value, f"{path.name}:{node.lineno}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.startswith("ddplugins") for n in names), f"{path.name}:{node.lineno}"


def _all_plugin_classes():
    classes = {}
    for name in ddcore.detectors():
        for plugin in ddcore.get_detector(name).plugins:
            classes[plugin.__name__] = plugin
    return classes.values()


@pytest.mark.parametrize("plugin", _all_plugin_classes(), ids=lambda p: p.__name__)
def test_every_option_is_declared_in_the_plugin_body(plugin):
    declared = set()
    for cls in plugin.__mro__:
        option_group = cls.__name__.endswith("Options")  # e.g. tpc._options.PMTLayoutOptions
        if cls is strax.Plugin or not issubclass(cls, strax.Plugin) or not (
                "provides" in cls.__dict__ or option_group):
            continue  # other base classes declare no options: only a plugin, its parent or an option group may
        declared |= {k for k, v in cls.__dict__.items() if isinstance(v, strax.Config)}
    assert set(plugin.takes_config) == declared
    for option in plugin.takes_config.values():
        assert option.help, f"{plugin.__name__}.{option.name} has no help text"


def test_lineage_holds_only_the_options_a_plugin_uses(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path), sim_n_events=10)
    base = {dt: st.key_for("er_sr0_000", dt).lineage_hash for dt in ("event_basics", "event_images", "peaks")}
    moved = ddcore.derive(st, tpc_radius_cm=50.0)
    # tpc_radius_cm shapes the simulation, so everything downstream of raw_records changes ...
    assert all(moved.key_for("er_sr0_000", dt).lineage_hash != h for dt, h in base.items())
    # ... but an option read only by event_basics changes nothing upstream or beside it
    assert "electron_lifetime_us" in st.get_single_plugin("er_sr0_000", "event_basics").takes_config
    assert "electron_lifetime_us" not in st.get_single_plugin("er_sr0_000", "event_images").takes_config
    assert "tpc_radius_cm" not in st.get_single_plugin("er_sr0_000", "event_images").takes_config


def test_derive_keeps_detector_and_preset(tmp_path):
    st = ddcore.context("xenon1t", storage=str(tmp_path), preset="sr1")
    derived = ddcore.derive(st, sim_n_events=7)
    assert isinstance(derived, ddcore.DDContext)
    assert (derived.detector, derived.preset) == ("xenon1t", "sr1")
    assert derived.config["sim_n_events"] == 7 and st.config.get("sim_n_events") != 7
    with pytest.raises(ddcore.ConfigError, match="unknown option 'sim_n_event'"):
        ddcore.derive(st, sim_n_event=7)


def test_commands_come_from_entry_points():
    from ddcore.cli import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    assert commands == KERNEL_COMMANDS | PLUGIN_COMMANDS
    entry_points = {p: n for n, p in registry.plugin_manager().list_name_plugin()}
    assert {m.__name__ for m in entry_points} >= {
        "ddplugins.xenon1t", "ddplugins.xenonnt", "ddplugins.newsdm", "ddplugins.commands.search",
        "ddplugins.commands.analyses"}


def test_console_script_is_ddcore_and_no_dd_is_installed():
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "ddcore").exists()
    assert not (bin_dir / "dd").exists() or "coreutils" in os.path.realpath(bin_dir / "dd")
    help_text = subprocess.run([str(bin_dir / "ddcore"), "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "make" in help_text.stdout
    module = run_command("--help")
    assert module.stdout == help_text.stdout


@pytest.mark.parametrize("command", sorted(KERNEL_COMMANDS | PLUGIN_COMMANDS))
def test_every_command_explains_itself(command):
    from ddcore.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0


def _strongly_connected(edges):
    """The groups of nodes that reach each other (Tarjan), of a {node: set of nodes} graph."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in list(edges):
        if node not in index:
            visit(node)
    return groups


def _import_edges(collapse):
    """{importer: imported} over ddcore and ddplugins, deferred imports included, with each
    module renamed by ``collapse`` (self-imports dropped)."""
    import grimp

    graph = grimp.build_graph("ddcore", "ddplugins")
    edges = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = collapse(module), collapse(imported)
            if a != b:
                edges.setdefault(a, set()).add(b)
    return edges


def _cycles(edges):
    return [sorted(group) for group in _strongly_connected(edges) if len(group) > 1]


def test_no_module_imports_itself_through_others():
    assert _cycles(_import_edges(lambda module: module)) == []


def test_no_sub_package_imports_itself_through_others():
    """ddcore, and each sub-package (or top-level module) of ddplugins, as one node."""
    def sub_package(module):
        parts = module.split(".")
        return ".".join(parts[:2]) if parts[0] == "ddplugins" else parts[0]

    edges = _import_edges(sub_package)
    assert _cycles(edges) == []
    assert {"ddplugins.search", "ddplugins.analyses", "ddplugins.commands"}.isdisjoint(
        edges.get("ddplugins.ml", set()) | edges.get("ddplugins.events", set())), "a plugin imports the analysis layer"


def _strax_private_names():
    """Names of strax's private attributes and methods (``self._x`` anywhere in its source)."""
    import re

    source = "".join(p.read_text() for p in Path(strax.__file__).parent.rglob("*.py"))
    return set(re.findall(r"self\.(_[a-z]\w*)", source))


def test_strax_internals_are_reached_only_through_the_shim():
    """Outside ddcore/_strax_shim.py, no code touches a private strax attribute of another
    object (its own overrides of strax's storage extension points are called on ``self``)."""
    private = _strax_private_names()
    assert "_plugin_class_registry" in private and "_fetch_chunk" in private
    found = []
    for path in [*(REPOSITORY / "ddcore").rglob("*.py"), *(REPOSITORY / "ddplugins").rglob("*.py")]:
        if path.name == "_strax_shim.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            owner = getattr(node, "value", None)
            if (isinstance(node, ast.Attribute) and node.attr in private
                    and not (isinstance(owner, ast.Name) and owner.id in ("self", "cls"))):
                found.append(f"{path.relative_to(REPOSITORY)}:{node.lineno} {ast.unparse(node)}")
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Attribute) and t.attr == "__class__" for t in node.targets):
                found.append(f"{path.relative_to(REPOSITORY)}:{node.lineno} assigns __class__")
    assert found == []


def test_importing_ddcore_and_making_a_context_leaves_the_process_alone(tmp_path):
    """A library: no environment variables, no logging configuration beyond a NullHandler on
    its own logger, no redirected file descriptors."""
    from tests.helpers import run_python

    code = f"""
import logging, os, sys
environment, descriptors = dict(os.environ), sorted(os.listdir('/proc/self/fd'))
levels = {{name: logging.getLogger(name).level for name in ('tensorflow', 'absl', 'numba', 'strax', 'distributed')}}
import ddcore
st = ddcore.context('xenon1t', storage={str(tmp_path)!r})
st.key_for('er_sr0_000', 'anomaly_scores')
assert dict(os.environ) == environment, set(os.environ) ^ set(environment)
assert sorted(os.listdir('/proc/self/fd')) == descriptors
assert {{name: logging.getLogger(name).level for name in levels}} == levels
assert logging.getLogger().handlers == []
assert [type(h).__name__ for h in logging.getLogger('ddcore').handlers] == ['NullHandler']
assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules
"""
    run_python(code, cwd=str(REPOSITORY))
