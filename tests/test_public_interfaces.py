"""gradkit depends on other libraries' documented interfaces only: no private name of theirs.

Read from the source: an import of a third-party module whose dotted path has a part starting
with `_` (`sklearn.utils._param_validation`), an imported name starting with `_`
(`from sklearn.utils.validation import _check_sample_weight`), and an attribute starting with
`_` reached from a third-party module (`np.core._multiarray_umath`, `getattr(np, "_x")`).
A private name may change or vanish in any release of its library, without a deprecation.
Dunder names (`__version__`) are public. The standard library is not checked here.
Object attributes (`trial._trial_id`) need types to be seen; review catches those.
"""

import ast
import pathlib
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "gradkit"
FILES = sorted(SRC.rglob("*.py"))

# (file relative to src/gradkit, private name) -> why it is allowed. Keep this empty where
# possible; an entry that no longer occurs fails the suite, so the list stays true.
ALLOWED = {}


def _private(part):
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _third_party(module):
    top = module.split(".")[0]
    return top != "gradkit" and top not in sys.stdlib_module_names and top != "__future__"


def _dotted(node):
    """['np', 'core', '_x'] for the expression np.core._x; None if it is not a name's chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def private_uses(source):
    """[(line, dotted name)] for every private third-party name the source reaches."""
    tree = ast.parse(source)
    found = []
    modules = {}              # local name -> the third-party module (or object) it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _third_party(alias.name):
                    if any(_private(p) for p in alias.name.split(".")):
                        found.append((node.lineno, alias.name))
                    local = alias.asname or alias.name.split(".")[0]
                    modules[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and _third_party(node.module):
            if any(_private(p) for p in node.module.split(".")):
                found.append((node.lineno, node.module))
            for alias in node.names:
                if _private(alias.name):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        chain = None
        if isinstance(node, ast.Attribute):     # every link of a chain; the set keeps one
            chain = _dotted(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            base = _dotted(node.args[0])
            chain = None if base is None else [*base, node.args[1].value]
        if chain and chain[0] in modules and any(_private(p) for p in chain[1:]):
            cut = next(i for i, p in enumerate(chain) if i and _private(p)) + 1
            found.append((node.lineno, ".".join([modules[chain[0]], *chain[1:cut]])))
    return sorted(set(found))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_names_of_other_libraries(path):
    rel = str(path.relative_to(SRC))
    found = [f"line {line}: {name}" for line, name in private_uses(path.read_text())
             if (rel, name) not in ALLOWED]
    assert not found, f"{rel} uses private names of other libraries: {found}"


def test_every_allowed_exception_still_occurs():
    for (rel, name), reason in ALLOWED.items():
        assert reason, f"{rel}: {name} is allowed without a reason"
        names = {n for _, n in private_uses((SRC / rel).read_text())}
        assert name in names, f"{rel} no longer uses {name}: remove it from ALLOWED"


def test_the_checker_sees_each_kind_of_private_use():
    source = (
        "import numpy as np\n"
        "import sklearn.utils._param_validation\n"
        "from sklearn.utils._param_validation import Interval\n"
        "from sklearn.utils.validation import _check_sample_weight, check_array\n"
        "from scipy import special\n"
        "import os, _thread\n"
        "def f(x):\n"
        "    import pyarrow as pa\n"
        "    y = np.core._multiarray_umath.add(x, 1)\n"
        "    z = special._ufuncs.expit(x)\n"
        "    return getattr(pa, '_hidden'), np.__version__, np.linalg.norm(x), os._exit\n"
    )
    assert private_uses(source) == [
        (2, "sklearn.utils._param_validation"),
        (3, "sklearn.utils._param_validation"),
        (4, "sklearn.utils.validation._check_sample_weight"),
        (9, "numpy.core._multiarray_umath"),
        (10, "scipy.special._ufuncs"),
        (11, "pyarrow._hidden"),
    ]


def test_public_and_own_names_pass():
    source = ("from gradkit import _atomic\nfrom gradkit._registry import Registry\n"
              "from . import _common\nimport numpy as np\nfrom sklearn.utils.validation import "
              "validate_data\nx = np.float32(1).__class__\nclass A:\n    _hidden = 1\n"
              "a = A()._hidden\n")
    assert private_uses(source) == []
