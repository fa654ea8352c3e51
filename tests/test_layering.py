"""The layering, read from the source with `ast`: which app may import which (docs: DESIGN.md's table), no private
name imported from another module, no import hidden inside a function to dodge a cycle, and every Celery task a
service enqueues by name (core.queue) is registered."""

import ast
from pathlib import Path

import pytest

# Reads the source tree: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "core",
    "datasets",
    "notifications",
    "webhooks",
    "models_app",
    "reviews",
    "integrations",
    "inspections",
    "config",
    "signoff_cli",
]
# where a package's folder is, when not at the root: the CLI is its own distribution in cli/
SOURCE_ROOT = {"signoff_cli": ROOT / "cli"}

# Dependencies point one way: reviews -> models_app -> datasets -> core, with webhooks below the first two and
# notifications below webhooks: the apps above feed it (register their kinds, publish), it never imports them.
# An app may import itself and the apps listed here, nothing else.
MAY_IMPORT = {
    "core": set(),
    "datasets": {"core"},
    "notifications": {"core"},
    "webhooks": {"core", "notifications"},
    "models_app": {"core", "datasets", "webhooks", "notifications"},
    "reviews": {"core", "datasets", "webhooks", "models_app", "notifications"},
    # bridges to other tools sit on top: the registry and reviews reach them only through models_app.hooks
    "integrations": {"core", "datasets", "webhooks", "models_app", "reviews", "notifications"},
    # production logs and periodic inspections sit on top too: the registry shows their card through models_app.hooks
    "inspections": {"core", "datasets", "webhooks", "models_app", "reviews", "notifications"},
    "config": {
        "core",
        "datasets",
        "webhooks",
        "models_app",
        "reviews",
        "notifications",
        "integrations",
        "inspections",
    },  # the URLconf mounts every app
    "signoff_cli": set(),  # the CI client talks HTTP only: it must install and run without the server's code
}

# Imports inside a function that are there on purpose, by file and the top-level package imported, with the reason.
LAZY_ALLOWED = {
    # the demo trains small models once, on `make demo`: a web or worker process never pays for sklearn
    ("reviews/services/demo.py", "sklearn"): "memory: only the demo command trains models",
    ("reviews/services/demo.py", "numpy"): "memory: only the demo command trains models",
    ("reviews/services/demo.py", "PIL"): "memory: only the demo command draws images",
    # scipy is only needed on the rare paths that call these special functions
    ("reviews/stats/pairwise.py", "scipy"): "memory: scipy.special loads on the rare exact-binomial path",
    ("reviews/stats/proportions.py", "scipy"): "memory: scipy.special loads on the small-sample t path",
    ("inspections/trend.py", "scipy"): "memory: scipy.special loads only when a rating trend is tested",
    ("reviews/sequential.py", "scipy"): "start-up: scipy.special loads only for the fixed-N comparison",
}


def _modules():
    for package in PACKAGES:
        source = SOURCE_ROOT.get(package, ROOT)
        for path in sorted((source / package).rglob("*.py")):
            relative = path.relative_to(source)
            if "migrations" in relative.parts:
                continue
            yield relative.as_posix(), ast.parse(path.read_text(), filename=str(path))


def _module_name(relative: str) -> str:
    name = relative[: -len(".py")].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _imported_modules(node: ast.AST, relative: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against this module's package
            package = _module_name(relative).split(".")
            if not relative.endswith("__init__.py"):
                package = package[:-1]
            base = package[: len(package) - (node.level - 1)]
            return [".".join([*base, node.module] if node.module else base)]
        return [node.module or ""]
    return []


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def _function_imports(tree: ast.AST):
    """(function node, import node) for every import inside a function body, however deeply nested."""
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield function, node


def test_apps_import_only_the_apps_below_them():
    wrong = []
    for relative, tree in _modules():
        app = relative.split("/")[0]
        for node in _import_nodes(tree):
            for module in _imported_modules(node, relative):
                target = module.split(".")[0]
                if target in MAY_IMPORT and target != app and target not in MAY_IMPORT[app]:
                    wrong.append(f"{relative}:{node.lineno} imports {module}")
    assert not wrong, "imports against the direction reviews -> models_app -> datasets -> core:\n" + "\n".join(wrong)


def test_core_imports_no_app():
    apps = set(MAY_IMPORT) - {"core"}
    wrong = [
        f"{relative}:{node.lineno} imports {module}"
        for relative, tree in _modules()
        if relative.startswith("core/")
        for node in _import_nodes(tree)
        for module in _imported_modules(node, relative)
        if module.split(".")[0] in apps
    ]
    assert not wrong, "\n".join(wrong)


def test_no_private_name_is_imported_from_another_module():
    wrong = []
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        wrong.append(f"{relative}:{node.lineno} imports {alias.name} from {node.module}")
    assert not wrong, "make the name public where it is shared, or move it where it belongs:\n" + "\n".join(wrong)


def test_no_import_hides_inside_a_function():
    wrong = []
    for relative, tree in _modules():
        for function, node in _function_imports(tree):
            if relative.endswith("/apps.py"):
                continue  # apps.py loads before the models: ready() and what it registers import lazily by design
            for module in _imported_modules(node, relative):
                if (relative, module.split(".")[0]) not in LAZY_ALLOWED:
                    wrong.append(f"{relative}:{node.lineno} {function.name}() imports {module}")
    assert not wrong, "fix the dependency instead (or list a deliberate lazy import with why):\n" + "\n".join(wrong)


def test_the_lazy_import_allow_list_has_no_stale_entries():
    """An entry whose import went away would silently allow the next one: the list says what is true now."""
    seen = {
        (relative, module.split(".")[0])
        for relative, tree in _modules()
        for _, node in _function_imports(tree)
        for module in _imported_modules(node, relative)
    }
    assert set(LAZY_ALLOWED) <= seen, set(LAZY_ALLOWED) - seen


def test_no_import_cycle_between_modules():
    """Module-level imports between the project's modules form no cycle (the reason lazy imports used to exist)."""
    graph: dict[str, set[str]] = {}
    names = {_module_name(relative) for relative, _ in _modules()}
    for relative, tree in _modules():
        here = _module_name(relative)
        edges = graph.setdefault(here, set())
        for node in tree.body:  # module level only; TYPE_CHECKING blocks never run
            for module in _imported_modules(node, relative):
                candidates = [module] + (
                    [f"{module}.{alias.name}" for alias in node.names] if isinstance(node, ast.ImportFrom) else []
                )
                edges.update(m for m in candidates if m in names and m != here)
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def _enqueued_task_names() -> list[tuple[str, str]]:
    """Every task name given to core.queue or to an UploadKind, as a literal or a module-level constant."""
    found = []
    for relative, tree in _modules():
        constants = {
            target.id: str(node.value.value)  # a str already (filtered below): str() says so to mypy
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value.value, str)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            values = []
            if callee in ("task_enqueue", "task_enqueue_on_commit") and node.args:
                values.append(node.args[0])
            values += [k.value for k in node.keywords if callee == "UploadKind" and k.arg == "task_name"]
            for value in values:
                if isinstance(value, ast.Constant):
                    found.append((relative, str(value.value)))  # a name that is no str is no task's either
                elif isinstance(value, ast.Name) and value.id in constants:
                    found.append((relative, constants[value.id]))
                elif not (relative == "core/queue.py" or relative == "datasets/upload_kinds.py"):
                    found.append((relative, f"<not a literal: {ast.unparse(value)}>"))
    return found


def test_every_task_enqueued_by_name_is_registered():
    from celery import current_app

    names = _enqueued_task_names()
    assert {name for _, name in names} >= {
        "webhooks.tasks.deliver_webhook",
        "reviews.tasks.campaign_gate_check_task",
        "datasets.tasks.make_thumbnails",
        "datasets.tasks.ingest_dataset_upload",
        "models_app.tasks.ingest_prediction_upload",
        "notifications.tasks.send_notification",
    }, names
    missing = [f"{relative}: {name}" for relative, name in names if name not in current_app.tasks]
    assert not missing, "enqueued by a name no task has:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "source",
    [
        "from reviews.results import _hidden\n",
        "def f():\n    from reviews.results import campaign_results\n",
    ],
)
def test_the_checks_catch_what_they_are_for(source):
    """The parsers above see a private import and a function-level import (so a clean run means something)."""
    tree = ast.parse(source)
    private = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private or list(_function_imports(tree))


# Pure modules: the statistics and the gate (arrays in, numbers out), the parsers (bytes in, rows or errors out) and
# the charts; each is tested and benchmarked without Django or a database.
PURE = [
    "core/lazy.py",  # loads heavy libraries on first use, for the pure modules too
    "reviews/stats",
    "reviews/gate.py",
    "reviews/lattice.py",
    "reviews/sequential.py",
    "reviews/plan.py",
    "reviews/charts.py",
    "datasets/parsers.py",
]


def test_pure_modules_import_neither_django_nor_the_apps():
    pure = [(r, t) for r, t in _modules() if any(r == p or r.startswith(p + "/") for p in PURE)]
    pure_names = {_module_name(r) for r, _ in pure}
    assert len(pure) >= 10, [r for r, _ in pure]
    wrong = []
    for relative, tree in pure:
        for node in _import_nodes(tree):
            for module in _imported_modules(node, relative):
                # `from reviews import stats` names the module reviews.stats
                names = [f"{module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [module]
                project = module.split(".")[0] in MAY_IMPORT
                if module.split(".")[0] == "django" or (
                    project and module not in pure_names and not all(n in pure_names for n in names)
                ):
                    wrong.append(f"{relative}:{node.lineno} imports {', '.join(names)}")
    assert not wrong, "a pure module reaches into Django or the apps:\n" + "\n".join(wrong)
