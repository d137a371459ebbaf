"""The analysis configurations of configs/: each makes the context it says, changes no lineage
where it repeats a packaged value, and bad files are refused naming the file and the key."""

import pytest
import strax

import ddcore
from ddcore import cli
from ddcore.config import load_analysis_config
from tests.helpers import REPOSITORY

CONFIGS = sorted((REPOSITORY / "configs").glob("*.toml"))


def test_there_is_one_config_per_detector_preset_and_one_for_the_demo():
    from ddcore.config import preset_names

    expected = {f"{name}_{preset}.toml" for name in ddcore.detectors()
                for preset in preset_names(ddcore.get_detector(name).config_file)}
    assert {path.name for path in CONFIGS} == expected | {"demo.toml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_a_config_makes_its_context_with_the_packaged_lineage(path, tmp_path):
    config = load_analysis_config(path)
    st = ddcore.context(config=path, storage=str(tmp_path))
    assert (st.detector, st.preset) == (config.detector, config.preset)
    for name, value in config.options.items():
        assert st.config[name] == value
    plain = ddcore.context(config.detector, storage=str(tmp_path), preset=config.preset)
    target = strax.to_str_tuple(ddcore.get_detector(config.detector).plugins[-1].provides)[0]
    run = f"pseudo_{config.preset}_000" if config.detector != "newsdm" else f"carbon30_{config.preset}_000"
    assert str(st.key_for(run, target)) == str(plain.key_for(run, target))


def test_arguments_override_the_config_and_a_changed_option_changes_the_lineage(tmp_path):
    path = REPOSITORY / "configs" / "xenon1t_sr1.toml"
    st = ddcore.context(config=path, storage=str(tmp_path), electron_lifetime_us=700.0)
    assert st.preset == "sr1" and st.config["electron_lifetime_us"] == 700.0
    assert ddcore.context(config=path, storage=str(tmp_path), preset="sr0").preset == "sr0"
    moved = tmp_path / "moved.toml"
    moved.write_text(path.read_text().replace("acceptance = 0.03", "acceptance = 0.05"))
    assert (ddcore.context(config=moved, storage=str(tmp_path)).key_for("er_sr1_000", "anomaly_scores")
            != ddcore.context(config=path, storage=str(tmp_path)).key_for("er_sr1_000", "anomaly_scores"))


@pytest.mark.parametrize("text, message", [
    ('detector = "xenon1t"\nstore = "x"\n', r"unknown key\(s\) 'store'"),
    ('detector = 3\n', r"'detector' must be a string"),
    ('options = 3\n', r"'options' must be a table"),
    ('detector = "xenon1t"\n[options]\nelectron_lifetime = 500.0\n',
     r"bad.toml option: unknown option 'electron_lifetime'"),
    ('detector = "xenon1t"\n[options]\nelectron_lifetime_us = "long"\n', r"'electron_lifetime_us' must be float"),
    ('detector = "xenon1t"\npreset = "sr9"\n', r"unknown preset 'sr9'"),
    ('detector = "nosuch"\n', r"nosuch"),
])
def test_a_bad_config_is_refused_naming_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises((ddcore.ConfigError, ddcore.UnknownDetectorError), match=message):
        ddcore.context(config=path, storage=str(tmp_path))


def test_a_command_takes_its_defaults_from_the_config(tmp_path, capsys):
    path = tmp_path / "analysis.toml"
    path.write_text('detector = "xenon1t"\n[commands.make]\nworkers = 3\nno_progress = true\n')

    def run_make(*arguments):
        parser, commands = cli._build()
        argv = ["make", "er_sr0_000", "peaks", "--config", str(path), *arguments]
        return cli._command_defaults(parser, commands, parser.parse_args(argv), argv)

    args = run_make()
    assert (args.workers, args.no_progress, args.runs, args.target) == (3, True, ["er_sr0_000"], "peaks")
    assert run_make("--workers", "1").workers == 1  # the command line wins
    path.write_text('detector = "xenon1t"\n[commands.make]\nworker = 3\n')
    assert cli.main(["make", "er_sr0_000", "peaks", "--config", str(path), "--data", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "analysis.toml: [commands.make] sets 'worker'" in error and "workers" in error
