"""The package's layering, read from the source with ``ast``: every import of every module of
chainrule/ (at module level and inside functions) is an edge of a graph of modules.

Two rules are checked: no face imports another face (only the command line, the one
dispatcher, imports the others), and the graph has no cycles. Rules for the tiers of the
core can be written over the same graph (``import_graph``).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "chainrule"

# The faces: what users run. A module belongs to a face when its name is the face's or
# starts with it and a dot (chainrule.web.session is the web face). chainrule.__main__ is
# the console entry point of the cli face.
FACES = {"chainrule.cli", "chainrule.sklearn", "chainrule.report", "chainrule.sweep", "chainrule.web"}
ENTRY_POINTS = {"chainrule.__main__": "chainrule.cli"}
DISPATCHER = "chainrule.cli"

# Edges that point up a tier on purpose, left out of the cycle check.
ALLOWED_UPWARD = {
    ("chainrule.network", "chainrule.training"),  # Sequential.fit defers to training.fit
}


def module_names():
    """{dotted module name: path} of every .py file of the package (a package's __init__.py
    is the package's own name)."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("chainrule", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _resolve(module, node, modules):
    """The chainrule modules one Import or ImportFrom node of ``module`` names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:  # relative: from . import x, from ..errors import E
        is_package = (PACKAGE / Path(*module.split(".")[1:]) / "__init__.py").is_file() \
            if module != "chainrule" else True
        base = module.split(".")
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = set()
    for alias in node.names:  # from . import datasets names the module chainrule.datasets
        if f"{target}.{alias.name}" in modules:
            found.add(f"{target}.{alias.name}")
        elif target in modules:
            found.add(target)
    return found


def import_graph():
    """{module: set of chainrule modules it imports}, every import counted wherever it is."""
    modules = module_names()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _resolve(module, node, modules)
        edges.discard(module)
        graph[module] = edges
    return graph


def face_of(module):
    """The face ``module`` belongs to, or None for the library below the faces."""
    module = ENTRY_POINTS.get(module, module)
    return next((face for face in FACES if module == face or module.startswith(face + ".")), None)


def face_edges(graph):
    """The edges from one face into another, except those of the dispatcher."""
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if face_of(a) and face_of(b) and face_of(a) != face_of(b)
                  and face_of(a) != DISPATCHER)


def cycles(graph):
    """Every cycle of ``graph`` as a list of modules (each found once, from its smallest
    name), ALLOWED_UPWARD left out."""
    edges = {a: sorted(b for b in targets if (a, b) not in ALLOWED_UPWARD) for a, targets in graph.items()}
    found = []

    def walk(start, node, path):
        for nxt in edges.get(node, ()):
            if nxt == start:
                found.append([*path, start])
            elif nxt not in path and nxt > start:
                walk(start, nxt, [*path, nxt])

    for start in sorted(edges):
        walk(start, start, [start])
    return found


def test_the_graph_sees_module_and_function_level_imports():
    graph = import_graph()
    assert "chainrule._checks" in graph["chainrule.recipes"]  # module level
    assert "chainrule.training" in graph["chainrule.network"]  # inside Sequential.fit
    assert "chainrule.web.app" in graph["chainrule.cli"]  # inside serve_command


def test_no_face_imports_another_face():
    assert face_edges(import_graph()) == []


def test_only_the_entry_point_imports_the_command_line():
    graph = import_graph()
    assert sorted(a for a, targets in graph.items() if DISPATCHER in targets) == ["chainrule.__main__"]


def test_there_are_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
