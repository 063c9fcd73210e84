"""A step that writes into a folder another step declares, without saying so.

- Into a folder another step lists in ``outs`` (``make_reports`` has ``outs=["reports"]``,
  ``extra`` writes ``reports/extra.json``): that folder is its producer's, put back as the
  producer made it whenever the producer is restored or runs, which moves the other file
  aside; the writer then runs again to write it anew, and so on, while a step reading it fails
  every other run.
- Into a folder a step it runs after lists in ``deps`` (``load`` has ``deps=["data"]``,
  ``cache_feats`` takes its output and writes ``data/cache/feats.txt``): ``load``'s deps then
  change after it ran, and its result depends on what a step after it left at the last run.

Both are an error of the writer, as it finishes, naming the two steps and the fix; its result
is not recorded, on every run (a writer that happens to write the bytes of the last run would
be let through, and fail again after the next change). A file it removed again is no error:
nothing loops. Files written exactly at another step's out (several writers of one file) are
``incr.sharedwrites``' concern. Pure: the graphs, the written paths and how to test the disk
are given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from incr import dag
from incr.errors import GraphError
from incr.model import PipelineGraph, StepNode


def check(
    graph: PipelineGraph,
    writer: StepNode,
    written: Iterable[str],
    others: Sequence[PipelineGraph],
    exists: Callable[[str], bool],
) -> GraphError | None:
    """The error for the first of ``written`` (root-relative files ``writer`` of ``graph``
    wrote, besides its outs) that ``exists`` and falls inside a folder another step of
    ``graph`` or of ``others`` lists in ``outs``, or into a ``deps`` path of a step of
    ``graph`` that ``writer`` runs after; None when there is none (most steps)."""
    paths = sorted({p.rstrip("/") for p in written if exists(p.rstrip("/"))})
    if not paths:
        return None
    for g in (graph, *(o for o in others if o.name != graph.name)):
        for node in g.steps:
            if node.key == writer.key:
                continue
            for out in node.outs:
                folder = out.rstrip("/")
                path = next((p for p in paths if _inside(p, folder)), None)
                if path is not None:
                    return _into_outs(writer, path, node, out)
    holders = [n for n in graph.steps if n.deps and n.key != writer.key]
    ups = [n for n in holders if writer.name in dag.descendants(graph, n.name)] if holders else []
    for node in ups:
        for dep in node.deps:
            folder = dep.rstrip("/")
            path = next((p for p in paths if p == folder or _inside(p, folder)), None)
            if path is not None:
                return _into_deps(writer, path, node, dep)
    return None


def _inside(path: str, folder: str) -> bool:
    return folder in ("", ".") or path.startswith(folder + "/")


def _into_outs(writer: StepNode, path: str, owner: StepNode, out: str) -> GraphError:
    return GraphError(
        f"step {writer.key} wrote {path}, inside {out.rstrip('/')}, which step {owner.key} "
        f"lists in outs={[out]!r}: incr puts that folder back as {owner.name} made it, moving "
        f"{path} aside, so the steps reading it would fail or rerun on every other repro",
        hint=f"write it outside {out.rstrip('/')}, have {owner.name} write it, or list in the "
        f"outs of {owner.name} only the files it writes",
    )


def _into_deps(writer: StepNode, path: str, holder: StepNode, dep: str) -> GraphError:
    folder = dep.rstrip("/")
    where = f", inside {folder}," if path != folder else ""
    return GraphError(
        f"step {writer.key} wrote {path}{where} which step {holder.key} lists in "
        f"deps={[dep]!r} and {writer.name} runs after: {holder.name}'s deps change after it "
        f"ran, so it would run again on the next repro, on what {writer.name} left",
        hint=f"write it outside {folder}, or list in the deps of {holder.name} only the files it "
        "reads",
    )
