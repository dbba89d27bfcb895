"""What a search checks before its first trial, and the repair of its journal.

A search that fails must fail before it spends an hour of trials: an unknown metric, a space
holding a value no run accepts, or a scheduler address that is no address are refused here,
each in one line. The journal (Optuna's append-only log of the study) is read like a write-ahead
log: a damaged record is skipped with a warning rather than ending the search in a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import stat
import threading
import warnings

from optuna.distributions import CategoricalDistribution

from gradkit import _atomic
from gradkit.errors import ConfigError
from gradkit.practice._search_space import trial_config
from gradkit.practice.run import RunConfig, loss_and_metrics

# Dask's address forms: [protocol://]host:port; a bare host or a path is no address.
_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
                      r":(\d{1,5})/?$")
_PROBE_SECONDS = 3.0
ANSWER_SECONDS = 10.0      # for a Dask scheduler's identity


def check_scheduler(address, *, name="scheduler"):
    """Refuse, in at most `ANSWER_SECONDS`, an address where no Dask scheduler answers; `name`
    is what the message calls the setting (the CLI's --scheduler)."""
    if address is None:
        return
    match = _ADDRESS.match(address) if isinstance(address, str) else None
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ConfigError(f"{name}: expected a Dask scheduler address like "
                          f"tcp://HOST:PORT, got {address!r}")
    if match.group(1) in (None, "tcp"):
        # A plain TCP connect says at once that nothing listens there, where Dask's client
        # would retry for its whole timeout (other protocols are Dask's to try).
        host, port = match.group(2).strip("[]"), int(match.group(3))
        try:
            socket.create_connection((host, port), timeout=_PROBE_SECONDS).close()
        except OSError as err:
            raise ConfigError(f"cannot reach the Dask scheduler at {address}: "
                              f"{err.strerror or err}") from None
    answer = _ask_identity(address, ANSWER_SECONDS)
    if not isinstance(answer, dict):
        raise ConfigError(f"{name} {address}: no Dask scheduler answered within "
                          f"{ANSWER_SECONDS:g} s")
    if answer.get("type") != "Scheduler":
        raise ConfigError(f"{name} {address}: a Dask {answer.get('type')} answered, not a "
                          "scheduler; give the scheduler's address")


def _ask_identity(address, seconds):
    """The Dask server at `address`'s identity, or None when none answers within `seconds`.

    Dask's `Client(address, timeout=...)` bounds the connect but not the handshake after it
    (dask/distributed#7698 took it out of the timeout, #8071): a server that accepts the
    connection and never answers (any TCP server that is not Dask's) kept it waiting for ever.
    The whole exchange runs under one deadline here, on a thread of its own, because
    `asyncio.run` refuses a thread whose event loop runs already (a notebook's); the thread
    is a daemon, so that Ctrl-C meanwhile does not wait for it.
    """
    try:
        from distributed.comm import connect
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'gradkit[search]'") from None

    async def identity():
        comm = await connect(address, timeout=seconds)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            await comm.close()

    answer = []

    def ask():
        try:
            answer.append(asyncio.run(asyncio.wait_for(identity(), seconds)))
        except Exception:           # refused, timed out, or not Dask's protocol: no answer
            pass

    thread = threading.Thread(target=ask, name="gradkit-scheduler-probe", daemon=True)
    thread.start()
    thread.join(seconds + 1.0)      # wait_for's own cancellation may take a moment
    return answer[0] if answer else None


def check_study_files(out, names):
    """Refuse, before anything is read or written, a file of the search folder that is no
    regular file: opening a FIFO blocks until a writer comes (the search hung), and a device
    or a folder is no journal. A missing file is a new search's."""
    for name in names:
        path = os.path.join(out, name)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as err:
            raise ConfigError(f"{path}: cannot read it ({err.strerror or err})") from None
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{path}: is {_atomic.kind_of(mode)}, not a regular file; a "
                              "search keeps its study in regular files: move it away or "
                              "choose another folder")


def check_metric(metric, task):
    """The validation metrics a run of `task` logs; refuse any other name."""
    known = ["val_loss"] + ["val_" + m for m in loss_and_metrics(task)[1]]
    if metric not in known:
        raise ConfigError(f"metric must be one of {', '.join(known)} for {task} data, "
                          f"got {metric!r}")


def check_space(config, distributions):
    """Build the run config at both ends of every range (and for every choice): a value no run
    accepts (dropout 1.5, a width of 0, a float batch size) is refused before any trial."""
    for name, dist in distributions.items():
        values = dist.choices if isinstance(dist, CategoricalDistribution) else \
            (dist.low, dist.high)
        for value in values:
            try:
                RunConfig.from_dict(trial_config(config, {name: value})).validate()
            except (ConfigError, TypeError, ValueError) as err:
                reason = str(err).removeprefix("config: ")
                raise ConfigError(f"space: {name}={value!r} cannot be trained ({reason})") \
                    from None


# The settings a network's memory depends on. The smallest network of a space takes the low
# end of each such range, and of a list of choices whichever fits; the other settings keep
# their base values (the memory check does not read them).
_SIZES = ("width", "depth", "batch_size", "pca_components", "normalize")
_MAX_POINTS = 64        # combinations of choices tried


def check_smallest_network(config, distributions, fits):
    """Refuse a space whose smallest network cannot be trained, naming its settings.

    `fits(run_config)` raises ConfigError for a network a run refuses (`check_memory`, or
    `check_stream` for streamed data). A larger network of the space that does not fit fails
    as its trial does; only a space with no network that fits is refused before the study.
    """
    options = []
    for name, dist in distributions.items():
        if name not in _SIZES:
            continue
        if isinstance(dist, CategoricalDistribution):
            options.append([(name, choice) for choice in dist.choices])
        else:
            options.append([(name, dist.low)])
    first = None
    for point in itertools.islice(itertools.product(*options), _MAX_POINTS):
        point = dict(point)
        try:
            run = RunConfig.from_dict(trial_config(config, point))
        except (ConfigError, TypeError, ValueError):
            continue            # choices that do not go together (normalize without components)
        try:
            fits(run)
            return
        except ConfigError as err:
            first = first or (point, err)
    if first is not None:
        point, err = first
        settings = ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the base settings"
        raise ConfigError(f"space: its smallest network ({settings}) cannot be trained: {err}")


def repair_journal(path):
    """Undo what a killed search or a damaged disk leaves in the journal (the caller holds the
    folder lock, so no other process writes it).

    Optuna's lock files would make the next search wait for them to go stale: removed. A
    half-written last line: cut. A line in the middle that is not a journal record: skipped with
    a warning, when the records after it still name the trials they did; when it was the
    record that created a trial (the later ones then point at the wrong trials), the journal
    ends before it, as a write-ahead log would, and the warning says how many records went.
    """
    for suffix in (".lock", ".rename"):           # JournalFileSymlinkLock's files
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    lines = data.split(b"\n")
    tail = lines.pop()                 # b"" when the file ends with a newline
    records, bad = [], []
    for number, line in enumerate(lines, 1):
        record = _record(line)
        if record is None:
            bad.append(number)
        else:
            records.append((line, record))
    if not bad and not tail:
        return
    name = os.path.basename(path)
    if bad:
        kept = _consistent_prefix(records, lines, bad)
        dropped = len(lines) - len(bad) - len(kept)
        more = f", and the {dropped} records after line {bad[0]} (it may have created a " \
            "trial they name)" if dropped else ""
        warnings.warn(f"{name}: skipped {len(bad)} damaged line(s) ({_numbers(bad)}){more}; "
                      "the trials they recorded run again", UserWarning, stacklevel=3)
        records = kept
    _atomic.atomic_write_bytes(path, b"".join(line + b"\n" for line, _ in records))


def _record(line):
    """The journal record a line holds, or None."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("op_code"), int) or \
            isinstance(record.get("op_code"), bool) or \
            not isinstance(record.get("worker_id"), str) or not 0 <= record["op_code"] <= 10:
        return None
    return record


_CREATE_TRIAL = 4


def _consistent_prefix(records, lines, bad):
    """`records` less the damaged lines if every trial id still names a trial created before
    it; else the records before the first damaged line."""
    created = 0
    for _, record in records:
        if record["op_code"] == _CREATE_TRIAL:
            created += 1
        elif "trial_id" in record and not (isinstance(record["trial_id"], int)
                                           and 0 <= record["trial_id"] < created):
            break
    else:
        return records
    before = bad[0] - 1                # records before the first damaged line, all good
    return records[:before]


def _numbers(bad):
    shown = ", ".join(f"line {n}" for n in bad[:5])
    return shown + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
