"""Draws from a global random generator (``np.random.rand``, ``random.random``): a step that
makes one is not reproducible, and ``incr status`` says how to seed it instead. Likewise the
process-wide settings a step changes, and the command line it reads (``sys.argv``)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ast

    from incr.codeast import ModuleInfo, Ref

_NUMPY_DRAWS = (
    "beta binomial bytes chisquare choice dirichlet exponential f gamma geometric gumbel "
    "hypergeometric laplace logistic lognormal logseries multinomial multivariate_normal "
    "negative_binomial noncentral_chisquare noncentral_f normal pareto permutation poisson "
    "power rand randint randn random random_integers random_sample ranf rayleigh sample "
    "shuffle standard_cauchy standard_exponential standard_gamma standard_normal standard_t "
    "triangular uniform vonmises wald weibull zipf"
)
_STDLIB_DRAWS = (
    "betavariate binomialvariate choice choices expovariate gammavariate gauss getrandbits "
    "lognormvariate normalvariate paretovariate randbytes randint random randrange sample "
    "shuffle triangular uniform vonmisesvariate weibullvariate"
)
NUMPY_GLOBAL_DRAWS = frozenset(_NUMPY_DRAWS.split())
STDLIB_GLOBAL_DRAWS = frozenset(_STDLIB_DRAWS.split())
_SETTING_MODULES = frozenset(
    {"sklearn", "pandas", "torch", "numpy", "tensorflow", "decimal", "csv", "warnings", "locale"}
)
_GLOBAL_RANDOM_FIX = {"numpy": "np.random.default_rng(...)", "random": "random.Random(...)"}


def global_random_draws(info: ModuleInfo, refs: list[Ref], seeds: bool = True) -> list[str]:
    """Uses of a global random generator among the names a definition reads (``np.random.rand``,
    ``random.choice``, ``choice`` imported from ``random``), as ``np.random.rand()`` or
    ``random.choice()``. Its results then depend on what drew before it in the same process.
    A definition that seeds that generator itself (``np.random.seed(0)``) is left out (with
    ``seeds``)."""
    dotted = {_dotted(info, name, chain) for name, chain in refs}
    found = []
    for full in sorted(d for d in dotted if d):
        module, _, func = full.rpartition(".")
        if module == "numpy.random" and func in NUMPY_GLOBAL_DRAWS:
            found += [f"np.random.{func}()"] if not seeds or f"{module}.seed" not in dotted else []
        elif module == "random" and func in STDLIB_GLOBAL_DRAWS:
            found += [f"random.{func}()"] if not seeds or f"{module}.seed" not in dotted else []
    return found


def seed_notes(info: ModuleInfo, refs: list[Ref], place: str) -> list[str]:
    """The global generators a definition (``place``: ``PATH:NAME``) seeds or sets the state
    of (``np.random.seed``, ``np.random.set_state``, ``random.seed``, ``random.setstate``),
    as ``np.random.seed() in PLACE`` or ``random.seed() in PLACE``; ``np.random.seed()+ in
    PLACE`` when it draws from it too (``global_random_draws`` then notes no draw)."""
    dotted = {_dotted(info, name, chain) for name, chain in refs}
    found = {short for full, short in _SEEDS.items() if full in dotted}
    if not found:
        return []  # most definitions: no walk of their draws
    drawn = {_generator(n) for n in global_random_draws(info, refs, seeds=False)}
    return [f"{short}.seed(){'+' * (short in drawn)} in {place}" for short in sorted(found)]


_SEEDS = {
    "numpy.random.seed": "np.random",
    "numpy.random.set_state": "np.random",
    "random.seed": "random",
    "random.setstate": "random",
}


def unseeded(notes: list[str], seeds: list[str]) -> list[str]:
    """``notes`` without the draws from a global generator that the closure seeds somewhere
    (``seeds``: ``seed_notes``; a ``set_seed(42)`` helper the step calls first, as most
    projects have one), with the seeds of a generator it does not draw from: the step sets
    that generator's state for the steps run after it that draw from it (``generators``).
    Those of a generator it seeds and draws from are kept as ``np.random.seed()+ in PLACE``:
    the steps drawing after it start where it left off (no note ``incr status`` shows)."""
    seeded = {_generator(n) for n in seeds}
    drawn = {_generator(n) for n in [*notes, *seeds] if global_random_fix(n) or "+ in " in n}
    kept = [n for n in notes if _generator(n) not in seeded]
    own = [n.replace(".seed() in ", ".seed()+ in ", 1) for n in seeds if _generator(n) in drawn]
    return kept + [n for n in seeds if _generator(n) not in drawn] + own


def is_own_seed_note(note: str) -> bool:
    """True for a seed of a generator the closure draws from too (``unseeded``)."""
    return note.partition(" in ")[0] in _OWN_SEED_HEADS


def is_seed_note(note: str) -> bool:
    """True for a note ``unseeded`` keeps of a seed (``np.random.seed() in PATH:NAME``)."""
    return note.partition(" in ")[0] in _SEED_HEADS


_SEED_HEADS = frozenset(f"{short}.seed()" for short in _SEEDS.values())
_OWN_SEED_HEADS = frozenset(f"{head}+" for head in _SEED_HEADS)


def generators(notes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the global generators a step seeds for the steps after it, those it draws from
    unseeded), by its closure's ``notes`` (``unseeded``): ``("np.random",), ()`` for a
    ``set_seed(config)`` step calling ``np.random.seed(config.seed)`` and drawing nothing, or
    for a ``train`` seeding it and drawing from it."""
    seeds = {_generator(n) for n in notes if is_seed_note(n) or is_own_seed_note(n)}
    draws = {_generator(n) for n in notes if global_random_fix(n)}
    return tuple(sorted(seeds)), tuple(sorted(draws))


def _generator(note: str) -> str:
    """``np.random`` for ``np.random.rand() in PATH:NAME``."""
    return note.partition("(")[0].rpartition(".")[0]


#: Calls (and values set) that change process-wide settings of a library: made in a step,
#: they reach the steps that run after it in the same process, and only those. A name ending
#: in ``*`` stands for all the names it begins (``polars.Config.set_float_precision``); one
#: below another (``pandas.options.display.max_rows``) counts as it.
GLOBAL_SETTINGS = frozenset(
    {
        "sklearn.set_config",
        "pandas.set_option",
        "pandas.reset_option",
        "pandas.options",
        "polars.Config.set_*",
        "polars.Config.load",
        "polars.Config.restore_defaults",
        "numpy.set_printoptions",
        "numpy.seterr",
        "torch.set_default_dtype",
        "torch.set_default_device",
        "torch.use_deterministic_algorithms",
        "tensorflow.config.run_functions_eagerly",
        "decimal.getcontext",
        "decimal.setcontext",
        "csv.register_dialect",
        "csv.field_size_limit",
        "warnings.filterwarnings",
        "warnings.simplefilter",
        "locale.setlocale",
        "logging.basicConfig",
        "matplotlib.use",
        "matplotlib.rcParams",
        "matplotlib.style.use",
        "matplotlib.pyplot.rcParams",
        "matplotlib.pyplot.style.use",
    }
)
_SETTING_PREFIXES = tuple(s.removesuffix("*") for s in GLOBAL_SETTINGS if s.endswith("*"))
#: Settings a ``with warnings.catch_warnings():`` block in the same definition puts back.
_SCOPED = {"warnings.catch_warnings": "warnings."}


def library_setting(dotted: str) -> str | None:
    """The process-wide setting (``GLOBAL_SETTINGS``) the dotted name ``dotted`` stands for,
    as its note names it (``pandas.options`` for ``pandas.options.display.max_rows``, the
    name itself for one a ``*`` stands for); None for another name."""
    if dotted.startswith(_SETTING_PREFIXES):
        return dotted
    head = dotted
    while head:
        if head in GLOBAL_SETTINGS:
            return head
        head = head.rpartition(".")[0]
    return None


def global_settings(info: ModuleInfo, sym: str, refs: list[Ref]) -> list[str]:
    """Calls among the names definition ``sym`` reads that change a library's process-wide
    settings (``sklearn.set_config(...)``), as ``sklearn.set_config()``, and the module
    globals it rebinds (``global K``): in a function or a class only (a module's top-level
    code counts as code, see ``incr.moduletop``), but a singleton made of a plain value
    (``memodicts.plain_lazies``), made again by each step. Warning filters set inside
    ``warnings.catch_warnings()`` are put back as the block ends: not counted."""
    import ast

    from incr.codeast import definition_nodes

    nodes = definition_nodes(info, sym) or []
    if not any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in nodes):
        return []
    dotted = {_dotted(info, name, chain, wide=True) for name, chain in refs}
    found = {s for d in dotted if (s := library_setting(d)) is not None}
    scoped = tuple(v for k, v in _SCOPED.items() if k in dotted)
    found = {s for s in found if not s.startswith(scoped)} if scoped else found
    rebound = {
        n
        for node in (nodes if _says_global(info.source.text) else [])  # most modules: no walk
        for s in ast.walk(node)
        if isinstance(s, ast.Global)
        for n in s.names
    }
    if rebound and info.tree is not None:  # a singleton each step makes again: no setting
        from incr.memodicts import plain_lazies

        rebound -= plain_lazies(info.tree)
    return [f"{call}()" for call in sorted(found)] + [f"global {n}" for n in sorted(rebound)]


@functools.lru_cache(maxsize=64)
def _says_global(text: str) -> bool:
    """Whether a module's text has the word ``global`` (a ``str`` keeps its hash: asked of
    one module's text again, this is a lookup)."""
    return re.search(r"\bglobal\b", text) is not None


#: Methods of an ``argparse`` parser that read ``sys.argv`` when given no list.
_PARSES = frozenset(
    {"parse_args", "parse_known_args", "parse_intermixed_args", "parse_known_intermixed_args"}
)
_ARGV_WORD = re.compile(r"\b(?:argv|parse_\w*args)\b")


@functools.lru_cache(maxsize=64)
def _names_argv(text: str) -> bool:
    """Whether a module's text names ``argv`` or a parser's ``parse_args`` (asked of each of a
    module's definitions: searched once per text, not once per definition, which cost 11 ms
    a step at 10,000 steps in one module)."""
    return _ARGV_WORD.search(text) is not None


def command_line_reads(info: ModuleInfo, sym: str, refs: list[Ref]) -> list[str]:
    """What definition ``sym`` reads of the command line: ``sys.argv`` (or ``argv`` imported
    from ``sys``), and a parser's ``parse_args()`` or ``parse_known_args()`` given no list,
    which reads ``sys.argv``, in a function (``incr.globalvalues`` counts what a module's top
    level binds from the command line by its value). A script run with other arguments may
    make it give another result (``facts``: the arguments then count)."""
    import ast

    if not _names_argv(info.source.text):
        return []
    nodes = _run_when_called(info, sym)
    if not nodes:  # read as the module is imported: what it binds counts by its value
        return []
    found = ["sys.argv"] if "sys.argv" in {_dotted(info, n, c, wide=True) for n, c in refs} else []
    for node in [n for d in nodes for n in ast.walk(d)]:
        if (
            not isinstance(node, ast.Call)
            or node.args
            or any(k.arg == "args" for k in node.keywords)
        ):
            continue  # not a call, or a parser given its list: no command line read
        if isinstance(node.func, ast.Attribute) and node.func.attr in _PARSES:
            found.append(f"{node.func.attr}()")
    return sorted(set(found))


#: Functions that give another value on each call (the day, a fresh id), by full dotted name,
#: with how a note names them. ``time.time()`` and ``perf_counter()`` are left out: a step
#: times itself with them far more often than it returns what they give.
_CHANGING = {
    **{f"datetime.datetime.{m}": f"datetime.{m}()" for m in ("now", "today", "utcnow")},
    "datetime.date.today": "date.today()",
    **{f"pandas.Timestamp.{m}": f"pd.Timestamp.{m}()" for m in ("now", "today", "utcnow")},
    **{f"uuid.{m}": f"uuid.{m}()" for m in ("uuid1", "uuid4")},
    **{f"secrets.{m}": f"secrets.{m}()" for m in ("token_hex", "token_bytes", "token_urlsafe")},
}
_CHANGING_HEADS = frozenset(_CHANGING.values())
_CHANGING_WORD = re.compile(r"\b(?:now|today|utcnow|uuid1|uuid4|token_\w+)\b")


@functools.lru_cache(maxsize=64)
def _names_changing(text: str) -> bool:
    return _CHANGING_WORD.search(text) is not None


def changing_values(info: ModuleInfo, sym: str, refs: list[Ref]) -> list[str]:
    """What definition ``sym``, a function, calls that gives another value on each run
    (``datetime.now()``, ``uuid.uuid4()``): a cached result keeps the value of the run that
    made it, and ``incr status`` says so. (A module's top level binding one counts by its
    value: ``incr.globalvalues``.)"""
    if not _names_changing(info.source.text) or not _run_when_called(info, sym):
        return []
    dotted = {_dotted(info, n, c) for n, c in refs}
    return sorted({_CHANGING[d] for d in dotted if d in _CHANGING})


def is_changing_value(note: str) -> bool:
    """True for a note made by ``changing_values`` (``uuid.uuid4() in PATH:NAME``)."""
    return note.partition(" in ")[0] in _CHANGING_HEADS


def _run_when_called(info: ModuleInfo, sym: str) -> list[ast.stmt]:
    """The statements of definition ``sym`` that run when called, not as the module is
    imported: its functions and classes (none for a value bound at the top level)."""
    import ast

    from incr.codeast import definition_nodes

    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [n for n in definition_nodes(info, sym) or [] if isinstance(n, kinds)]


def is_command_line_read(note: str) -> bool:
    """True for a note made by ``command_line_reads`` (``sys.argv in PATH:NAME``)."""
    head = note.partition(" in ")[0]
    return head == "sys.argv" or head.removesuffix("()") in _PARSES


def is_global_setting(note: str) -> bool:
    """True for a note made by ``global_settings`` (``sklearn.set_config() in PATH:NAME``,
    ``global K in PATH:NAME``: a function that rebinds a module global)."""
    head = note.partition(" in ")[0]
    return is_library_setting(note) or head.startswith("global ")


#: Settings that change what a step prints or logs, not what it computes: a step making one
#: gets the note, not the rerun of a setter (``warnings.filterwarnings("ignore")`` is common).
OUTPUT_ONLY = ("warnings.", "logging.")


def is_library_setting(note: str) -> bool:
    """True for a note made by ``global_settings`` on a library's process-wide setting
    (``csv.register_dialect() in PATH:NAME``)."""
    head = note.partition(" in ")[0]
    return head.endswith("()") and library_setting(head.removesuffix("()")) == head[:-2]


#: The module a bare name not bound at the module's top level stands for (made once: each
#: name each step's code reads is asked, four times).
_BARE_MODULES = {"np": "numpy", "numpy": "numpy", "random": "random", "sys": "sys"}


def _dotted(info: ModuleInfo, name: str, chain: tuple[str, ...], wide: bool = False) -> str:
    """The dotted path a name read in ``info`` stands for (``np.random.rand`` ->
    ``numpy.random.rand``), from the module's imports; ``np``, ``numpy`` and ``random`` bound
    by an import inside a function count as those modules. Empty for a local name."""
    binding = info.imports.get(name)
    if binding is not None:
        base = binding.module or f"{binding.attr_of}.{binding.attr}"
    elif name in info.defs:
        return ""
    else:
        base = _BARE_MODULES.get(name, "")
        base = base or (name if wide and name in _SETTING_MODULES else "")
    return ".".join([base, *chain]) if base else ""


def global_random_fix(note: str) -> str | None:
    """For a note made by ``global_random_draws`` (``np.random.rand() in PATH:NAME``), what to
    use instead (``np.random.default_rng(...)``); None for any other note."""
    call = note.partition(" in ")[0]
    module, _, func = call.removesuffix("()").rpartition(".")
    if module == "np.random" and func in NUMPY_GLOBAL_DRAWS:
        return _GLOBAL_RANDOM_FIX["numpy"]
    if module == "random" and func in STDLIB_GLOBAL_DRAWS:
        return _GLOBAL_RANDOM_FIX["random"]
    return None
