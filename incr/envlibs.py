"""Which variables a library reads from the environment for the project count
(see ``incr.envreads``).

Configuration libraries read the environment for the project's code: click and typer for an
option's ``envvar="EPOCHS"``, OmegaConf for ``${oc.env:EPOCHS,3}``, python-dotenv,
decouple and environs by name, pydantic-settings by going through the whole environment
(``env_prefix="APP_"``). Such a read counts like one made by the project's code, except for
the machine's own variables (``ambient``): libraries read ``HOME``, ``TMPDIR``, ``PATH``,
``LANG`` or ``OMP_NUM_THREADS`` for themselves, and their values differ from one machine to
the next (a teammate's, CI's) without changing a result. One of them counts all the same
when a string of the project's code is its name (``envvar="USER"``).

A library going through the whole environment (``os.environ.items()``, ``copy()``,
``dict(os.environ)``) reads no one name: ``bulk_names`` says which count then: ``PREFIX*``
(every variable whose name starts with ``PREFIX``, in any case, set or not) for each string
of the project's code that looks like a prefix (``"APP_"``), and each variable set then whose
name the project's code spells, in any case (a field ``batch_size`` for ``BATCH_SIZE``).
"""

from __future__ import annotations

import linecache
import os
import re
import tokenize
from collections.abc import Iterable, Mapping
from typing import Any

from incr.fingerprint import digest_bytes
from incr.model import UNSET

#: Variables of the machine, the user, the shell, the terminal and the tools around Python,
#: by kind: whole names.
_NAMES = (
    "HOME USER USERNAME LOGNAME USERPROFILE USERDOMAIN SHELL PATH PWD OLDPWD SHLVL _",
    "TMPDIR TEMP TMP LANG LANGUAGE HOSTNAME HOST HOSTTYPE MACHTYPE OSTYPE MAIL",
    "TERM COLORTERM COLUMNS LINES DISPLAY WAYLAND_DISPLAY WINDOWID TMUX STY TERMINFO",
    "EDITOR VISUAL PAGER LESS LESSOPEN LESSCLOSE LS_COLORS DESKTOP_SESSION SESSION_MANAGER",
    "NO_COLOR FORCE_COLOR CLICOLOR CLICOLOR_FORCE CI VIRTUAL_ENV MPLBACKEND MPLCONFIGDIR",
    "LD_LIBRARY_PATH LD_PRELOAD DYLD_LIBRARY_PATH DYLD_FALLBACK_LIBRARY_PATH",
    "MANPATH INFOPATH PKG_CONFIG_PATH JAVA_HOME GOPATH GOROOT CARGO_HOME RUSTUP_HOME NVM_DIR",
    "SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE CURL_CA_BUNDLE",
    "HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY",
    "SYSTEMROOT SYSTEMDRIVE WINDIR COMSPEC PATHEXT APPDATA LOCALAPPDATA PROGRAMDATA",
    "NUMBER_OF_PROCESSORS OS COMPUTERNAME LNAME",
)
#: Beginnings of names: locale, XDG folders, sessions, Python and its packaging tools, thread
#: pools and GPUs, CI services, cloud credentials, editors and terminals, caches.
_PREFIXES = (
    "LC_ XDG_ SSH_ DBUS_ GPG_ BASH_ ZSH HISTFILE WSL WT_ ITERM TERM_ VSCODE_ JUPYTER JPY_",
    "PYTHON _PYTHON CONDA PIP_ PIPX_ UV_ POETRY_ PIPENV_ PYENV VIRTUALENV",
    "OMP_ MKL_ OPENBLAS_ BLIS_ GOTO_ NUMEXPR_ VECLIB_ KMP_ CUDA NVIDIA_ NCCL_ ROCM HIP_",
    "GITHUB_ GITLAB_ RUNNER_ ACTIONS_ BUILDKITE JENKINS_ TRAVIS CIRCLE BITBUCKET_ TEAMCITY",
    "AWS_ AZURE_ GOOGLE_ GCLOUD_ CLOUDSDK_ KUBERNETES_ GIT_ HOMEBREW_ NPM_ SDKMAN_",
    "HF_ HUGGINGFACE_ TORCH_HOME DASK_ PROCESSOR_ COMMONPROGRAM PROGRAMFILES",
)
AMBIENT_NAMES = frozenset(n for group in _NAMES for n in group.split())
AMBIENT_PREFIXES = tuple(p for group in _PREFIXES for p in group.split())

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A string of the code that is one name: ``"EPOCHS"``, ``'APP_'``.
_NAMED = re.compile(r"""[rRuU]?(["'])([A-Za-z_][A-Za-z0-9_]*)\1""")


def ambient(name: str) -> bool:
    """Whether ``name`` is a variable of the machine (``AMBIENT_NAMES``, ``AMBIENT_PREFIXES``),
    in any case."""
    upper = name.upper()
    return upper in AMBIENT_NAMES or upper.startswith(AMBIENT_PREFIXES)


class Words:
    """What some code files spell: the words of their names and strings (``folded``, upper
    case), their strings that are one name (``named``: ``envvar="EPOCHS"``) and those that
    end like a prefix (``prefixes``, upper case: ``env_prefix="APP_"``)."""

    def __init__(self) -> None:
        self.folded: set[str] = set()
        self.named: set[str] = set()
        self.prefixes: set[str] = set()

    def add(self, lines: list[str]) -> None:
        """Add the words of Python source ``lines``: not of its comments."""
        kept, strings = [], []
        try:
            for token in tokenize.generate_tokens(iter(lines).__next__):
                if token.type == tokenize.NAME:
                    kept.append(token.string)
                elif token.type == tokenize.STRING:
                    kept.append(token.string)
                    strings.append(token.string)
        except (tokenize.TokenError, SyntaxError):
            kept = lines  # not Python: every word counts
        self.folded |= {w.upper() for w in _WORD.findall("\n".join(kept))}
        for text in strings:
            if (one := _NAMED.fullmatch(text)) is not None:
                self.named.add(one[2])
                if one[2].endswith("_") and one[2][0].isalpha():
                    self.prefixes.add(one[2].upper())

    def merge(self, other: Words) -> None:
        self.folded |= other.folded
        self.named |= other.named
        self.prefixes |= other.prefixes


_memo: dict[str, tuple[tuple[int, int], Words]] = {}


def words_of(paths: Iterable[str]) -> Words:
    """The words of the code files ``paths`` (a file that cannot be read has none)."""
    words = Words()
    for path in sorted(set(paths)):
        try:
            st = os.stat(path)
        except OSError:
            continue
        stamp = (st.st_mtime_ns, st.st_size)
        known = _memo.get(path)
        if known is None or known[0] != stamp:
            one = Words()
            linecache.checkcache(path)  # read as code, not as data: no read of a step's
            one.add(linecache.getlines(path))
            known = _memo[path] = (stamp, one)
        words.merge(known[1])
    return words


def bulk_names(words: Words, environ: Mapping[str, str], frame: Any = None) -> set[str]:
    """The names a library's copy of the whole ``environ`` for the project counts by (see
    the module's doc): ``PREFIX*`` globs and the variables set, not the machine's, that
    ``words`` spell; and when a pydantic-settings source made the copy (in ``frame`` or a
    caller), each variable a field of its class takes its value from, set or not
    (``settings_names``), and those alone: the words of other classes in the same files
    (``env_prefix="DB_"``, a field ``Mode``) are not this one's. A class that takes extra
    fields from the environment (``extra="allow"``) counts by the words too."""
    fields = settings_names(frame) if frame is not None else None
    if fields and not fields.extra:
        return set(fields)
    found = {f"{p}*" for p in words.prefixes if not ambient(p)}
    for name in environ:
        if name.upper() in words.folded and not ambient(name):
            found.add(name)
    if not fields:
        return found
    found |= fields
    globs = {n[:-1].upper() for n in found if n.endswith("*")}  # (``env_prefix``)
    return {n for n in found if not any(_covers(g, n) for g in globs)}


class Fields(set[str]):
    """The variables of a pydantic-settings class's fields (see ``settings_names``);
    ``extra``: the class takes extra fields from the environment too."""

    extra = False


def settings_names(frame: Any, depth: int = 4) -> Fields:
    """The variables a pydantic-settings source (the ``self`` of ``frame`` or of one of its
    ``depth`` callers, with the ``settings_cls`` it fills) takes its class's fields from, as
    pydantic-settings names them: its prefix and the field's name, or the field's alias
    (``validation_alias``, ``AliasChoices``); as a ``NAME*`` glob when it ignores case (its
    default: ``BATCH_SIZE*`` counts ``batch_size`` and ``Batch_Size`` too, and, to be safe,
    the names that begin so), with a ``NAME__*`` glob for a nested model's fields
    (``env_nested_delimiter="__"``). A variable not set then counts as unset: setting it
    later dirties the steps that built the class."""
    while frame is not None and depth > 0:
        source = frame.f_locals.get("self")
        fields = getattr(getattr(source, "settings_cls", None), "model_fields", None)
        if isinstance(fields, dict) and hasattr(source, "env_prefix"):
            found = Fields(_field_variables(source, fields))
            config = getattr(source.settings_cls, "model_config", None)
            found.extra = isinstance(config, dict) and config.get("extra") == "allow"
            return found
        frame, depth = frame.f_back, depth - 1
    return Fields()


def _covers(glob: str, name: str) -> bool:
    """Whether the ``GLOB*`` of prefix ``glob`` counts the variable or glob ``name`` already
    (not itself)."""
    upper = name.upper()
    return upper.startswith(glob) and upper not in (glob, f"{glob}*")


def _field_variables(source: Any, fields: dict[str, Any]) -> set[str]:
    prefix = getattr(source, "env_prefix", "") or ""
    upper = not getattr(source, "case_sensitive", False)
    nested = getattr(source, "env_nested_delimiter", None) or ""
    found: set[str] = set()
    for name, field in fields.items():
        for env_name in _aliases(field) or [f"{prefix}{name}"]:
            key = env_name.upper() if upper else env_name
            found.add(f"{key}*" if upper else key)  # in any case: ``batch_size`` too
            annotation = getattr(field, "annotation", None)
            if nested and not upper and isinstance(getattr(annotation, "model_fields", None), dict):
                found.add(f"{key}{nested}*")  # (``NAME*`` holds them when case is ignored)
    return found


def _aliases(field: Any) -> list[str]:
    """The names a field's ``validation_alias`` (a str, ``AliasChoices``, ``AliasPath``) or
    ``alias`` give it, which pydantic-settings reads without the prefix."""
    alias = getattr(field, "validation_alias", None) or getattr(field, "alias", None)
    if isinstance(alias, str):
        return [alias]
    choices = getattr(alias, "choices", None) or [alias]
    found = []
    for choice in choices:
        path = getattr(choice, "path", None)
        first = path[0] if isinstance(path, list) and path else choice
        found += [first] if isinstance(first, str) else []
    return found


def prefixed_value(prefix: str, environ: Mapping[str, str]) -> str:
    """The value of a ``PREFIX*`` glob: a digest of the names of the variables whose name
    starts with ``prefix`` in any case (not the machine's own) and of digests of their values,
    or ``unset`` (``prefixed_digests`` of those digests)."""
    upper = prefix.upper()
    return prefixed_digests(
        prefix,
        {n: _digest(v) for n, v in environ.items() if n.upper().startswith(upper)},
    )


def prefixed_digests(prefix: str, digests: Mapping[str, str]) -> str:
    """``prefixed_value`` from the digests of the variables' values (``envreads.env_value``
    of each: what a Dask worker is told of the client's environment)."""
    upper = prefix.upper()
    pairs = sorted(
        (n, d) for n, d in digests.items() if n.upper().startswith(upper) and not ambient(n)
    )
    if not pairs:
        return UNSET
    return _digest("\0".join(f"{n}={d}" for n, d in pairs))


def _digest(text: str) -> str:
    """What ``envreads.env_value`` keeps of a value."""
    return digest_bytes(text.encode("utf-8", "surrogateescape"), 32)
