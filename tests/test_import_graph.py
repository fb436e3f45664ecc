"""The code depends in one direction (docs/architecture.md §2), checked from the source itself.

- `codat/` is a library: it imports nothing of the project (its apps, the sandbox, the project
  package), not even inside a function.
- Domain modules (models, selectors, services, notifications…) depend downwards only:
  consents → connections → companies → codat. The entry points that serve requests and
  schedules (views, forms, admin, urls, context processors, template tags, tasks, webhook
  intake, management commands, app configs and checks) sit above every app and may use any
  app's domain modules; no domain module imports an entry point.
- No module imports itself back through others at load time (no import cycles), in the apps
  and in the sandbox.
- A project import inside a function needs a comment saying why (the line above or the line
  itself), so that none hides a cycle or a wrong-way dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PACKAGES = (
    "codat",
    "codat_sandbox",
    "companies",
    "connections",
    "consents",
    "insights",
    "consent_portal",
)
# `insights` builds the products' pages on what `consents` lets them read.
LAYERS = {"codat": 0, "companies": 1, "connections": 2, "consents": 3, "insights": 4}
ENTRY_MODULES = {
    "views",
    "forms",
    "admin",
    "urls",
    "context_processors",
    "tasks",
    "webhooks",
    "apps",
    "checks",
}
ENTRY_PARTS = {"management", "templatetags"}


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module, dotted (a package's __init__ as the package)
    line: int
    top_level: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_files() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


MODULES = {_module_name(path): path for path in _project_files()}


def _resolve(base: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = base.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk(node: ast.AST, *, top_level: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if _type_checking_only(child):
            continue
        nested = top_level and not isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        yield child, nested
        yield from _walk(child, top_level=nested)


def _imports_of(name: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node, top_level in _walk(tree, top_level=True):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, node, path.name == "__init__.py")
            # `from package import module` imports the module too.
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                for alias in node.names
            ]
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield Import(name, target, node.lineno, top_level)


IMPORTS = [found for name, path in MODULES.items() for found in _imports_of(name, path)]


def _app(module: str) -> str:
    return module.split(".")[0]


def _is_entry(module: str) -> bool:
    parts = module.split(".")
    return (
        parts[-1] in ENTRY_MODULES
        or parts[-1].startswith("admin_")  # helpers of admin.py
        or bool(ENTRY_PARTS & set(parts))
        or parts[0] == "consent_portal"
    )


def test_the_graph_was_read():
    # The checks below prove nothing if the walk found nothing to check.
    assert {"codat.client", "connections.services", "consents.services"} <= set(MODULES)
    assert any(i.source == "consents.services" and _app(i.target) == "connections" for i in IMPORTS)


def test_codat_imports_nothing_of_the_project():
    wrong = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in IMPORTS
        if _app(i.source) == "codat" and _app(i.target) != "codat"
    ]
    assert wrong == []


def test_domain_modules_depend_downwards_only():
    wrong = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in IMPORTS
        if not _is_entry(i.source)
        and _app(i.source) in LAYERS
        and _app(i.target) in LAYERS
        and _app(i.target) != _app(i.source)
        and (LAYERS[_app(i.target)] > LAYERS[_app(i.source)] or _is_entry(i.target))
    ]
    assert wrong == []


def test_the_sandbox_knows_only_the_codat_library_of_ours():
    # It plays Codat: it never reads the app's tables or code.
    wrong = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in IMPORTS
        if _app(i.source) == "codat_sandbox" and _app(i.target) not in {"codat_sandbox", "codat"}
    ]
    assert wrong == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def _load_time_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.top_level and i.target in MODULES and i.target != i.source:
            # Importing `a.b` runs `a/__init__` first; a package importing its own modules
            # is how packages work, not a cycle.
            edges.setdefault(i.source, set()).add(i.target)
    return edges


def test_no_module_imports_itself_back_at_load_time():
    assert _cycles(_load_time_edges()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []


def test_every_import_inside_a_function_says_why():
    unexplained = []
    for i in IMPORTS:
        if i.top_level:
            continue
        lines = MODULES[i.source].read_text().splitlines()
        here, above = lines[i.line - 1], lines[i.line - 2] if i.line > 1 else ""
        if "#" not in here and not above.strip().startswith("#"):
            unexplained.append(f"{i.source}:{i.line} imports {i.target}")
    assert unexplained == []


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("connections.views", True),
        ("connections.management.commands.codat_reconcile", True),
        ("consents.templatetags.consent_tags", True),
        ("companies.admin_changelist", True),
        ("connections.services", False),
        ("consents.notifications", False),
    ],
)
def test_entry_points_are_told_from_domain_modules(module, expected):
    assert _is_entry(module) is expected
