"""The import rules of `nfcore.sim`: no import cycles inside it, no imports inside functions
(except a heavy optional dependency, with a comment on the line saying so), and never the
report, flows, HDL or EDA packages, not even indirectly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nfcore.sim

SIM = Path(nfcore.sim.__file__).parent
FORBIDDEN = ("nfcore.report", "nfcore.flows", "nfcore.hdl", "nfcore.eda")


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(SIM.rglob("*.py")):
        parts = path.relative_to(SIM.parents[1]).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def _imported(tree: ast.Module) -> set[str]:
    """Every module and `module.name` an import statement names."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_no_import_cycles_inside_sim() -> None:
    modules = _modules()
    edges = {m: {d for d in _imported(t) if d in modules and d != m}
             for m, t in modules.items()}
    # Importing a module runs its parents' __init__ (except the importer's own and itself).
    for m, deps in edges.items():
        for d in list(deps):
            parts = d.split(".")
            parents = {".".join(parts[:k]) for k in range(2, len(parts))}
            deps.update(p for p in parents if p in modules and not f"{m}.".startswith(f"{p}."))
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            assert state.get(d) != 1, f"import cycle: {' -> '.join([*path, m, d])}"
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [])


def test_no_imports_inside_functions() -> None:
    for name, tree in _modules().items():
        lines = (SIM.parents[1] / name.replace(".", "/")).with_suffix(".py")
        source = (lines if lines.exists() else lines.with_suffix("") / "__init__.py"
                  ).read_text().splitlines()
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    line = source[node.lineno - 1]
                    assert "optional" in line and "#" in line, (
                        f"{name}:{node.lineno}: import inside {fn.name}() without a comment "
                        "saying it is a heavy optional dependency")


def test_never_imports_report_flows_hdl_or_eda() -> None:
    for name, tree in _modules().items():
        bad = sorted(d for d in _imported(tree) if d.startswith(FORBIDDEN))
        assert not bad, f"{name} imports {bad}"
    names = sorted(_modules())
    code = ("import importlib, sys\n"
            f"for m in {names!r}: importlib.import_module(m)\n"
            f"print(sorted(k for k in sys.modules if k.startswith({FORBIDDEN!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=SIM.parents[1]).stdout.strip()
    assert out == "[]", f"importing nfcore.sim loads {out}"
