"""gradkit.data.stream: statistics, shuffling, splits, resume and bad rows, on tiny files."""

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from gradkit.data import load_parquet, stream  # noqa: E402
from gradkit._moments import Moments  # noqa: E402
from gradkit.errors import DataError  # noqa: E402
from gradkit.nn.layers import Normalization  # noqa: E402

SIZES = (230, 310, 260)


def _frame(rng, n, first_id):
    X = rng.normal(size=(n, 3)) * [1.0, 30.0, 2.0] + [0.0, 1e4, -5.0]
    return {"rid": np.arange(first_id, first_id + n, dtype=np.int64), "a": X[:, 0],
            "b": X[:, 1], "c": X[:, 2].astype(np.float32),
            "color": rng.choice(["red", "green", "blue"], n),
            "label": rng.choice(["cat", "dog", "eel"], n)}


@pytest.fixture
def folder(tmp_path, rng):
    """Three Parquet files with row groups of 64 rows; "rid" numbers the rows 0..799."""
    first = 0
    for i, n in enumerate(SIZES):
        pq.write_table(pa.table(_frame(rng, n, first)), tmp_path / f"part{i}.parquet",
                       row_group_size=64)
        first += n
    return tmp_path


def _rids(batches):
    return np.concatenate([X[:, 0] for X, _ in batches]).astype(np.int64)


def test_moments_merge_matches_numpy_on_data_with_a_large_mean(rng):
    X = rng.normal(size=(1000, 3)) + 1e8
    m = Moments(3, covariance=True)
    for part in np.array_split(X, [1, 17, 400, 401]):
        m.add(part)
    assert m.count == 1000
    np.testing.assert_allclose(m.mean, X.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(m.variance, X.var(axis=0), rtol=1e-7)
    np.testing.assert_allclose(m.covariance, np.cov(X.T, bias=True), rtol=1e-7, atol=1e-7)
    # What the merges avoid: E[x²] - E[x]² loses every digit at this mean.
    naive = (X * X).mean(axis=0) - X.mean(axis=0) ** 2
    assert np.abs(naive - X.var(axis=0)).max() > 0.1


def test_schema_and_statistics_match_the_in_memory_loader(folder, tmp_path_factory):
    whole = pa.concat_tables([pq.read_table(folder / f"part{i}.parquet") for i in range(3)])
    single = tmp_path_factory.mktemp("one") / "all.parquet"
    pq.write_table(whole, single)
    ds = load_parquet(single, target="label")
    s = stream(folder, target="label", batch_rows=50)
    assert s.schema == ds.schema()
    stats = s.statistics()
    assert stats.count == len(ds) == sum(SIZES)
    norm = Normalization().adapt(ds.X)
    np.testing.assert_allclose(stats.moments.mean.astype(np.float32), norm.mean, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(stats.moments.variance).astype(np.float32), norm.std,
                               rtol=1e-6)
    np.testing.assert_array_equal(stats.class_counts, np.bincount(ds.y, minlength=3))


def test_same_seed_same_batches_every_row_once_and_a_new_order_each_epoch(folder):
    def epoch(seed, e):
        s = stream(folder, target="label", batch_rows=40, shuffle_buffer=90, seed=seed)
        return list(s.batches(16, epoch=e))

    first, again, second = epoch(3, 0), epoch(3, 0), epoch(3, 1)
    assert all(len(X) == 16 for X, _ in first[:-1])
    ids = _rids(first)
    np.testing.assert_array_equal(ids, _rids(again))
    assert all(np.array_equal(y1, y2) for (_, y1), (_, y2) in zip(first, again))
    assert sorted(ids.tolist()) == list(range(sum(SIZES)))
    assert sorted(_rids(second).tolist()) == list(range(sum(SIZES)))
    assert not np.array_equal(ids, _rids(second))
    assert not np.array_equal(ids, _rids(epoch(4, 0)))
    # The buffer mixes rows across row groups: neighbours in a batch come from far apart.
    assert np.abs(np.diff(ids)).mean() > 64


def test_unshuffled_batches_keep_file_and_row_order(folder):
    s = stream(folder, target="label", batch_rows=40)
    np.testing.assert_array_equal(_rids(s.batches(7, shuffle=False)), np.arange(sum(SIZES)))


def test_sample_is_a_seeded_uniform_sample_of_the_view(folder):
    train = stream(folder, target="label", batch_rows=40, seed=2).split(val=0.2, test=0.2)[0]
    every = _rids(train.batches(50, shuffle=False))
    whole = train.sample(10_000)                   # more than it has: every row, once
    assert sorted(whole.X[:, 0].astype(np.int64).tolist()) == sorted(every.tolist())
    assert whole.schema()["feature_names"] == train.feature_names
    assert whole.class_names == train.class_names and whole.y.dtype == np.int64

    some = train.sample(100, seed=1)
    ids = some.X[:, 0].astype(np.int64)
    assert len(set(ids.tolist())) == 100 and set(ids.tolist()) <= set(every.tolist())
    np.testing.assert_array_equal(ids, train.sample(100, seed=1).X[:, 0].astype(np.int64))
    assert set(ids.tolist()) != set(train.sample(100, seed=2).X[:, 0].astype(np.int64).tolist())
    # Uniform over files: each file's share of 100 rows out of ~480 is near its own share.
    counts = np.array([np.sum(every < 230), np.sum((every >= 230) & (every < 540)),
                       np.sum(every >= 540)])
    picked = np.zeros(3)
    for seed in range(40):
        rid = train.sample(100, seed=seed).X[:, 0]
        picked += [np.sum(rid < 230), np.sum((rid >= 230) & (rid < 540)), np.sum(rid >= 540)]
    np.testing.assert_allclose(picked / picked.sum(), counts / counts.sum(), atol=0.03)
    with pytest.raises(DataError, match="n must be"):
        train.sample(0)


def test_split_is_fixed_by_row_identity(folder, tmp_path):
    def parts(path, **options):
        views = stream(path, target="label", seed=5, **options).split(val=0.2, test=0.3)
        return [set(_rids(v.batches(32, epoch=e)).tolist()) for v, e in zip(views, (0, 1, 2))]

    train, val, test = parts(folder, batch_rows=40, shuffle_buffer=50)
    assert train | val | test == set(range(sum(SIZES)))
    assert not (train & val or train & test or val & test)
    assert 0.2 < len(test) / sum(SIZES) < 0.4 and 0.1 < len(val) / sum(SIZES) < 0.3
    # Other reading settings, another epoch, the folder moved: the same rows in each part.
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in folder.glob("*.parquet"):
        f.rename(moved / f.name)
    assert parts(moved, batch_rows=13, shuffle_buffer=0, prefetch=0) == [train, val, test]
    stats = stream(moved, target="label", seed=5).split(val=0.2, test=0.3)[1].statistics()
    assert stats.count == len(val)


def test_resume_from_a_saved_state_continues_bit_identically(folder):
    s = stream(folder, target="label", batch_rows=40, shuffle_buffer=90, seed=2)
    train = s.split(val=0.1, test=0.1)[0]
    full = list(train.batches(16, epoch=1))
    for stop in (1, 9, len(full) - 1):
        it = train.batches(16, epoch=1)
        head = [next(it) for _ in range(stop)]
        state = it.state()
        it.close()
        state = {k: (np.array(v) if k != "meta" else v) for k, v in state.items()}
        rest = list(train.batches(16, epoch=1, state=state))
        for (X1, y1), (X2, y2) in zip(head + rest, full, strict=True):
            np.testing.assert_array_equal(X1, X2)
            np.testing.assert_array_equal(y1, y2)


def _csv_files(tmp_path, rng, bad=None):
    first = 0
    for i, n in enumerate(SIZES):
        frame = _frame(rng, n, first)
        lines = ["rid,a,b,c,color,label"]
        for r in range(n):
            row = [str(frame[k][r]) for k in ("rid", "a", "b", "c", "color", "label")]
            if bad is not None and (i, r) == bad[:2]:
                row[bad[2]] = bad[3]
            lines.append(",".join(row))
        (tmp_path / f"part{i}.csv").write_text("\n".join(lines) + "\n")
        first += n


def test_csv_glob_streams_like_the_parquet_folder(tmp_path, rng):
    _csv_files(tmp_path, rng)
    s = stream(str(tmp_path / "part*.csv"), target="label", batch_rows=70)
    assert s.schema["categories"] == {"color": ["blue", "green", "red"]}
    assert s.statistics().count == sum(SIZES)
    np.testing.assert_array_equal(_rids(s.batches(50, shuffle=False)), np.arange(sum(SIZES)))


@pytest.mark.parametrize("column, value, problem", [
    (2, "oops", "expected a number, got 'oops'"),
    (4, "purple", "category 'purple' was not seen"),
])
def test_a_bad_csv_row_in_the_third_file_is_named_by_file_column_and_row(
        tmp_path, rng, column, value, problem):
    _csv_files(tmp_path, rng, bad=(2, 136, column, value))
    s = stream(tmp_path, target="label", batch_rows=50)
    if column == 4:
        # A text column: the schema pass takes 'purple' as a category; a model's schema
        # (like=) does not know it.
        good = stream(tmp_path, target="label").schema
        good["categories"]["color"] = ["blue", "green", "red"]
        good["feature_names"] = [n for n in good["feature_names"] if n != "color=purple"]
        s = stream(tmp_path, like=good, batch_rows=50)
    with pytest.raises(DataError) as err:
        s.statistics()
    name = "abc"[column - 1] if column < 4 else "color"
    assert f"part2.csv, column '{name}', data row 137 (1-based, header not counted)" \
        in str(err.value)
    assert problem in str(err.value)


def test_a_null_in_the_third_parquet_file_is_named(folder):
    table = pq.read_table(folder / "part2.parquet")
    b = table.column("b").to_pylist()
    b[150] = None
    pq.write_table(table.set_column(2, "b", pa.array(b)), folder / "part2.parquet",
                   row_group_size=64)
    with pytest.raises(DataError, match=r"part2.parquet, column 'b', data row 151 \(1-based\): "
                                        r"missing value \(null\)"):
        stream(folder, target="label", batch_rows=50).statistics()


def test_files_with_different_columns_are_refused(folder):
    pq.write_table(pa.table({"x": [1.0]}), folder / "part9.parquet")
    with pytest.raises(DataError, match="part9.parquet: columns .* differ"):
        stream(folder, target="label")


def test_settings_are_checked():
    with pytest.raises(DataError, match="batch_rows must be a positive integer"):
        stream("whatever", batch_rows=0)
    with pytest.raises(DataError, match="no such file or folder"):
        stream("/nonexistent/data")


def test_the_reader_thread_changes_no_batch_and_forwards_errors(folder):
    def batches(prefetch):
        s = stream(folder, target="label", batch_rows=40, shuffle_buffer=90, seed=3,
                   prefetch=prefetch)
        return list(s.batches(16, epoch=2))

    for (X1, y1), (X2, y2) in zip(batches(0), batches(3), strict=True):
        np.testing.assert_array_equal(X1, X2)
        np.testing.assert_array_equal(y1, y2)

    from gradkit.data._prefetch import Prefetch

    def failing():
        yield 1
        raise DataError("file.csv, column 'a', data row 9: bad")

    reader = Prefetch(failing(), depth=1)
    assert next(reader) == 1
    with pytest.raises(DataError, match="data row 9: bad"):
        next(reader)
    endless = Prefetch(iter(int, 1), depth=2)       # never ends: close() must stop it
    assert next(endless) == 0
    endless.close()
    assert not endless._thread.is_alive()


def test_statistics_saved_once_load_elsewhere_only_for_the_same_split(folder, tmp_path):
    path = tmp_path / "stats.safetensors"
    train = stream(folder, target="label", seed=1).split(val=0.1, test=0.2)[0]
    expected = train.statistics(covariance=True)
    train.save_statistics(path)
    again = stream(folder, target="label", seed=1).split(val=0.1, test=0.2)
    assert again[0].load_statistics(path)
    got = again[0].statistics(covariance=True)
    assert got.count == expected.count
    np.testing.assert_array_equal(got.moments.mean, expected.moments.mean)
    np.testing.assert_array_equal(got.moments.covariance, expected.moments.covariance)
    np.testing.assert_array_equal(got.class_counts, expected.class_counts)
    assert len(again[2]) == len(stream(folder, target="label", seed=1).split(
        val=0.1, test=0.2)[2])
    other = stream(folder, target="label", seed=2).split(val=0.1, test=0.2)[0]
    assert not other.load_statistics(path)
