"""Where the shared remote cache is: ``[tool.incr.remote]`` in ``pyproject.toml``, or
``INCR_REMOTE`` for one command, opened as an fsspec filesystem.

```toml
[tool.incr.remote]
url = "s3://bucket/some/prefix"      # any fsspec URL, or a folder (relative: to the project root)
options = { endpoint_url = "http://127.0.0.1:9000" }   # given to the filesystem; no secrets
pull = true                          # `incr repro` acts as `incr repro --pull`
```

Credentials come from the environment and each backend's usual chain, never from the
committed file. A backend whose package is missing is one line naming the extra to install
(``incr[s3]``...). Errors while talking to the remote become one ``RemoteError`` line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from incr.errors import IncrError, ProjectError
from incr.project import Project, tool_table
from incr.valueclass import valueclass

#: The extra that brings each protocol's fsspec backend.
EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
    "sftp": "ssh",
    "ssh": "ssh",
    "file": "remote",
    "local": "remote",
}
#: Protocols whose uploads appear whole or not at all (an object store's PUT): the others
#: upload to ``tmp/`` on the remote and rename.
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"}
#: Protocols whose "folders" are key prefixes in a bucket, which incr never creates.
BUCKETS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}
#: Seconds to wait for an unreachable server before giving up (per attempt).
CONNECT_TIMEOUT = 4


class RemoteError(IncrError):
    """The remote is not configured, cannot be reached, refuses us, or holds bad bytes."""

    exit_code = 1


@valueclass(frozen=True)
class RemoteConfig:
    """A remote's URL (a folder is made absolute), the filesystem options, and whether
    ``incr repro`` pulls by default."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    pull: bool = False

    @property
    def protocol(self) -> str:
        head, sep, _ = self.url.partition("://")
        return head.lower() if sep else "file"

    @property
    def path(self) -> str:
        """The URL without its protocol (``bucket/prefix``, ``/abs/folder``)."""
        _, sep, rest = self.url.partition("://")
        return (rest if sep else self.url).rstrip("/")


def remote_config(project: Project, environ: Mapping[str, str] | None = None) -> RemoteConfig:
    """The project's remote. ``INCR_REMOTE`` replaces the table's ``url`` and ``options``.
    Raises RemoteError when neither names one, or the table is malformed."""
    environ = os.environ if environ is None else environ
    table = _table(project.root / "pyproject.toml")
    pull = table.get("pull", False)
    if not isinstance(pull, bool):
        raise RemoteError("pyproject.toml: [tool.incr.remote] pull must be true or false")
    override = environ.get("INCR_REMOTE", "").strip()
    if override:
        return RemoteConfig(_absolute(override, project.root), {}, pull)
    url = table.get("url")
    if not url:
        raise RemoteError(
            "no remote: pyproject.toml has no [tool.incr.remote] url and INCR_REMOTE is unset",
            hint='add [tool.incr.remote] url = "s3://bucket/prefix" (or a folder), '
            "or set INCR_REMOTE",
        )
    options = table.get("options", {})
    if not isinstance(url, str) or not isinstance(options, dict):
        raise RemoteError(
            "pyproject.toml: [tool.incr.remote] url must be a string and options a table"
        )
    return RemoteConfig(_absolute(url, project.root), dict(options), pull)


def pull_by_default(project: Project) -> bool:
    """``[tool.incr.remote] pull = true``: ``incr repro`` fetches results from the remote."""
    try:
        return remote_config(project).pull
    except RemoteError:
        return False


def _table(pyproject: Path) -> dict[str, Any]:
    try:
        table = tool_table(pyproject.parent).get("remote", {})
    except ProjectError:
        return {}  # the project loader reports it
    if not isinstance(table, dict):
        raise RemoteError("pyproject.toml: [tool.incr.remote] must be a table")
    return table


def _absolute(url: str, root: Path) -> str:
    if "://" in url:
        return url
    return os.fspath((root / url).resolve())


def open_filesystem(config: RemoteConfig, create: bool = False) -> tuple[Any, str]:
    """The fsspec filesystem for ``config`` and the remote's root path in it. A missing local
    folder is made with ``create`` (a push), else it is a RemoteError: an unmounted drive is
    no empty remote. Raises RemoteError naming the extra to install when the backend's
    package is missing, or saying why the remote cannot be reached."""
    extra = EXTRAS.get(config.protocol, "remote")
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise _missing_extra(config, extra, "fsspec") from None
    options = _with_timeouts(config.protocol, config.options)
    try:
        with talking(config):
            fs, root = url_to_fs(config.url, **options)
    except ImportError as exc:
        raise _missing_extra(config, extra, getattr(exc, "name", None) or str(exc)) from None
    root = root.rstrip("/")
    if config.protocol in ("file", "local"):
        with talking(config):
            if create:
                fs.makedirs(root, exist_ok=True)
            elif not fs.isdir(root):  # an unmounted drive, a misspelt path: not an empty remote
                raise RemoteError(
                    f"remote {config.url}: the folder does not exist",
                    hint="check the path (a drive that is not mounted?); incr push creates it",
                )
    return fs, root


def _missing_extra(config: RemoteConfig, extra: str, module: str) -> RemoteError:
    return RemoteError(
        f"remote {config.url} needs the {extra!r} extra ({module} is not installed)",
        hint=f"pip install 'incr[{extra}]'",
    )


def _with_timeouts(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    """Short connection timeouts and few retries unless the user set their own, so that an
    unreachable remote is one line within seconds rather than minutes of retries."""
    options = dict(options)
    if protocol in ("s3", "s3a"):
        config = dict(options.get("config_kwargs", {}))
        config.setdefault("connect_timeout", CONNECT_TIMEOUT)
        config.setdefault("retries", {"max_attempts": 2, "mode": "standard"})
        options["config_kwargs"] = config
        endpoint = options.pop("endpoint_url", None)
        if endpoint:
            options.setdefault("client_kwargs", {}).setdefault("endpoint_url", endpoint)
    elif protocol in ("file", "local"):
        options.setdefault("auto_mkdir", True)
    elif protocol in ("sftp", "ssh"):
        options.setdefault("connect_timeout", CONNECT_TIMEOUT)
    return options


@contextlib.contextmanager
def talking(config: RemoteConfig, what: str = "") -> Iterator[None]:
    """Turn what the backend raises into one RemoteError line: a missing bucket, refused
    credentials, an unreachable server. incr's own errors pass through."""
    try:
        yield
    except (IncrError, ImportError):
        raise
    except Exception as exc:
        raise RemoteError(f"remote {config.url}: {describe(config, exc, what)}") from None


def describe(config: RemoteConfig, exc: BaseException, what: str = "") -> str:
    """A short sentence for an exception raised by a backend."""
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    name = type(exc).__name__
    if isinstance(exc, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        return f"access denied ({text}); check the credentials in the environment"
    if any(word in text for word in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "Unauth")):
        return f"credentials refused ({text}); check the credentials in the environment"
    if "NoCredentials" in name or "Unable to locate credentials" in text:
        return "no credentials found; set them in the environment (e.g. AWS_ACCESS_KEY_ID)"
    if isinstance(exc, FileNotFoundError) and config.protocol in BUCKETS:
        bucket = config.path.split("/", 1)[0]
        if what in ("", "list") or bucket in text:
            return f"bucket {bucket!r} does not exist (incr never creates buckets): {text}"
    if isinstance(exc, ConnectionError | TimeoutError) or any(
        word in name for word in ("Connect", "Timeout", "Endpoint")
    ):
        return f"cannot reach the server ({text})"
    return f"{what + ': ' if what else ''}{text}"
