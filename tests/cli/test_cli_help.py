"""`gradkit --help`, each command's help, `gradkit datasets list`."""

import re

import click
import pytest

from gradkit.cli import cli

COMMANDS = {
    "train": ["--target", "--hidden", "--activation", "--init", "--optimizer", "--lr",
              "--schedule", "--batch-size", "--epochs", "--dropout", "--batch-norm", "--l1",
              "--l2", "--early-stopping", "--normalize", "--pca-components", "--val", "--test",
              "--seed", "--checkpoint-every", "--config", "--out", "--resume", "--quiet"],
    "evaluate": [],
    "predict": ["--out", "--proba"],
    "export": ["--onnx"],
}


def all_commands(group=cli, path=()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*path, name))


def test_top_level_help_lists_every_command(kit):
    result = kit.run("--help")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: gradkit [OPTIONS] COMMAND [ARGS]...")
    listed = re.findall(r"^  (\w+)  ", result.stdout.split("Commands:")[1], re.M)
    assert sorted(listed) == sorted(cli.commands)
    assert {"datasets", "evaluate", "export", "predict", "train"} <= set(listed)
    assert "--version" in result.stdout
    assert kit.run("-h").stdout == result.stdout
    bare = kit.run()                        # no command: the help, as click does
    assert bare.stdout + bare.stderr == result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help_lists_the_documented_options(kit, command):
    result = kit.run(command, "--help")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith(f"Usage: gradkit {command} [OPTIONS]")
    for option in COMMANDS[command] + ["--help"]:
        assert re.search(rf"^\s+(-\w, )?{re.escape(option)}\b", result.stdout, re.M), option


@pytest.mark.parametrize("path", [p for p, _ in all_commands()], ids=" ".join)
def test_every_option_of_every_command_is_in_its_help_with_a_description(kit, path):
    command = dict(all_commands())[path]
    result = kit.run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: gradkit {' '.join(path)}")
    words = " ".join(result.stdout.split())              # help text is re-wrapped
    assert command.help and " ".join(command.help.split("\n")[0].split()) in words
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{'/'.join(param.opts)} has no help text"
            for opt in param.opts + param.secondary_opts:
                assert opt in result.stdout, opt
        else:
            assert param.human_readable_name in result.stdout.splitlines()[0]


def test_train_help_documents_defaults_and_the_run_folder(kit):
    text = " ".join(kit.run("train", "--help").stdout.split())
    for piece in ["[default: 256,256]", "[default: 1e-3]", "[default: 30]", "[default: 32]",
                  "[default: adam]", "[default: relu]", "digits", "model.safetensors",
                  "config.json", "history.csv", "metrics.json", "learning_curves.png",
                  "confusion_matrix.png", "--config"]:
        assert piece in text, piece


def test_datasets_list_shows_digits_available(kit):
    result = kit.run("datasets", "list")
    assert result.exit_code == 0 and result.stderr == ""
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    for name in ("digits", "iris", "wine", "breast_cancer", "diabetes", "xor", "spirals"):
        assert rows[name].endswith("[available: yes]"), rows[name]
    assert "1797 samples, 64 features, 10 classes" in rows["digits"]
    for name in ("mnist", "fashion-mnist"):
        assert rows[name].endswith(("[available: yes]",
                                    f"[available: no (gradkit datasets fetch {name})]"))
    assert kit.run("datasets").stdout == result.stdout       # `list` is the default


def test_version(kit):
    import gradkit

    result = kit.run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"gradkit, version {gradkit.__version__}\n"


def test_help_loads_no_command_implementation():
    # `gradkit --help` and a command's start pay only for what runs: the implementations
    # (data, io, training, practice) are imported by the command that uses them.
    import ast
    import os
    import subprocess
    import sys

    import gradkit as gk

    source = os.path.dirname(os.path.dirname(gk.__file__))
    code = ("import sys\nfrom gradkit.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit as e:\n    assert not e.code, e\n"
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('gradkit.')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": source}, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = ast.literal_eval(out.stdout.splitlines()[-1])
    assert "train" in out.stdout and not {"data", "io", "nn", "optim", "train", "practice",
                                          "sklearn"} & set(loaded), loaded
