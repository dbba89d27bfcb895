"""`gradkit predict ... | head -1`: a reader that goes away ends the command quietly, as SIGPIPE
ends `cat`, with status 141 and nothing on stderr."""

import os
import subprocess
import sys

import gradkit as gk

# The gradkit under test, wherever it was imported from.
SOURCE = os.path.dirname(os.path.dirname(gk.__file__))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}


def test_predict_into_a_closed_pipe_exits_141_without_a_message(animals_run):
    run, _ = animals_run
    data = run.parent / "animals.csv"
    proc = subprocess.Popen([sys.executable, "-m", "gradkit.cli", "predict",
                             str(run / "model.safetensors"), str(data)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()        # the reader is gone before a single row is written
    _, err = proc.communicate(timeout=120)
    assert err.decode() == ""
    assert proc.returncode == 141


def test_an_open_stdout_pipe_is_not_taken_for_a_closed_one():
    # A broken pipe elsewhere (not stdout) stays an error: the check must see this one as open.
    out = subprocess.run([sys.executable, "-c", "from gradkit.cli._app import _stdout_reader_gone; "
                          "print(_stdout_reader_gone())"], env=ENV, capture_output=True,
                         timeout=120, check=True)
    assert out.stdout.decode().strip() == "False"
