"""What `fit`, `evaluate`, `predict` and `Normalization.adapt` recognise as a stream of batches.

`gradkit.data.Stream` subclasses `BatchStream`. The packages below `data` (nn, train) test for
this class instead of importing `data`, which sits above them. What they call on a stream:
`statistics(covariance=)` (count and float64 moments), `batches(batch_size, epoch=, shuffle=,
state=)` (an iterator of (X, y) with `state()`, `batches` and `close()`), `in_order()`,
`fingerprint()`, `len()`, and the schema's `n_features`, `class_names`, `part`, `source`.
"""


class BatchStream:
    """Base class of data streams (see `gradkit.data.stream.Stream`)."""

    __slots__ = ()


def is_stream(value) -> bool:
    """Whether `value` is a data stream rather than an array."""
    return isinstance(value, BatchStream)
