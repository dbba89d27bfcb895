"""The `gradkit` application: the command group, bad input as one line with a documented exit
code, and the entry point. The commands are in `gradkit.cli._run` (train, evaluate, predict,
export, datasets) and `gradkit.cli._recipe` (search, doctor).

Exit codes: 0 done, 2 bad input or usage, 3 training diverged, 130 interrupted (Ctrl-C),
141 stdout closed by its reader, 1 a bug (with its traceback).
"""

from __future__ import annotations

import functools
import os
import select
import sys

import click

from gradkit.errors import ConfigError, DataError, ModelFileError, TrainingDiverged

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130
# What a shell reports for a process that SIGPIPE ended (128 + 13), as `cat` or `seq` get
# when the reader of their output goes away (`| head -1`): under `set -o pipefail` a script
# sees output cut short, not 0 (which would claim every row was written).
EXIT_STDOUT_CLOSED = 141


def handle_errors(fn):
    """Turn the boundary's errors into one line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (DataError, ConfigError, ModelFileError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except TrainingDiverged as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_DIVERGED)
        except OSError as err:           # unreadable or unwritable paths are the user's input too
            if isinstance(err, BrokenPipeError) and _stdout_reader_gone():
                _quiet_exit_on_closed_stdout()      # `gradkit predict ... | head -1`
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"error: {where}{err.strerror or err}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:        # Ctrl-C: one line and the shell's 128 + SIGINT
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def refuse_output_is_input(outputs, option, inputs):
    """Refuse, before any work, an output that is one of the command's input files.

    The atomic rename would replace the input with the output (`export m.safetensors --onnx
    m.safetensors` lost the model). Sameness is by inode (`os.path.samefile`), so a second name
    for the file (a hard link, a symlink, `./d.csv`) is caught too.

    Args:
        outputs: the paths the command writes.
        option: the option that names them, for the message (e.g. ``"--out"``).
        inputs: (label, path) pairs; a path of None is skipped.
    """
    for output in outputs:
        for label, path in inputs:
            if path is None:
                continue
            try:
                same = os.path.samefile(output, path)
            except (OSError, ValueError):   # a new output, or an input that is no file
                continue
            if same:
                raise ConfigError(f"{option} {output}: is the same file as {label} {path}; "
                                  "writing it would replace the input, choose another path")


def _stdout_reader_gone():
    """Whether stdout is a pipe whose reading end is closed (poll reports POLLERR)."""
    if not hasattr(select, "poll"):
        return True         # no poll (Windows): take the broken pipe to be stdout's
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError):          # stdout closed or not a file
        return True


def _quiet_exit_on_closed_stdout():
    """Exit as SIGPIPE would, silently: the Python docs' recipe (signal, "Note on SIGPIPE").

    stdout is pointed at devnull, so the interpreter's last flush of the unwritten rest does
    not raise again at exit; no process-wide SIGPIPE handler is installed.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_STDOUT_CLOSED)


def _show_in_one_line(err, file=None):
    hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
    click.echo(f"error: {err.format_message()}{hint}", file=file, err=file is None)


class _Group(click.Group):
    """click's group, except that a usage error is one line on stderr like any other bad input.

    click prints the usage, a hint and then the error over four lines; the design promises one
    line (`error: ...`) and exit status 2 for every bad input, flags included. Only how the
    error shows changes: click still catches it, and exits with its status.
    """

    def make_context(self, *args, **kwargs):      # parsing the group's own options
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as err:
            raise _one_line(err) from None

    def invoke(self, ctx):                         # parsing and running the subcommand
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _one_line(err) from None


def _one_line(err):
    if not isinstance(err, click.exceptions.NoArgsIsHelpError):    # bare `gradkit`: the help
        err.show = functools.partial(_show_in_one_line, err)
    return err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradkit")
def cli():
    """gradkit: train feed-forward neural networks on your own data."""


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="gradkit")
    except SystemExit as stop:
        if stop.code != EXIT_INTERRUPTED:
            raise
        # Ctrl-C: the line is printed, the run folder's lock released and every file written
        # atomically already; the interpreter's own shutdown (joining thread pools, freeing
        # the data) took 1.3-1.6 s on a loaded machine, past the promised second.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
