"""`make fuzz`: coverage-guided fuzzing of the model loader and the CSV reader with atheris.

    python fuzz/run.py TARGET SECONDS      # TARGET: model or csv

A finding (an exception that is not gradkit's own, a crash, a hang over 10 s) stops the run
and leaves the input in fuzz/findings/. Without atheris (it needs a compiler to install), the
same targets run under a Hypothesis-driven loop of random and mutated inputs instead.
"""

from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("GRADKIT_MEMORY_LIMIT", "512M")   # bombs are refused, not allocated


def _atheris(target, seconds):
    import atheris

    with atheris.instrument_imports(include=["gradkit"]):
        import gradkit  # noqa: F401
        from gradkit import data, io  # noqa: F401
        from gradkit.data import _columns, csvfile, tabular  # noqa: F401
    import targets

    fn, ok = targets.TARGETS[target], targets.expected_errors()

    def one_input(data):
        try:
            fn(data)
        except ok:
            pass

    corpus = os.path.join(HERE, "corpus", target)
    os.makedirs(corpus, exist_ok=True)
    for i, seed in enumerate(targets.seeds(target)):
        with open(os.path.join(corpus, f"seed{i}"), "wb") as f:
            f.write(seed)
    findings = os.path.join(HERE, "findings", target) + os.sep
    os.makedirs(findings, exist_ok=True)
    atheris.Setup([sys.argv[0], corpus, f"-max_total_time={seconds}", "-timeout=10",
                   "-rss_limit_mb=3072", "-max_len=200000", f"-artifact_prefix={findings}",
                   "-print_final_stats=1"], one_input)
    atheris.Fuzz()


def _fallback(target, seconds):
    """Random bytes and byte-level mutations of the seeds, as many as fit in `seconds`."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import targets

    fn, ok = targets.TARGETS[target], targets.expected_errors()
    seeds = targets.seeds(target)
    inputs = st.one_of(st.binary(max_size=4096), st.builds(
        _mutate, st.sampled_from(seeds), st.lists(st.tuples(st.integers(0, 1 << 20),
                                                            st.binary(max_size=16)),
                                                  max_size=8)))
    deadline = time.monotonic() + seconds
    tried = 0

    @settings(max_examples=200, deadline=10_000, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def check(data):
        try:
            fn(data)
        except ok:
            pass

    while time.monotonic() < deadline:     # rounds of 200 until the time is up
        check()
        tried += 200
    print(f"{target}: {tried} inputs, no finding")


def _mutate(seed, edits):
    out = bytearray(seed)
    for at, piece in edits:
        at %= max(len(out), 1)
        out[at:at + len(piece)] = piece
    return bytes(out)


def main():
    target, seconds = sys.argv[1], int(sys.argv[2])
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (pip install atheris; it needs clang to build): "
              "running the Hypothesis fallback", file=sys.stderr)
        return _fallback(target, seconds)
    return _atheris(target, seconds)


if __name__ == "__main__":
    main()
