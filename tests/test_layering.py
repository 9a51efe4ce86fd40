"""The shape of the package, read from its source: tiers, no import cycles, thin faces.

The import graph is built with ``ast`` from every module of chainrule/, counting imports at
module level and inside functions alike (a deferred import is still a dependency). Each
module belongs to one tier and imports only from its own tier or those below:

    leaves    errors, _checks, _version, kernels
    math      activations, losses, initializers, data, regularizers
    layers    layers
    parts     optimizers, schedules, callbacks, progress, io (the file format: never the network)
    network   network, saving
    engine    training, checkpoint, distributed, watchdog
    shared    recipes, settings_text, metrics, explain, gradcheck, datasets, images, lr_finder,
              tabular, folders (image folders), loading (chainrule.load: a table model or a Sequential)
    faces     sklearn, report, sweep, web; and cli, which alone dispatches to the others

Two edges go up, on purpose: ``Sequential.fit`` is ``training.fit`` (Keras's model.fit) and
``Sequential.lr_find`` is ``lr_finder.lr_find``, each imported when it is called; neither
imports the network, so they make no cycle.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chainrule"

TIERS = [
    ("leaves", {"errors", "_checks", "_version", "kernels"}),
    ("math", {"activations", "losses", "initializers", "data", "regularizers"}),
    ("layers", {"layers"}),
    ("parts", {"optimizers", "schedules", "callbacks", "progress", "io"}),
    ("network", {"network", "saving"}),
    ("engine", {"training", "checkpoint", "distributed", "watchdog"}),
    ("shared", {"recipes", "settings_text", "metrics", "explain", "gradcheck", "datasets", "images",
                "lr_finder", "tabular", "folders", "loading"}),
    ("faces", {"sklearn", "report", "sweep", "web"}),
    ("dispatcher", {"cli", "__main__"}),
]
FACES = {"sklearn", "report", "sweep", "web", "cli"}
# Sequential.fit defers to training.fit, Sequential.lr_find to lr_finder.lr_find
ALLOWED_UPWARD = {("network", "training"), ("network", "lr_finder")}
# What the math and layer tiers may import from outside the package.
MATH_EXTERNAL = {"numpy", "math", "numbers", "operator", "copy"}
LEAVES_EXTERNAL = MATH_EXTERNAL | {"numba"}  # kernels: the optional compiled loops


def top(module):
    """The name that places a module in a tier: 'explain' for 'explain.chain'."""
    return module.split(".")[0]


def tier_of(module):
    for i, (_, names) in enumerate(TIERS):
        if top(module) in names:
            return i
    return None


def modules():
    """{dotted name inside chainrule ('network', 'web.app', '' for the package): path}."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph():
    """({module: set of chainrule modules it imports}, {module: set of external top-level
    packages}, [(module, 'other._private') uses of another module's underscore names])."""
    mods = modules()
    graph, external, private = {}, {}, []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets, outside, aliases = set(), set(), {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "chainrule":
                        inner = alias.name.split(".", 1)[1] if "." in alias.name else ""
                        targets.add(inner)
                    else:
                        outside.add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    if (node.module or "").split(".")[0] != "chainrule":
                        outside.add(node.module.split(".")[0])
                        continue
                    base = node.module.split(".")[1:]
                else:
                    base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
                source = ".".join(base)
                for alias in node.names:
                    full = ".".join([*base, alias.name])
                    if full in mods:
                        targets.add(full)
                        aliases[alias.asname or alias.name] = full
                    else:
                        targets.add(source)
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            private.append((name, f"{source}.{alias.name}"))
        for node in ast.walk(tree):  # module._name through an imported module
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                private.append((name, f"{aliases[node.value.id]}.{node.attr}"))
        targets.discard(name)
        graph[name], external[name] = targets, outside
    return graph, external, private


GRAPH, EXTERNAL, PRIVATE = import_graph()


def cycles(graph):
    """Every simple cycle, each once, as a list of modules."""
    found, seen = [], set()

    def walk(start, node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                if frozenset(path) not in seen:
                    seen.add(frozenset(path))
                    found.append(path + [start])
            elif nxt not in path and nxt > start:
                walk(start, nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return found


def test_every_module_has_a_tier():
    missing = sorted(m for m in GRAPH if m and tier_of(m) is None)
    assert not missing, f"place these modules in a tier of TIERS (and of the README's map): {missing}"


def test_there_are_no_import_cycles():
    assert cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_each_module_imports_only_its_own_tier_or_lower():
    wrong = []
    for module, targets in GRAPH.items():
        if not module:
            continue  # the package's __init__ re-exports the public API
        for target in targets:
            if target and tier_of(target) > tier_of(module) \
                    and (top(module), top(target)) not in ALLOWED_UPWARD:
                wrong.append(f"{module} ({TIERS[tier_of(module)][0]}) -> {target} "
                             f"({TIERS[tier_of(target)][0]})")
    assert not wrong, wrong


def test_no_face_imports_another_and_nothing_imports_the_cli():
    wrong = [f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets
             if top(m) in FACES and top(t) in FACES and top(t) != top(m) and top(m) != "cli"]
    assert not wrong, wrong
    importers = sorted(m for m, targets in GRAPH.items() if any(top(t) == "cli" for t in targets)
                       and top(m) not in ("cli", "__main__"))
    assert importers == []


def test_math_and_layers_import_only_numpy_and_the_leaves():
    for module, targets in GRAPH.items():
        if module and TIERS[tier_of(module)][0] in ("leaves", "math", "layers"):
            assert all(TIERS[tier_of(t)][0] in ("leaves", "math") for t in targets if t), (module, targets)
            allowed = LEAVES_EXTERNAL if TIERS[tier_of(module)][0] == "leaves" else MATH_EXTERNAL
            assert EXTERNAL[module] <= allowed, (module, EXTERNAL[module] - allowed)


def test_the_file_format_never_imports_the_network_or_the_engine():
    assert not {top(t) for t in GRAPH["io"]} & {"network", "saving", "training", "checkpoint"}
    assert not {top(t) for t in GRAPH["checkpoint"]} & {"network", "saving"}


def test_no_module_uses_another_modules_private_names():
    assert PRIVATE == []


def test_the_graph_sees_module_and_function_level_imports():
    """Sequential.fit imports training inside the method, serve_command the web app: the
    graph has those edges, as it has the module-level ones."""
    assert "_checks" in GRAPH["recipes"]
    assert "training" in GRAPH["network"]
    assert "web.app" in GRAPH["cli.bundled"]
    assert "network" not in GRAPH["training"]


@pytest.mark.parametrize("module", ["training"])
def test_the_training_loop_is_written_once(module):
    """Only training.py applies an optimizer's step to a network's parameters."""
    steppers = sorted(name for name, path in modules().items()
                      if re.search(r"\.step\([^)]*parameters\(\)", path.read_text(encoding="utf-8")))
    assert steppers == [module]


# --- the line budget ---------------------------------------------------------------------

CORE_BUDGET, FACE_BUDGET = 300, 500  # lines of code per module, docstrings and comments excluded
CORE_TIERS = {"leaves", "math", "layers", "parts", "network", "engine"}


def code_lines(path):
    """Lines that are neither blank, nor comments, nor part of a docstring."""
    text = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    return sum(1 for number, line in enumerate(text.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and number not in docstrings)


@pytest.mark.parametrize("module", sorted(m for m in modules() if m), ids=str)
def test_every_module_fits_its_line_budget(module):
    budget = CORE_BUDGET if TIERS[tier_of(module)][0] in CORE_TIERS else FACE_BUDGET
    lines = code_lines(modules()[module])
    assert lines <= budget, f"{module} has {lines} lines of code (budget {budget}): split it by job"


def test_code_lines_leave_out_docstrings_and_comments(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Doc\n\nmore."""\n\n# a comment\nx = 1\n\n\ndef f():\n    """Doc."""\n    return x  # ok\n')
    assert code_lines(path) == 3
