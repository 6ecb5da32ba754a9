"""The import layers, read from the source with `ast` (nothing is imported):

- `components` (the Gradio tabs) and `jobs` (queue, runner) sit on `studio` (the domain). The entry points,
  `launch.py` (the UI) and `studio/__main__.py` (`python -m studio`), are where the layers meet and may import
  anything: they hand the queue to the front ends. `studio` imports nothing from `jobs` or `components`, and
  no package cycle exists.
- `studio/evaluation/` never imports `studio/recipes/` (evaluation measures artifacts; recipes make them).
- No import cycle among `studio`'s modules at import time. Imports inside functions are deliberate lazy
  loads and `if TYPE_CHECKING:` imports never run, so this check reads module-level imports only.
- `studio` never imports Gradio.

Every failure names the file:line of each offending import and the module it imports.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("studio", "jobs", "components")
SCRIPTS = ("launch.py",)
# Entry points inside a package: a node of their own in the package graph, above every layer.
ENTRY_POINTS = ("studio.__main__",)
LAYERS = {"components": {"studio"}, "jobs": {"studio"}, "studio": set()}  # package -> packages it may import
GRADIO = {"gradio", "gradio_client"}


@dataclass(frozen=True)
class Import:
    file: str  # relative to the root, e.g. studio/service.py
    line: int
    source: str  # the importing module, e.g. studio.service
    target: str  # the imported module, e.g. jobs.queue (a submodule when `from pkg import submodule`)
    module_level: bool  # False inside a function (a lazy load)
    type_only: bool  # under `if TYPE_CHECKING:`: never runs

    def __str__(self) -> str:
        where = "" if self.module_level else " (inside a function)"
        return f"{self.file}:{self.line} -> {self.target}{where}{' (TYPE_CHECKING)' if self.type_only else ''}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files(root: Path) -> dict[str, Path]:
    """Module name -> file, for every .py file of the packages and the scripts."""
    files = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[_module_name(path, root)] = path
    for script in SCRIPTS:
        if (root / script).is_file():
            files[_module_name(root / script, root)] = root / script
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_of(module: str, path: Path, root: Path, known: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    rel = path.relative_to(root).as_posix()
    found: list[Import] = []

    def add(node: ast.AST, target: str, module_level: bool, type_only: bool) -> None:
        imp = Import(rel, node.lineno, module, target, module_level, type_only)
        if imp not in found:  # `from jobs.queue import a, b` is one import of jobs.queue
            found.append(imp)

    def visit(node: ast.AST, module_level: bool, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name, module_level, type_only)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from ..a import b
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for alias in node.names:
                sub = f"{stem}.{alias.name}"
                add(node, sub if alias.name != "*" and sub in known else stem, module_level, type_only)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in {"import_module", "__import__"}))):
            add(node, node.args[0].value, module_level, type_only)  # importlib.import_module("literal")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            module_level = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, module_level, True)
            for child in node.orelse:
                visit(child, module_level, type_only)
            visit(node.test, module_level, type_only)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, module_level, type_only)

    visit(tree, True, False)
    return found


def collect(root: Path = ROOT) -> list[Import]:
    files = _source_files(root)
    known = set(files)
    imports: list[Import] = []
    for module, path in files.items():
        imports += _imports_of(module, path, root, known)
    return imports


def _top(name: str) -> str:
    return name if name in ENTRY_POINTS else name.split(".", 1)[0]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle (first node repeated at the end) in a directed graph, or None: the first non-trivial strongly
    connected component (Tarjan, iterative), then a shortest path back to its first node inside it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(sorted(component))
    if not components:
        return None
    members = set(components[0])
    first = components[0][0]
    paths = {first: [first]}
    queue = [first]
    while queue:  # breadth first inside the component, back to `first`
        node = queue.pop(0)
        for child in sorted(graph.get(node, ())):
            if child == first:
                return paths[node] + [first]
            if child in members and child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    raise AssertionError("unreachable: a strongly connected component always has a cycle")


def _describe_cycle(cycle: list[str], evidence: dict[tuple[str, str], list[Import]],
                    allowed: set[tuple[str, str]] = frozenset()) -> str:
    """The cycle, then the imports behind each edge: all of them, or for an edge the layers allow (the other
    edges are the ones to remove) the first and a count."""
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        found = evidence[a, b]
        if (a, b) in allowed and len(found) > 1:
            lines.append(f"  {a} -> {b} (allowed): {found[0]} and {len(found) - 1} more")
        else:
            lines += [f"  {a} -> {b}:"] + [f"    {i}" for i in found]
    return "\n".join(lines)


def package_layer_violations(imports: list[Import]) -> list[str]:
    """Imports of a package the layers do not allow (studio -> jobs / components, jobs <-> components)."""
    return [f"{i}  ({_top(i.source)} may import only {', '.join(sorted(LAYERS[_top(i.source)])) or 'itself'})"
            for i in imports
            if _top(i.source) in LAYERS and _top(i.target) in PACKAGES and _top(i.target) != _top(i.source)
            and _top(i.target) not in LAYERS[_top(i.source)]]


def package_cycle(imports: list[Import]) -> str | None:
    """A cycle between the top-level packages (and scripts), with the imports that make each edge."""
    evidence: dict[tuple[str, str], list[Import]] = {}
    nodes = set(PACKAGES) | {Path(s).stem for s in SCRIPTS} | set(ENTRY_POINTS)
    for i in imports:
        a, b = _top(i.source), _top(i.target)
        if a != b and b in nodes:
            evidence.setdefault((a, b), []).append(i)
    graph: dict[str, set[str]] = {}
    for a, b in evidence:
        graph.setdefault(a, set()).add(b)
    cycle = _find_cycle(graph)
    allowed = {(a, b) for a, bs in LAYERS.items() for b in bs}
    return None if cycle is None else _describe_cycle(cycle, evidence, allowed)


def evaluation_imports_recipes(imports: list[Import]) -> list[str]:
    return [str(i) for i in imports if _under(i.source, "studio.evaluation") and _under(i.target, "studio.recipes")]


def studio_module_cycle(imports: list[Import]) -> str | None:
    """An import-time cycle among studio's modules (module-level, runtime imports only)."""
    evidence: dict[tuple[str, str], list[Import]] = {}
    modules = {i.source for i in imports}
    for i in imports:
        if (i.module_level and not i.type_only and _under(i.source, "studio") and _under(i.target, "studio")
                and i.target in modules):
            evidence.setdefault((i.source, i.target), []).append(i)
    graph: dict[str, set[str]] = {}
    for a, b in evidence:
        graph.setdefault(a, set()).add(b)
    cycle = _find_cycle(graph)
    return None if cycle is None else _describe_cycle(cycle, evidence)


def studio_imports_gradio(imports: list[Import]) -> list[str]:
    return [str(i) for i in imports if _under(i.source, "studio") and _top(i.target) in GRADIO]


def _fail(what: str, found: list[str]) -> str:
    return f"{what} ({len(found)}):\n  " + "\n  ".join(found)


def test_studio_imports_neither_jobs_nor_components():
    found = package_layer_violations(collect())
    assert not found, _fail("imports across the layers (components -> studio, jobs -> studio, launch.py -> any)",
                            found)


def test_no_cycle_between_packages():
    cycle = package_cycle(collect())
    assert cycle is None, f"the packages import each other in a cycle:\n{cycle}"


def test_evaluation_does_not_import_recipes():
    found = evaluation_imports_recipes(collect())
    assert not found, _fail("studio/evaluation/ imports studio/recipes/", found)


def test_no_import_cycle_among_studio_modules():
    cycle = studio_module_cycle(collect())
    assert cycle is None, f"studio's modules import each other in a cycle at import time:\n{cycle}"


def test_studio_never_imports_gradio():
    found = studio_imports_gradio(collect())
    assert not found, _fail("studio (the domain) imports Gradio", found)


def test_the_checks_catch_planted_violations(tmp_path):
    """The checks themselves, on a small tree with one violation of each kind (and a clean one)."""
    files = {
        "studio/__init__.py": "",
        "studio/a.py": "from studio import b\n",
        # back to studio.a only lazily or for type checkers: no import-time cycle
        "studio/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from studio import a\n\n"
                        "def lazy():\n    from studio import a\n"),
        "studio/recipes/__init__.py": "",
        "studio/evaluation/__init__.py": "",
        "studio/evaluation/process.py": "from studio import b\n",
        "jobs/__init__.py": "",
        "jobs/queue.py": "from studio import a\n",
        "components/__init__.py": "",
        "components/app.py": "import gradio as gr\nfrom studio import b\n",
        "launch.py": "import components.app\nimport jobs.queue\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    clean = collect(tmp_path)
    assert not package_layer_violations(clean) and package_cycle(clean) is None
    assert not evaluation_imports_recipes(clean) and studio_module_cycle(clean) is None
    assert not studio_imports_gradio(clean)

    (tmp_path / "studio/b.py").write_text("import os\nfrom studio import a\n")
    (tmp_path / "studio/evaluation/process.py").write_text("def f():\n    from studio.recipes import base\n")
    (tmp_path / "studio/config.py").write_text("def f():\n    from jobs.queue import run\n\nimport gradio\n")
    (tmp_path / "studio/recipes/base.py").write_text("")
    planted = collect(tmp_path)
    assert package_layer_violations(planted) == [
        "studio/config.py:2 -> jobs.queue (inside a function)  (studio may import only itself)"]
    assert package_cycle(planted).splitlines()[0] == "jobs -> studio -> jobs"
    assert evaluation_imports_recipes(planted) == ["studio/evaluation/process.py:2 -> studio.recipes.base "
                                                   "(inside a function)"]
    assert studio_module_cycle(planted).splitlines()[0] == "studio.a -> studio.b -> studio.a"
    assert "studio/b.py:2 -> studio.a" in studio_module_cycle(planted)
    assert studio_imports_gradio(planted) == ["studio/config.py:4 -> gradio"]
