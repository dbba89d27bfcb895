"""The layering DESIGN.md draws, read from the source: every import goes down, never up.

autograd -> nn -> optim -> train -> data -> io -> practice -> sklearn -> cli (-> keras, Keras's
namespace over them): a package imports only from itself and the packages before it. The private helpers (`gradkit/_*.py`) and
`gradkit/errors.py` sit below all of them and import no package. `gradkit/__init__.py` is the
facade over everything. Imports inside functions are kept for the heavy optional libraries
and to break a cycle inside one package (so `import gradkit` stays cheap and the graph stays a
graph); any other import belongs at the top, where it shows.
"""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "gradkit"
# `gradkit.keras` is Keras's namespace over nn, optim, train and io, for programs written for
# Keras (docs/habits.md): a facade on top, like the CLI.
ORDER = ["autograd", "nn", "optim", "train", "data", "io", "practice", "sklearn", "cli",
         "keras"]
# Imported inside the functions that need them, so that `import gradkit` and `gradkit --help`
# stay cheap: the heavy optional libraries, and a few standard modules that cost as much
# (urllib.request and http.client load ssl; ctypes loads libffi) or exist on POSIX only (fcntl).
HEAVY = {"scipy", "matplotlib", "optuna", "dask", "distributed", "pyarrow", "pandas", "sklearn",
         "numba", "onnx", "onnxruntime", "safetensors", "threadpoolctl", "torch",
         "rich", "urllib", "http", "ctypes", "fcntl"}

FILES = sorted(SRC.rglob("*.py"))


def _module_name(path):
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p) for p in FILES}


def _floor(module):
    """The module's place in ORDER; -1 for the private helpers and errors; None for gradkit."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[1] in ORDER:
        return ORDER.index(parts[1])
    return -1


def _imports(path):
    """(module, [(line, imported module, inside a function?)]) for every import in the file."""
    module = _module_name(path)
    return module, _parse(path.read_text(), module, is_package=path.name == "__init__.py")


def _parse(source, module, *, is_package=False):
    package = module if is_package else module.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from gradkit import optim` imports the module gradkit.optim.
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                         for a in child.names]
                found.extend((child.lineno, name, in_function) for name in names)
            visit(child, nested)

    visit(ast.parse(source), False)
    return found


def _upward(module, imports):
    floor = _floor(module)
    if floor is None:
        return []                                   # gradkit/__init__.py: the facade
    return sorted({f"line {line}: {name}" for line, name, _ in imports
                   if (name == "gradkit" or name.startswith("gradkit."))
                   and (_floor(name) is None or _floor(name) > floor)})


def test_the_walk_sees_the_whole_package():
    assert {"gradkit.autograd.backward", "gradkit.train.loop", "gradkit.cli"} <= MODULES
    assert {f"gradkit.{name}" for name in ORDER} <= MODULES


def test_an_upward_import_is_caught_even_inside_a_function():
    source = ("import numpy\nfrom gradkit.nn import losses\n"
              "def f():\n    from gradkit.io import save\n")
    assert _upward("gradkit.train.callbacks", _parse(source, "gradkit.train.callbacks")) == \
        ["line 4: gradkit.io"]
    assert _upward("gradkit._atomic", _parse("import gradkit.errors\nimport gradkit\n",
                                             "gradkit._atomic")) == ["line 2: gradkit"]
    assert _upward("gradkit._atomic", _parse("from . import errors\n", "gradkit._atomic")) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down_the_layers(path):
    module, imports = _imports(path)
    upward = _upward(module, imports)
    assert not upward, f"{module} imports from above its layer: {upward}"


def _heavy_modules():
    """gradkit modules that import a heavy library when they are imported (directly or not)."""
    top = {}
    for path in FILES:
        module, imports = _imports(path)
        top[module] = {name for _, name, inside in imports if not inside}
    heavy = {m for m, names in top.items() if any(n.split(".")[0] in HEAVY for n in names)}
    grew = True
    while grew:
        grew = False
        for module, names in top.items():
            if module not in heavy and any(n in heavy for n in names):
                heavy.add(module)
                grew = True
    return heavy


HEAVY_MODULES = _heavy_modules()


def test_the_heavy_modules_are_found():
    assert "gradkit.sklearn" in HEAVY_MODULES            # imports scikit-learn at its top
    assert "gradkit.autograd.primitives" not in HEAVY_MODULES


def _top_level_graph():
    graph = {}
    for path in FILES:
        module, imports = _imports(path)
        graph[module] = {name for _, name, inside in imports if not inside and name in MODULES}
    return graph


TOP_LEVEL = _top_level_graph()


def _reaches(start, goal):
    """Whether importing `start` imports `goal` (through top-level imports)."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module == goal:
            return True
        if module not in seen:
            seen.add(module)
            todo.extend(TOP_LEVEL.get(module, ()))
    return False


def _breaks_a_cycle(module, name):
    """An import inside a function of a module of the same package that, at the top, would
    close a cycle (e.g. Dataset.encode_like calling the loaders, which build Datasets)."""
    same_package = module.split(".")[:2] == name.split(".")[:2]
    return same_package and name in MODULES and _reaches(name, module)


def test_only_the_command_line_loads_gradkit_inside_functions():
    assert _a_command_loading_its_implementation("gradkit.cli", "gradkit.practice.run")
    assert _a_command_loading_its_implementation("gradkit.cli._run", "gradkit.practice.run")
    assert not _a_command_loading_its_implementation("gradkit.cli", "json")
    assert not _a_command_loading_its_implementation("gradkit.practice.run", "gradkit.io")


def test_a_cycle_is_recognised():
    assert _breaks_a_cycle("gradkit.data.dataset", "gradkit.data.loading")
    assert not _breaks_a_cycle("gradkit.data.loading", "gradkit.data.csvfile")
    assert not _breaks_a_cycle("gradkit.train.callbacks", "gradkit.io.model_file")


def _a_command_loading_its_implementation(module, name):
    """An import of gradkit inside the command-line module: each command imports the packages
    it runs on when it runs (click's advice on lazily loaded subcommands), so `gradkit --help`
    and a command's start do not pay for every other command; at the top they doubled the
    start-up. The CLI is the top layer: no module imports it, so nothing else is hidden."""
    in_cli = module == "gradkit.cli" or module.startswith("gradkit.cli.")
    return in_cli and name.startswith("gradkit.")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_inside_functions_only_guard_heavy_libraries(path):
    module, imports = _imports(path)
    hidden = sorted({f"line {line}: {name}" for line, name, inside in imports
                     if inside and name.split(".")[0] not in HEAVY and name not in HEAVY_MODULES
                     and not _breaks_a_cycle(module, name)
                     and not _a_command_loading_its_implementation(module, name)})
    assert not hidden, f"{path.relative_to(SRC)} imports inside functions: {hidden}"


def _private_names_from_other_packages(path):
    module = _module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.startswith("gradkit."):
            other = node.module.split(".")[:2] != module.split(".")[:2]
            private_module = node.module.split(".")[1].startswith("_")   # the helper floor
            found += [f"line {node.lineno}: {node.module}.{a.name}" for a in node.names
                      if other and not private_module and a.name.startswith("_")
                      and not a.name.startswith("__")
                      and f"{node.module}.{a.name}" not in MODULES]
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_names_from_another_package(path):
    found = _private_names_from_other_packages(path)
    assert not found, f"{path.relative_to(SRC)} uses another package's private names: {found}"
