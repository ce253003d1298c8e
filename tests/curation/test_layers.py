"""The package reads as layers: no import cycle, each module imports only its own layer or those below, and
build-time code (curation.fitting) is never imported by what runs in a curation job."""

import ast
from pathlib import Path

import curation

ROOT = Path(curation.__file__).parent
LAYERS = {"config": 0, "schema": 0, "faults": 0, "markers": 0, "seeds": 0, "failures": 0, "": 0,
          "io": 1, "models": 2, "reflect": 3, "generation": 3, "report": 3, "stages": 4, "run": 5, "tools": 5,
          "fitting": 6, "cli": 7}
"""Top-level module or subpackage -> its layer; 0 is the foundation every layer may use."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every curation module -> the curation modules it imports, at module level or inside a function."""
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("curation"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("curation"))
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else ""]


def test_no_module_imports_a_layer_above_its_own():
    wrong = [f"{m} imports {d}" for m, deps in imports().items() for d in deps
             if layer(d) > layer(m)]
    assert not wrong, "\n".join(wrong)


def test_build_time_fitting_is_never_imported_by_the_run():
    wrong = [f"{m} imports {d}" for m, deps in imports().items() for d in deps
             if d.startswith("curation.fitting") and not m.startswith(("curation.fitting", "curation.cli"))]
    assert not wrong, "\n".join(wrong)


def test_there_is_no_import_cycle():
    graph = imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if dep.startswith(node + ".") or node.startswith(dep + "."):
                continue  # a package and its own modules
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(path[path.index(dep):] + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
