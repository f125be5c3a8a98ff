"""The shape of the package: imports point one way and private names stay in their module.

Function-level imports count: a deferred import hides a cycle from the interpreter, not from
a reader. A name with a leading underscore is private to the module that defines it.
"""

import ast
import inspect
from pathlib import Path

import scalefit

PACKAGE = Path(scalefit.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path):
    """``(target module, imported name)`` for every import of a scalefit module, at any depth."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "scalefit":
                continue
            for alias in node.names:
                full = f"{module}.{alias.name}"
                yield (full if full in MODULES else module), alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "scalefit":
                    yield alias.name, None


def _graph() -> dict[str, set[str]]:
    graph = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_counting_function_level_imports():
    assert _cycles(_graph()) == []


def test_no_private_name_is_imported_from_another_module():
    private = [
        (name, target, imported)
        for name, path in MODULES.items()
        for target, imported in _imports(name, path)
        if imported is not None and imported.startswith("_") and not imported.startswith("__")
    ]
    assert private == []


def test_every_module_has_a_public_name():
    hidden = [m for m in MODULES if any(p.startswith("_") and not p.startswith("__") for p in m.split(".")[1:])]
    assert hidden == []


def test_the_core_does_not_import_the_cli_or_the_collector():
    entry = ("scalefit", "scalefit.__main__")  # the package's lazy exports and ``python -m scalefit``
    core = [m for m in MODULES if not m.startswith(("scalefit.cli", "scalefit.collect")) and m not in entry]
    reaching = {m: t for m in core for t in _graph()[m] if t.startswith(("scalefit.cli", "scalefit.collect"))}
    assert reaching == {}


def test_fit_law_takes_named_arguments_only_and_method_options_live_on_the_method():
    params = inspect.signature(scalefit.fit_law).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    assert "by" not in params and "starts" not in params and "bootstrap" not in params
    assert "by" in inspect.signature(scalefit.fit_groups).parameters


#: A module holds one concept; past this many lines it holds several (issue 22).
MAX_MODULE_LINES = 600


def test_no_module_is_longer_than_one_concept_needs():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_the_fit_is_a_small_record_with_one_report_per_part():
    """``Fit`` holds at most 15 fields; what belongs to one method or one stage lives in its report."""
    import dataclasses

    from scalefit.results.reports import BayesReport, BootstrapReport, FittedRuns, Setup

    fields = {f.name: f.type for f in dataclasses.fields(scalefit.Fit)}
    assert len(fields) <= 15, sorted(fields)
    assert {"setup", "runs", "bootstrap", "bayes"} <= set(fields)
    for report in (Setup, FittedRuns, BootstrapReport, BayesReport):
        assert report.__dataclass_params__.frozen, report
    # no field of a report is restated on the fit
    restated = {f.name for r in (Setup, FittedRuns, BootstrapReport, BayesReport) for f in dataclasses.fields(r)}
    assert restated & set(fields) == set()
