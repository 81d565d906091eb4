"""The house's imports, read from the source (ast): studies never import presentation, no
module imports another's private names, and the import graph of ``objprop`` has no cycle
(imports inside functions count: a cycle hidden there is still a cycle)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "objprop"


def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """(imported module, names taken from it) for every import in ``path``, relative
    imports resolved; only modules of the objprop package."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "objprop"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "objprop":
                continue
            names = [a.name for a in node.names]
            # `from objprop.studies import scoring` imports a module, not a name
            subs = [n for n in names if (ROOT.parent / Path(*target.split("."), n)).exists()
                    or (ROOT.parent / Path(*target.split("."), f"{n}.py")).exists()]
            out += [(f"{target}.{n}", []) for n in subs]
            out.append((target, [n for n in names if n not in subs]))
    return out


def graph():
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        edges[name] = {t for t, _ in imports(path) if t in modules and t != name}
    return modules, edges


def test_studies_never_import_presentation():
    modules, edges = graph()
    bad = [(m, t) for m, ts in edges.items() for t in ts
           if m.startswith("objprop.studies") and t.startswith("objprop.present")]
    assert not bad, bad
    # and the layers exist: the chapters' compute lives in studies, their pages in present
    assert {"objprop.studies.scoring", "objprop.present.evaluation"} <= set(modules)


def test_no_private_name_is_imported_across_modules():
    modules, _ = graph()
    bad = [(m, t, n) for m, p in modules.items() for t, names in imports(p)
           for n in names if n.startswith("_") and t != m]
    assert not bad, bad


def test_the_import_graph_has_no_cycle():
    _, edges = graph()
    # a package's __init__ re-exporting its own modules is not a cycle of the house
    edges = {m: {t for t in ts if not (m == t.rsplit(".", 1)[0] or t == m.rsplit(".", 1)[0])}
             for m, ts in edges.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)
