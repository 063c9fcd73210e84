"""What ``incr push``, ``incr pull``, ``incr status --remote`` and ``incr gc --remote`` do
beyond parsing their options (no click here: text goes out through the ``echo`` and ``tell``
each caller passes; ``tell`` is standard error). Each returns the command's exit code.

The remote's modules are loaded inside each function: ``incr repro`` without a remote to pull
from loads none of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from incr import lockfile
from incr.console import plural
from incr.project import Project
from incr.remoteconf import pull_by_default

if TYPE_CHECKING:
    from incr.remotesync import RemoteRuns

Echo = Callable[[str], None]


def push_command(
    project: Project,
    targets: tuple[str, ...],
    all_runs: bool,
    repair: bool,
    echo: Echo,
    tell: Echo,
) -> int:
    from incr.remote import Remote
    from incr.remotesync import push, select

    remote = Remote.open(project)
    locks = lockfile.read(project.lockfile)
    keys = select(locks, targets)
    report = push(remote, locks, keys, all_runs=all_runs, repair=repair, root=project.root)
    for line in report.problems:
        tell(f"error: {line}")
    for digest in report.repaired:
        echo(f"repaired remote object {digest} (its bytes did not match its digest)")
    sent = f"{plural(report.uploaded, 'object')} and {plural(report.records, 'run record')}"
    if report.uploaded or report.records:
        echo(f"pushed {sent} to {remote.url}")
    elif report.problems:  # what was missing here was not sent: the remote may lack it too
        echo(f"pushed nothing to {remote.url}: what is above is missing here")
    else:
        echo(f"pushed {sent} to {remote.url} (the remote had everything)")
    return 1 if report.problems else 0


def pull_command(project: Project, targets: tuple[str, ...], echo: Echo, tell: Echo) -> int:
    from incr.locking import project_lock
    from incr.remote import Remote
    from incr.remotesync import pull, select
    from incr.seenwrites import SeenWrites

    remote = Remote.open(project)
    with project_lock(project.cache, "incr pull", on_wait=tell):
        locks = lockfile.read(project.lockfile)
        report = pull(remote, project.root, locks, select(locks, targets))
        if report.runs:  # the files their runs wrote outside outs: checked as if run here
            seen = SeenWrites(project.cache / "writes.json")
            with remote.store.batched():
                for key, run in sorted(report.runs.items()):
                    found = (run.outputs, run.reads, run.created, key, run.writes)
                    remote.store.record_run(run.fingerprint, *found)
                    seen.put(key, list(run.writes or ()))
            seen.save(seen.steps)
    for line in report.problems:
        tell(f"error: {line}")
    for name in report.restored:
        echo(f"restored {name}")
    echo(f"pulled {plural(report.fetched, 'object')} from {remote.url}")
    return 1 if report.problems else 0


def status_remote_lines(project: Project, targets: tuple[str, ...]) -> list[str]:
    """One line per locked step: whether its result is on the remote."""
    from incr.remote import Remote
    from incr.remotesync import remote_state, select

    remote = Remote.open(project)
    locks = lockfile.read(project.lockfile)
    state = remote_state(remote, locks, select(locks, targets))
    width = max((len(k) for k in state), default=0)
    lines = [f"remote {remote.url}:"]
    for key, lacking in state.items():
        missing = f"not on remote ({plural(lacking, 'object')} missing)"
        mark = missing if lacking else "on remote"
        lines.append(f"  {key.ljust(width)}  {mark}")
    return lines


def gc_remote_command(project: Project, grace: str, dry_run: bool, echo: Echo) -> int:
    from incr.remote import Remote
    from incr.remotegc import collect_remote, grace_seconds

    seconds = grace_seconds(grace)
    remote = Remote.open(project)
    report = collect_remote(remote, project.lockfile, seconds, dry_run)
    if dry_run:
        for path in (*report.records, *report.objects, *report.temps):
            echo(f"  {path}")
    verb = "would remove" if dry_run else "removed"
    echo(
        f"{verb} {plural(len(report.objects), 'object')} ({report.freed} bytes), "
        f"{plural(len(report.records), 'run record')} and "
        f"{plural(len(report.temps), 'temp file')} from "
        f"{remote.url}; kept {plural(report.kept, 'object')} that {report.lockfiles} lockfiles "
        f"(branches, tags, working tree) need or that are younger than --grace {grace}"
    )
    return 0


def remote_runs(project: Project, pull_flag: bool, tell: Echo) -> RemoteRuns | None:
    """For ``incr repro``: the remote to fetch results from, with ``--pull`` or
    ``[tool.incr.remote] pull = true``; None otherwise."""
    if not pull_flag and not pull_by_default(project):
        return None
    from incr.remote import Remote
    from incr.remotesync import RemoteRuns

    locks = lockfile.read(project.lockfile) if project.lockfile.is_file() else {}
    return RemoteRuns(Remote.open(project), locks, lambda text: tell(f"warning: {text}"))
