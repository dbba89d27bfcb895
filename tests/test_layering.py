"""The layering DESIGN.md draws, read from the source: every import goes down, never up.

autograd -> nn -> optim -> train -> data -> io -> practice -> sklearn -> cli: a package imports
only from itself and the packages before it. The private helpers (`gradkit/_*.py`) and
`gradkit/errors.py` sit below all of them and import no package. `gradkit/__init__.py` is the
facade over everything. Imports inside functions are kept for the heavy optional libraries
only (so `import gradkit` stays cheap); any other import belongs at the top, where it shows.
"""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "gradkit"
ORDER = ["autograd", "nn", "optim", "train", "data", "io", "practice", "sklearn", "cli"]
HEAVY = {"scipy", "matplotlib", "optuna", "dask", "distributed", "pyarrow", "pandas", "sklearn",
         "numba", "onnx", "onnxruntime", "safetensors", "rich", "typer", "click"}


def _module_name(path):
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _floor(module):
    """The module's place in ORDER; -1 for the private helpers and errors; None for gradkit."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[1] in ORDER:
        return ORDER.index(parts[1])
    return -1


def _imports(path):
    """(line, imported module, inside a function?) for every import in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
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
                # `from gradkit import optim` imports the package gradkit.optim.
                names = [f"{base}.{a.name}" for a in child.names] if base == "gradkit" else [base]
                found.extend((child.lineno, name, in_function) for name in names)
            visit(child, nested)

    visit(tree, False)
    return module, found


FILES = sorted(SRC.rglob("*.py"))


def test_the_walk_sees_the_whole_package():
    modules = {_module_name(p) for p in FILES}
    assert {"gradkit.autograd.backward", "gradkit.train.loop", "gradkit.cli"} <= modules
    assert {f"gradkit.{name}" for name in ORDER} <= modules


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down_the_layers(path):
    module, imports = _imports(path)
    floor = _floor(module)
    if floor is None:
        return                                      # gradkit/__init__.py: the facade
    upward = [f"line {line}: {name}" for line, name, _ in imports
              if (name == "gradkit" or name.startswith("gradkit."))
              and (_floor(name) is None or _floor(name) > floor)]
    assert not upward, f"{module} imports from above its layer: {upward}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_inside_functions_only_guard_heavy_libraries(path):
    _, imports = _imports(path)
    hidden = [f"line {line}: {name}" for line, name, inside in imports
              if inside and name.split(".")[0] not in HEAVY]
    assert not hidden, f"{path.relative_to(SRC)} imports inside functions: {hidden}"
