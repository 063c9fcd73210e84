"""What importing a module runs besides defining its own names (``TopLevel``).

A call (``load_dotenv()``, ``sklearn.set_config(...)``,
``Settings().set("scale", 3)``), a store into or a deletion from an object that is not the
module's own (``defaults.SCALE = 5``, ``Model.predict = fast``, ``os.environ["X"] = "1"``,
``decimal.getcontext().prec = 4``; not a literal set on a name of the project's own package,
``settings.EXTRA = 2``, which counts by its value for the steps reading it), and a definition
another library's decorator registers
(``@pd.api.extensions.register_dataframe_accessor("feat")``) may change what any code does
afterwards. ``runs_on_import`` finds them; the code index counts them, as the module's
``<top level>`` part, for every step whose code uses the module or a module importing it.
A call that runs one of the module's own pipelines (``my_pipeline(...).run()`` as a
script's last line) is left out: it wires, it does not change what a step computes; so is
a call of incr's own API (``register_materializer``: incr counts a materializer's code for
the outputs it stores), and a call of the project's own package given one of the module's
functions or classes (``register("cube")(cube)``: ``incr.registries`` follows the table it
fills to the steps that read it).

A module's ``if __name__ == "__main__":`` block runs too when discovery finds its pipelines
(``incr.mainblock``): there a call of the project's own code counts the same way
(``runs_in_main_block``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from incr.moduletop import last_name

#: The methods by which ``logging`` and its loggers write a message.
_LOG_LEVELS = frozenset(
    {"debug", "info", "warning", "warn", "error", "critical", "exception", "log"}
)
#: Calls that set where messages go and which are written: of ``logging``, and of a logger.
_LOG_SETUP = frozenset({"basicConfig", "captureWarnings", "disable"})
_LOGGER_SETUP = frozenset({"setLevel", "addHandler", "removeHandler"})
#: ``warnings`` calls that choose which warnings are shown (the action ``"error"`` turns them
#: into exceptions, which a step can see: that one counts).
_WARNING_FILTERS = frozenset({"filterwarnings", "simplefilter"})
_SHOWN = frozenset({"ignore", "always", "all", "default", "module", "once"})
#: Methods by which the built-in containers change only themselves.
_FILLS = frozenset(
    {"append", "extend", "insert", "update", "setdefault", "add", "discard", "remove", "pop"}
    | {"clear", "sort", "reverse", "popitem"}
)
#: Words of a decorator by which a definition registers itself somewhere when its module is
#: imported (``register_dataframe_accessor``, ``featurize.register``).
_REGISTERS = re.compile(r"register", re.IGNORECASE)


class TopLevel:
    """Reads the top-level statements of one module, given the names it defines (``defs``),
    the names its imports bind with the module each comes from (``imports``), and its own
    top-level package (``package``)."""

    def __init__(
        self, defs: Mapping[str, list[ast.stmt]], imports: Mapping[str, str], package: str
    ) -> None:
        self.defs = defs
        self.imports = imports
        self.package = package

    def runs_on_import(self, stmt: ast.stmt) -> bool:
        """True for a statement that does more than bind this module's names (see above)."""
        if isinstance(stmt, ast.Expr):
            call = stmt.value
            if not isinstance(call, ast.Call) or self._runs_pipeline(call):
                return False
            if self._only_says(call):
                return False  # print("utils loaded"): output, no state any step sees
            if self._fills_own(call):
                return False  # OPTS.update(a=2): part of OPTS's definition
            root = _root(call)
            if self._from(root, self.package) and self._passes_definition(call):
                return False  # register("cube")(cube): a table incr.registries follows
            return not self._from(root, "incr")  # register_materializer: incr's own
        if isinstance(stmt, ast.AnnAssign):
            return stmt.value is not None and self._foreign_store(stmt.target)
        if isinstance(stmt, ast.Assign) and self._fills_project_table(stmt):
            return False  # registry.MODELS["c"] = fn_c: a table incr.registries follows
        if isinstance(stmt, ast.Assign) and self._sets_project_literal(stmt):
            return False  # settings.EXTRA = 2: counts by its value where it is read
        if isinstance(stmt, ast.Assign | ast.Delete):
            return any(self._foreign_store(t) for t in stmt.targets)
        if isinstance(stmt, ast.AugAssign):
            return self._foreign_store(stmt.target)
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return any(self._registers(d, own=False) for d in stmt.decorator_list)
        if isinstance(stmt, ast.For | ast.AsyncFor | ast.While):  # for k in K: globals()[...] =
            return any(self._loop_effect(inner) for inner in [*stmt.body, *stmt.orelse])
        return False

    def runs_in_main_block(self, stmt: ast.stmt) -> bool:
        """True for a statement of the ``__main__`` block, which discovery runs (see
        ``incr.mainblock``), that calls the project's own code (``set_seed(0)``,
        ``use_short_floats(3)``): what it does reaches the steps as top-level code does. A call
        running a pipeline is left out, and so is a call of a function of the module that
        calls ``.run()`` (``main()``: it wires). Calls of other code count under the names they
        change, as at the top level."""
        if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
            return False
        root = _root(stmt.value)
        if not isinstance(root, ast.Name) or self._runs_pipeline(stmt.value):
            return False
        if self._from(root, self.package):
            return True
        functions = [
            d
            for d in self.defs.get(root.id, [])
            if isinstance(d, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        return bool(functions) and not any(_calls_run(f) for f in functions)

    def _only_says(self, call: ast.Call) -> bool:
        """True for ``print(...)``, a logging call (``logging.info(...)``,
        ``logger.warning(...)`` with ``logger = logging.getLogger(...)``), the set-up of where
        and which messages go (``logging.basicConfig(...)``, ``logger.setLevel(...)``,
        ``logging.getLogger("x").setLevel(...)``, ``warnings.filterwarnings("ignore")``) of
        arguments that call nothing: they write messages and change nothing a step computes."""
        func = call.func
        if isinstance(func, ast.Name):
            said = func.id == "print" and "print" not in self.defs and "print" not in self.imports
            said = said or (func.id in _WARNING_FILTERS and self._warns_only(func.id, call))
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            said = (func.attr in _LOG_LEVELS and self._logger(owner)) or (
                func.attr in _LOG_SETUP and self.imports.get(owner) == "logging"
            )
            said = said or (func.attr in _LOGGER_SETUP and self._logger(owner))
            said = said or (func.attr in _WARNING_FILTERS and self._warns_only(owner, call))
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
            said = func.attr in _LOG_LEVELS | _LOGGER_SETUP and self._names_logger(func.value)
        else:
            said = False
        return said and _calls_nothing([*call.args, *call.keywords])

    def _fills_own(self, call: ast.Call) -> bool:
        """True for a call that fills a container of the module's own, bound once to a
        literal (``OPTS = {...}``, ``ITEMS = [...]``), by a method of the built-in containers
        (``OPTS.update(a=2)``, ``ITEMS.append(3)``), of arguments that call nothing and name
        nothing the module defines: it changes that container only, whose definition holds
        the call (as it holds ``OPTS["a"] = 2``)."""
        func = call.func
        if isinstance(func, ast.Name) and func.id == "setattr" and call.args:
            return self._sets_own_attribute(call)
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return False
        name = func.value.id
        bindings = [d for d in self.defs.get(name, []) if not isinstance(d, ast.Expr)]
        if func.attr not in _FILLS or not self.own(name) or len(bindings) != 1:
            return False
        value = getattr(bindings[0], "value", None)
        if not isinstance(bindings[0], ast.Assign | ast.AnnAssign) or not _literal(value):
            return False
        arguments = [*call.args, *call.keywords]
        named = any(
            isinstance(node, ast.Name) and node.id in self.defs
            for arg in arguments
            for node in ast.walk(arg)
        )
        return not named and _calls_nothing(arguments)

    def _sets_own_attribute(self, call: ast.Call) -> bool:
        """True for ``setattr(Cfg, "LR", 0.7)`` on a class or function the module defines, of
        arguments that call nothing: it changes ``Cfg`` only, as ``Cfg.LR = 0.7`` does (its
        definition holds the call: ``moduletop.call_keys``)."""
        target = call.args[0]
        if "setattr" in self.defs or "setattr" in self.imports or not isinstance(target, ast.Name):
            return False
        kinds = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        if not any(isinstance(d, kinds) for d in self.defs.get(target.id, [])):
            return False
        return _calls_nothing(call.args[1:])

    def _warns_only(self, name: str, call: ast.Call) -> bool:
        """True for a ``warnings`` filter (``name`` is the module or the function imported
        from it) whose action is a string other than ``"error"``."""
        bound = any(not isinstance(d, ast.Expr) for d in self.defs.get(name, []))
        if self.imports.get(name) != "warnings" or bound:  # (calls made on it are in defs)
            return False
        given = [k.value for k in call.keywords if k.arg == "action"] or call.args[:1]
        action = given[0] if given else None
        return isinstance(action, ast.Constant) and action.value in _SHOWN

    def _names_logger(self, call: ast.Call) -> bool:
        """True for ``logging.getLogger(...)`` itself."""
        func = call.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "getLogger"
            and isinstance(func.value, ast.Name)
            and self.imports.get(func.value.id) == "logging"
        )

    def _logger(self, name: str) -> bool:
        """True for ``logging`` imported as such, or a name the module binds once, to
        ``logging.getLogger(...)`` (its ``defs`` hold the calls made on it too)."""
        bindings = [d for d in self.defs.get(name, []) if not isinstance(d, ast.Expr)]
        if not bindings:
            return self.imports.get(name) == "logging"
        if len(bindings) != 1 or not isinstance(bindings[0], ast.Assign):
            return False
        value = bindings[0].value
        return (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr == "getLogger"
            and isinstance(value.func.value, ast.Name)
            and self._logger(value.func.value.id)
            and value.func.value.id != name
        )

    def _loop_effect(self, stmt: ast.stmt) -> bool:
        """True for a statement in a module-level loop that runs on import, other than a
        call on one of the module's own names (``STEPS.append(fn)``: it defines ``STEPS``)."""
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            root = _root(stmt.value)
            if isinstance(root, ast.Name) and self.own(root.id):
                return False
        return self.runs_on_import(stmt)

    def registered_in(self, stmt: ast.stmt) -> list[str]:
        """The module's own names a definition registers itself in by a decorator
        (``@featurize.register(int)`` of a ``functools.singledispatch`` function): part of
        what calling them does."""
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return []
        found = []
        for decorator in stmt.decorator_list:
            root = _root(decorator)
            if self._registers(decorator, own=True) and isinstance(root, ast.Name):
                found.append(root.id)
        return found

    def own(self, name: str) -> bool:
        """True for a name the module binds to a value of its own (not an import of another
        module's object): a store into it changes the module's own definition of it."""
        return name in self.defs and name not in self.imports

    def _registers(self, decorator: ast.expr, own: bool) -> bool:
        """``@X.register(...)``-like decorators: of one of the module's own names (``own``),
        or of anything else."""
        func = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if not _REGISTERS.search(name):
            return False
        root = _root(func)
        mine = isinstance(root, ast.Name) and self.own(root.id)
        if own:
            return mine and isinstance(func, ast.Attribute)
        # A registration decorator of the project's own package fills a table: incr.registries
        # follows it to the steps that read the table.
        return not mine and not self._from(root, self.package)

    def _fills_project_table(self, stmt: ast.Assign) -> bool:
        """True for ``registry.MODELS["c"] = fn_c`` (or ``MODELS["c"] = fn_c``, ``MODELS``
        imported): an item of an object of the project's own package set to one of this
        module's functions or classes, as ``register("c")(fn_c)`` does. Only the steps that
        read that table take it in (``incr.registries``), not every step using this module."""
        value = stmt.value
        if not isinstance(value, ast.Name) or not self._passes_definition(value):
            return False
        return all(
            isinstance(t, ast.Subscript) and self._from(_root(t), self.package)
            for t in stmt.targets
        )

    def _sets_project_literal(self, stmt: ast.Assign) -> bool:
        """True for ``settings.EXTRA = 2``: an attribute of a name imported from the project's
        own package set to a literal. A step that reads it has its value counted
        (``incr.globalvalues``: a literal is a plain value), and one reading the object it is
        set on, a table, has the statement (``incr.registries``); a step that reads neither
        is not concerned (an attribute deeper down, ``settings.OPT.lr = 0.5``, stays)."""
        try:
            ast.literal_eval(stmt.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        return all(
            isinstance(t, ast.Attribute)
            and isinstance(t.value, ast.Name)
            and self._from(t.value, self.package)
            for t in stmt.targets
        )

    def _passes_definition(self, call: ast.AST) -> bool:
        """True when the call is given one of the module's functions or classes."""
        for node in ast.walk(call):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                defs = self.defs.get(node.id, [])
                if any(
                    isinstance(d, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    for d in defs
                ):
                    return True
        return False

    def _from(self, root: ast.expr, package: str) -> bool:
        """True when ``root`` is a name imported from ``package`` (or one of its modules)."""
        source = self.imports.get(root.id) if isinstance(root, ast.Name) else None
        return source is not None and source.split(".")[0] == package

    def _foreign_store(self, target: ast.expr) -> bool:
        if isinstance(target, ast.Tuple | ast.List):
            return any(self._foreign_store(t) for t in target.elts)
        if isinstance(target, ast.Starred):
            return self._foreign_store(target.value)
        if not isinstance(target, ast.Attribute | ast.Subscript):
            return False
        root = _root(target)
        return not (isinstance(root, ast.Name) and self.own(root.id))

    def _runs_pipeline(self, call: ast.Call) -> bool:
        """``my_pipeline(...).run()``, ``instance.run()`` for ``instance = my_pipeline(...)``."""
        root = _root(call)
        if not isinstance(root, ast.Name):
            return False
        for node in self.defs.get(root.id, []):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if any(last_name(d) == "pipeline" for d in node.decorator_list):
                    return True
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                inner = _root(node.value)
                other = isinstance(inner, ast.Name) and inner.id != root.id
                if other and self._runs_pipeline(node.value):
                    return True
        return False


def _calls_run(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when ``function`` calls a ``.run()`` method (a script's ``main()``)."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run"
        for node in ast.walk(function)
    )


def _calls_nothing(arguments: list[Any]) -> bool:
    """True when no call is made in ``arguments`` (expressions and keywords of a call)."""
    return not any(isinstance(node, ast.Call) for arg in arguments for node in ast.walk(arg))


def _literal(node: Any) -> bool:
    """True for a list, dict or set display or comprehension: a new container of the module."""
    containers = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
    return isinstance(node, containers)


def _root(node: ast.expr) -> ast.expr:
    """The expression an attribute, subscript or call chain starts from."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node
