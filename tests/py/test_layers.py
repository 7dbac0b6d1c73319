"""The harness's layers (harness/README.md's table, the one place they are
declared): every module of harness/ has exactly one row, and its imports,
at module level and inside functions, point only to its own layer or to
the layers below, with no cycle among them."""
import ast
import os
import re

from conftest import HARNESS

README = os.path.join(HARNESS, "README.md")
ROW = re.compile(r"^\|\s*(\w+)\s*\|\s*`([\w/]+\.py)`\s*\|")


def declared():
    """[(layer, module)] of the README's table in its order, and the layers
    bottom to top (the order in which the table introduces them)."""
    rows = []
    with open(README) as f:
        for ln in f:
            m = ROW.match(ln)
            if m:
                rows.append((m.group(1), m.group(2)[:-3]))
    layers = list(dict.fromkeys(layer for layer, _ in rows))
    return rows, layers


def modules():
    """Every Python file under harness/, as the table names it (remote/sampler)."""
    out = []
    for dp, dirs, fs in os.walk(HARNESS):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        out += [os.path.relpath(os.path.join(dp, f), HARNESS)[:-3] for f in fs if f.endswith(".py")]
    return sorted(out)


def imports(path, known):
    """The harness modules a file imports anywhere in it (module level, in
    functions, `import a as b`, `from a import b`): {name: first line}."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    out = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom) and not n.level:
            names = [n.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in known:
                out.setdefault(top, n.lineno)
    return out


def graph():
    """{module: {imported module: line}}, keyed by the name modules import
    each other by (the file's base name: harness/ is on their path)."""
    rows, _ = declared()
    by_name = {m.split("/")[-1]: m for _, m in rows}
    return {m: imports(os.path.join(HARNESS, m + ".py"), by_name) for _, m in rows}, by_name


def cycles(g):
    """Every import cycle, each as a list of modules (Tarjan's strongly
    connected components of more than one module, or one importing itself)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in g.get(v, ()):
                out.append(sorted(comp))
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_one_row():
    rows, layers = declared()
    names = [m for _, m in rows]
    assert len(layers) >= 5, layers
    assert sorted(names) == modules(), (
        f"not in harness/README.md's table: {sorted(set(modules()) - set(names))}; "
        f"in it but not in harness/: {sorted(set(names) - set(modules()))}")
    assert len(names) == len(set(names)), "a module has two rows"
    # each layer's rows together, so the table reads bottom to top
    order = [layers.index(layer) for layer, _ in rows]
    assert order == sorted(order), "a layer's rows are split in the table"


def test_imports_point_down_only():
    rows, layers = declared()
    rank = {m: layers.index(layer) for layer, m in rows}
    g, by_name = graph()
    up = [f"{m}.py:{line} imports {by_name[t]} ({layers[rank[by_name[t]]]}) from layer "
          f"{layers[rank[m]]}"
          for m, deps in sorted(g.items()) for t, line in sorted(deps.items())
          if rank[by_name[t]] > rank[m]]
    assert not up, "imports pointing up a layer:\n" + "\n".join(up)


def test_no_import_cycle():
    g, by_name = graph()
    named = {m: {by_name[t] for t in deps} for m, deps in g.items()}
    assert cycles(named) == [], f"import cycles: {cycles(named)}"


def test_the_walk_sees_imports_inside_functions_and_cycles(tmp_path):
    """The checks above could fail: an import inside a function counts, a
    cycle through three modules is found."""
    p = tmp_path / "m.py"
    p.write_text("import os\n\ndef f():\n    import report\n    from sweeps import get\n")
    assert imports(str(p), {"report", "sweeps", "models"}) == {"report": 4, "sweeps": 5}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]] and cycles({"a": {"b"}, "b": set()}) == []
