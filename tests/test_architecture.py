"""The layering of src/langmix, checked from the source: no module imports from a higher layer.

Each module may import only from its own layer or lower ones (docs/architecture.md). The imports are read
with ``ast`` (top-level, inside functions and under ``TYPE_CHECKING`` alike), so a lazy import cannot hide
an upward dependency, and nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "langmix"

# First component of the dotted name below ``langmix`` -> layer. The root package and the ``__main__``
# entry points (``python -m langmix``, ``python -m langmix.training`` for torchrun) are at the top: they
# may import anything, and no library module may import them.
LAYERS: dict[str, int] = {
    "errors": 0,
    "paths": 0,
    "io": 0,
    "progress": 0,
    "reproductions": 0,
    "data": 1,
    "models": 2,
    "retrieval": 2,
    "batching": 3,
    "evaluation": 3,
    "training": 4,
    "experiments": 4,
    "reports": 5,
    "cli": 6,
    "__main__": 6,
    "": 6,
}
LAYER_NAMES = {
    0: "L0 errors/paths/io/progress",
    1: "L1 data",
    2: "L2 models/retrieval",
    3: "L3 batching/evaluation",
    4: "L4 training/experiments",
    5: "L5 reports",
    6: "L6 cli",
}


def module_name(path: Path) -> str:
    """``src/langmix/data/lareqa.py`` -> ``langmix.data.lareqa``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def exists_as_module(dotted: str) -> bool:
    """True when ``dotted`` (``langmix.x.y``) names a module or package file under src/."""
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def resolve_from(node: ast.ImportFrom, importer: str, package: bool) -> str | None:
    """The absolute module a ``from ... import`` reads from (relative levels resolved)."""
    if node.level == 0:
        return node.module
    anchor = importer.split(".") if package else importer.split(".")[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Sorted (line, ``langmix.*`` module) pairs for every import in the file, wherever it sits."""
    importer = module_name(path)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_from(node, importer, is_package(path))
            if base is None:
                continue
            # `from langmix.data import lareqa` depends on langmix.data.lareqa, not only on the package.
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if exists_as_module(sub) else base))
    return sorted({(line, name) for line, name in found if name == "langmix" or name.startswith("langmix.")})


def layer_of(dotted: str) -> int | None:
    parts = dotted.split(".")
    if parts[-1] == "__main__":
        return LAYERS["__main__"]
    return LAYERS.get(parts[1] if len(parts) > 1 else "")


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    unmapped = sorted({module_name(p) for p in source_files() if layer_of(module_name(p)) is None})
    assert not unmapped, f"modules with no layer (add them to LAYERS in {__name__}): {unmapped}"


def test_no_module_imports_from_a_higher_layer():
    violations = []
    for path in source_files():
        importer = module_name(path)
        own = layer_of(importer)
        if own is None:
            continue  # reported by test_every_module_has_a_layer
        for line, target in imported_modules(path):
            theirs = layer_of(target)
            if theirs is not None and theirs > own:
                violations.append(
                    f"{path.relative_to(SRC.parent)}:{line}: {importer} ({LAYER_NAMES[own]}) "
                    f"imports {target} ({LAYER_NAMES[theirs]})"
                )
    assert not violations, "imports from a higher layer:\n" + "\n".join(violations)


@pytest.mark.parametrize(
    ("source", "module", "package", "expected"),
    [
        ("import langmix.io, langmix.paths", "langmix.data.x", False, ["langmix.io", "langmix.paths"]),
        ("import langmix.io", "langmix.data.lareqa", False, ["langmix.io"]),
        ("from langmix.data import lareqa", "langmix.cli.app", False, ["langmix.data.lareqa"]),
        ("from langmix.data.lareqa import load_lareqa", "langmix.cli.app", False, ["langmix.data.lareqa"]),
        ("from ..io import write_json", "langmix.data.lareqa", False, ["langmix.io"]),
        ("from . import lareqa", "langmix.data", True, ["langmix.data.lareqa"]),
        (
            "def f():\n    from langmix.reports import compare",
            "langmix.x",
            False,
            ["langmix.reports.compare"],
        ),
        ("import numpy\nfrom typing import Any", "langmix.data.x", False, []),
    ],
)
def test_import_collection(tmp_path, monkeypatch, source, module, package, expected):
    """The collector resolves relative, nested and ``from package import submodule`` imports."""
    path = tmp_path.joinpath(*module.split("."))
    path = path / "__init__.py" if package else path.with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    monkeypatch.setitem(globals(), "SRC", tmp_path)
    for name in ("io.py", "data/lareqa.py", "reports/compare.py"):
        (tmp_path / "langmix" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "langmix" / name).touch()
    assert [name for _, name in imported_modules(path)] == expected
