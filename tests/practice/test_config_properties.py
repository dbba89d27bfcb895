"""Property tests of the config reader (issue 17): arbitrary bytes and configs of arbitrary
JSON values give a RunConfig that validates, or one ConfigError, never another exception."""

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradkit.errors import ConfigError
from gradkit.practice.run import RunConfig

SETTINGS = settings(max_examples=80, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**400, 10**400)
                    | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
FIELDS = st.sampled_from(sorted(RunConfig().to_dict()) + ["colour"])


def reads_or_refuses(path):
    start = time.monotonic()
    try:
        config = RunConfig.from_file(path)
    except ConfigError as err:
        assert "\n" not in str(err) and str(err).startswith(str(path)), str(err)
    else:
        assert config.validate() is config
    assert time.monotonic() - start < 5


@SETTINGS
@given(data=st.binary(max_size=400))
def test_config_of_arbitrary_bytes(tmp_path, data):
    (tmp_path / "c.json").write_bytes(data)
    reads_or_refuses(tmp_path / "c.json")


@SETTINGS
@given(settings_=st.dictionaries(FIELDS, JSON, max_size=4), wrap=st.booleans())
def test_config_of_arbitrary_values(tmp_path, settings_, wrap):
    (tmp_path / "c.json").write_text(json.dumps({"run": settings_} if wrap else settings_))
    reads_or_refuses(tmp_path / "c.json")
