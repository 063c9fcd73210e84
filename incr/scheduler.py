"""The one scheduling loop, as ninja's builder has: start as many ready steps as the executor
allows, wait for one to finish, record it, repeat.

Whatever the executor (in process, worker pool, dry run), the loop decides every step
(``prepare``), records every result (``record``) and handles failures once: a failed step never
finishes, so the steps below it never become ready and end up skipped; without ``keep_going``
nothing new starts after a failure and what runs drains. A step whose input object turns out
missing or damaged waits while its producer is recomputed (silently), then starts again.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Mapping

from incr import dag, foreignwrites, passes, seeds
from incr.events import Note, Reporter, StepFailed, StepFinished, Warning_
from incr.executors import Executor, StepJob, StepOutcome
from incr.model import StepNode
from incr.prepare import Preparer, shown
from incr.record import ResultRecorder
from incr.runstate import Clock, Held, RunState


class Loop:
    """Runs the steps ``steps`` (in dependency order) of ``run`` through ``executor``."""

    def __init__(
        self,
        run: RunState,
        steps: list[StepNode],
        executor: Executor,
        preparer: Preparer,
        recorder: ResultRecorder,
        reporter: Reporter,
        clock: Clock,
        keep_going: bool = False,
    ) -> None:
        self.run, self.executor, self.reporter, self.clock = run, executor, reporter, clock
        self.preparer, self.recorder, self.keep_going = preparer, recorder, keep_going
        self.nodes = {n.name: n for n in steps}
        self.index = {n.name: i for i, n in enumerate(run.traced.graph.steps)}
        self.pending = set(self.nodes)  # still to be prepared
        self.settled: set[str] = set()  # finished: reused, executed, or decided (dry run)
        self.running: dict[str, StepJob] = {}
        self.again: set[str] = set()  # running now, to be prepared again once done
        self.first: set[str] = set()  # put back in the queue: before the steps not run yet
        self.parked: dict[str, list[str]] = {}  # producer recomputed -> steps waiting on it
        self.recomputing: set[str] = set()  # producers run again silently
        #: (step, input) pairs whose producer was run again: a second failure to load that
        #: input fails the step (an object its materializer cannot load back is stored again
        #: the same way: recomputing once more would never end).
        self.reloaded: set[tuple[str, str]] = set()
        self.began: dict[str, float] = {}  # when each of them started again
        #: Steps drawing from a global generator, waiting for the steps seeding it to run again
        #: (``reseed``): their jobs, and the seeding steps not done yet.
        self.seeding: dict[str, tuple[StepJob, set[str]]] = {}
        #: The steps that made each seeded generator's state in this process (``incr.seeds``).
        self.live: dict[str, list[str]] = {}
        self.shares_process = getattr(executor, "shares_process", False)
        #: Steps that failed to find a project file, waiting for the steps not run yet (one
        #: may write it): their run time, failure and file, and how many steps had executed.
        self.deferred: dict[str, tuple[float, str, str, int]] = {}
        self.tried_again: set[str] = set()
        self.later = False  # other pipelines run after this one (one may write such a file)
        #: What the pipelines are wired from that a step of the pass changed (see ``rewire``).
        self.rewired: list[str] = []
        #: The fingerprints of the steps that failed (by key), and of those that failed in
        #: a pass before this one: such a step does not run again as it failed.
        self.failed: dict[str, str] = {}
        self.failed_before: Mapping[str, str] = {}
        #: Whether each step started may change what they were opened from (``barrier``).
        self.opens: dict[str, bool] = {}
        self.stopping = False
        self.ups: dict[str, set[str]] = {}
        self.downs: dict[str, list[str]] = {}
        self.waiting: dict[str, int] = {}
        self.ready: list[tuple[bool, int, str]] = []

    def go(self) -> list[str]:
        """Run the loop to its end; the steps skipped (never decided), in order."""
        self.wire()
        while True:
            self.requeue()
            self.fill()
            if self.run.requeue:
                continue
            if not self.running:
                if self.try_deferred():
                    continue
                break
            job, outcome = self.executor.wait()
            self.done(job, outcome)
        decided = self.settled | set(self.run.result.failed)
        return [name for name in self.nodes if name not in decided]

    # ------------------------------------------------------------------ the ready queue

    def wire(self) -> None:
        """Count, for each step still to prepare, the steps of the run it waits on."""
        self.ups = {name: set() for name in self.nodes}
        self.downs = {name: [] for name in self.nodes}
        for up, down in self.run.traced.graph.edges():
            if up in self.nodes and down in self.nodes:
                self.ups[down].add(up)
                self.downs[up].append(down)
        self.waiting = {n: len(self.ups[n] - self.settled) for n in self.pending}
        self.ready = []
        for name in self.pending:
            if not self.waiting[name]:
                self.push(name)

    def push(self, name: str) -> None:
        heapq.heappush(self.ready, (name not in self.first, self.index[name], name))

    def finish(self, name: str) -> None:
        self.settled.add(name)
        self.let_go(name)
        for down in self.downs[name]:
            if down in self.pending:
                self.waiting[down] -= 1
                if not self.waiting[down]:
                    self.push(down)

    def requeue(self) -> None:
        """Put back the steps found to have read a file too early, with the steps below them
        that already ran (or run now: they go back once done)."""
        run = self.run
        if not run.requeue:
            return
        graph = run.traced.graph
        redo = set(run.requeue)
        run.requeue.clear()
        seen = self.settled | set(self.running)
        for name in list(redo):
            redo |= dag.descendants(graph, name) & seen
        active = redo & set(self.running)
        self.again |= active
        self.settled -= redo
        self.pending |= redo - active
        self.first |= redo - active
        self.wire()

    # ------------------------------------------------------------------ starting steps

    def fill(self) -> None:
        """Decide ready steps, in order, while the executor takes more."""
        while self.ready and not self.stopping and not self.run.requeue:
            if self.executor.capacity() <= 0 or self.barrier():
                return
            _, _, name = heapq.heappop(self.ready)
            if name not in self.pending or self.waiting.get(name):
                continue  # an entry from before the queue was rebuilt
            self.pending.discard(name)
            self.first.discard(name)
            node = self.nodes[name]
            if self.rewired:  # the graphs may be others now: it waits for the next pass
                self.run.result.held[name] = tuple(self.rewired)
                continue
            prepared = self.preparer.prepare(self.run, node)
            if prepared is None:
                self.finish(name)
                self.rewire(node)  # (its files put back)
            elif isinstance(prepared, str):
                self.fail(node, 0.0, prepared)
            elif isinstance(prepared, Held):  # it, and the steps below it, wait for a new pass
                self.run.result.held[name] = prepared.files
                files = ", ".join(prepared.files)
                text = f"{files} changed after the modules of {name} read it as they were imported"
                self.reporter.emit(Note(f"{text}: it runs once they are imported again", name))
            elif self.failed_before and self.failed_before.get(node.key) == self.fp(name):
                self.fail(node, 0.0, "it failed in a pass before (above): not run again")
            elif not self.reseed(node, prepared):
                self.start(prepared)

    def fp(self, name: str) -> str | None:
        """The fingerprint of step ``name`` as it was decided (None in a dry run)."""
        known = self.run.facts.get(name)
        return None if known is None else known[1]

    def reseed(self, node: StepNode, job: StepJob) -> bool:
        """Run again first, silently, the steps that make the state of a global generator
        ``node`` draws from (its chain: the seeding step, then the steps drawing after it,
        ``incr.seeds``), when this process does not hold that state (one was reused): its
        draws start where they do in a run from scratch. True when ``job`` waits for them.
        Not for steps run in other processes (``--jobs``), which a seed never reaches."""
        run = self.run
        if not run.draws or not self.shares_process:
            return False
        own = f"{node.pipeline}."
        found = seeds.to_run_again(run.draws, node.key, self.live)
        if others := [k for k in found if not k.startswith(own)]:  # not this loop's to run
            text = f"{node.name} draws from a global generator after {', '.join(others)}, which "
            text += "this run cannot run again before it: its draws are not a run from scratch's"
            self.reporter.emit(Warning_(f"{text}; seed it in the step, or pass it a generator"))
        names = {k[len(own) :] for k in found if k.startswith(own)}
        names = {n for n in names if n in self.nodes and n not in self.recomputing}
        if not names:
            return False
        self.seeding[node.name] = (job, names)
        for name in sorted(names, key=self.index.__getitem__):
            text = f"step {name} runs again before {node.name}, which draws from " + (
                "what it seeds" if run.seeded.get(own + name) else "a global generator after it"
            )
            self.reporter.emit(Note(text, node.name))
            self.recomputing.add(name)
            self.start_again(self.nodes[name])
        return True

    def barrier(self) -> bool:
        """Whether a running step may change what the pipelines were opened from (a
        manifest the wiring reads, a file a module reads at import): the others wait for it
        (``rewire`` then decides whether they wait for the next pass)."""
        if not self.running or not self.preparer.holds:
            return False
        ws = self.preparer.ws
        for name in self.running:
            if name not in self.opens:
                node = self.nodes[name]
                written = [*node.outs, *ws.writes.steps.get(node.key, ())]
                self.opens[name] = passes.writes_opened(ws, node.key, written)
        return any(self.opens[name] for name in self.running)

    def rewire(self, node: StepNode) -> None:
        """After ``node`` wrote its files: when one is what the pipelines were opened from
        (``passes.wiring_moved``: a file a module read as it was imported, a manifest read in
        a ``@pipeline`` body, a folder listed), the steps not decided yet wait for the next
        pass, which opens them again (``rewired``, shared by the pipelines of the pass). Not
        in the last pass: they run as they were opened."""
        if self.rewired or not self.preparer.holds or not self.executor.executes:
            return
        ws = self.preparer.ws
        written = [*node.outs, *ws.writes.steps.get(node.key, ())]
        if written and (moved := passes.wiring_moved(ws, node.key, written)):
            self.rewired.extend(moved)
            text = f"{node.name} changed {', '.join(moved)}, which the pipelines were opened from"
            self.reporter.emit(Note(f"{text}: the steps not run yet wait for the next pass"))

    def start(self, job: StepJob) -> None:
        if self.executor.executes:
            self.recorder.starting(job.key)
            self.clear_outs(self.nodes[job.step])
        self.executor.start(job)
        self.running[job.step] = job
        if self.shares_process and self.run.draws:
            seeds.ran_here(self.live, job.key, self.run.seeded, self.run.drew)
        if self.executor.executes:
            self.run.overlaps.begin(job.step)
        self.let_go(job.step)

    def clear_outs(self, node: StepNode) -> None:
        """Its outs as a run from scratch finds them (``ResultRecorder.clear_outs``), with a
        warning for each file moved aside."""
        if not node.outs and node.key not in self.preparer.ws.writes.steps:
            return
        root = self.preparer.ws.project.root
        for source, target in self.recorder.clear_outs(self.run, node):
            text = f"{shown(source, root)} is not from the last run of {node.key}"
            self.reporter.emit(Warning_(f"{text}: moved it to {shown(target, root)}"))

    def let_go(self, name: str) -> None:
        """``name`` has started (or will not: reused, failed, skipped): the executor may drop
        the values no step of the run still has to start with."""
        gone = self.run.consumers.started(name)
        outputs = self.run.outputs
        digests = [outputs[s][o].digest for s, o in gone if o in outputs.get(s, {})]
        if digests:
            self.executor.release(digests)

    # ------------------------------------------------------------------ a step is done

    def done(self, job: StepJob, outcome: StepOutcome) -> None:
        name = job.step
        del self.running[name]
        began = self.began.pop(name, None)
        node = self.nodes[name]  # a producer recomputed is an upstream step: one of them
        if outcome.damaged is not None and (name, outcome.damaged) in self.reloaded:
            began = self.run.started.get(name, 0.0) if began is None else began
            self.fail(
                node, self.clock.perf() - began, f"{outcome.failure} (again, once its producer ran)"
            )
        elif outcome.damaged is not None:
            self.reloaded.add((name, outcome.damaged))
            self.recompute(node, outcome)
        elif outcome.failure is not None:
            began = self.run.started.get(name, 0.0) if began is None else began
            # its own run time when it ran (not its wait for a worker, or a cluster's start)
            seconds = outcome.seconds or self.clock.perf() - began
            if not (outcome.missing and self.defer(node, seconds, outcome)):
                self.fail(node, seconds, outcome.failure, outcome.missing)
        elif not outcome.ran:  # a dry run: what it would make is not known
            self.finish(name)
        elif outcome.writes and (wrong := self.foreign(node, outcome)) is not None:
            self.fail(node, outcome.seconds, wrong)
        else:
            self.recorder.accept(self.run, node, outcome)
            self.rewire(node)
            for text in outcome.notes:
                self.reporter.emit(Note(text))
            for text in outcome.warnings:
                self.reporter.emit(Warning_(text))
            if name in self.recomputing:
                self.recomputed(name)
                return
            seconds = outcome.seconds  # its own run time: not its wait for a free worker
            self.reporter.emit(StepFinished(self.run.traced.graph.name, name, seconds, True))
            if name in self.again:  # it read a file too early: prepared again
                self.again.discard(name)
                self.pending.add(name)
                self.first.add(name)
                self.waiting[name] = len(self.ups[name] - self.settled)
                if not self.waiting[name]:
                    self.push(name)
            else:
                self.finish(name)

    def foreign(self, node: StepNode, outcome: StepOutcome) -> str | None:
        """The error for a step that wrote into another step's folder (``incr.foreignwrites``)."""
        ws = self.recorder.ws
        others = [t.graph for t in ws.pipelines]
        graph, writes, root = self.run.traced.graph, outcome.writes, ws.project.root
        found = foreignwrites.check(
            graph, node, writes, others, lambda p: os.path.lexists(root / p)
        )
        return None if found is None else found.format()

    # ------------------------------------------------------------------ a file not there yet

    def defer(self, node: StepNode, seconds: float, outcome: StepOutcome) -> bool:
        """A step failed to find a project file while steps it does not wait on have not
        run yet: on a first run, nothing says which step writes which file, and one of them
        may write it. The step waits for them, once, and then runs again (``try_deferred``).
        False when no such step is left (or it already waited once): then it fails."""
        name = node.name
        if name in self.tried_again or name in self.recomputing:
            return False
        below = dag.descendants(self.run.traced.graph, name)
        others = bool(self.pending - below) or bool(self.running)
        if not others and not self.later:
            return False
        assert outcome.failure is not None
        executed = len(self.run.result.executed)
        self.deferred[name] = (seconds, outcome.failure, outcome.missing, executed)
        self.tried_again.add(name)
        if others:  # (else the runner says it runs again after the pipelines after it)
            self.reporter.emit(
                Note(
                    f"step {name} found no {outcome.missing}: it runs again once the steps not "
                    "run yet have run (one of them may write it)",
                    name,
                )
            )
        return True

    def try_deferred(self) -> bool:
        """Once nothing else runs: start again the steps that waited for a missing file,
        when a step executed since. Otherwise (after a failure elsewhere, without
        ``keep_going``, or when none did) each fails as it did, quietly when pipelines after
        this one may write its file (it runs again after them). True when one started."""
        again = False
        for name, (seconds, text, missing, executed) in sorted(
            self.deferred.items(), key=lambda item: self.index[item[0]]
        ):
            nothing_ran = len(self.run.result.executed) == executed
            if nothing_ran and self.later and not self.stopping:
                self.let_go(name)
                self.run.result.failed.append(name)
                self.run.result.missing[name] = missing
                self.run.result.unreported[name] = (seconds, text)
                continue
            if nothing_ran or self.stopping:
                self.fail(self.nodes[name], seconds, text, missing)
                continue
            self.pending.add(name)
            self.first.add(name)
            self.waiting[name] = len(self.ups[name] - self.settled)
            self.push(name)
            again = True
        self.deferred.clear()
        return again

    def recompute(self, node: StepNode, outcome: StepOutcome) -> None:
        """An input object of ``node`` is missing or damaged: run its producer again."""
        assert outcome.damaged is not None
        producer = node.inputs[outcome.damaged].step
        self.reporter.emit(Warning_(f"{outcome.failure}; recomputing {producer}"))
        self.parked.setdefault(producer, []).append(node.name)
        if producer not in self.running:
            self.recomputing.add(producer)
            upstream = self.nodes[producer]
            self.start_again(upstream)

    def start_again(self, node: StepNode) -> None:
        """Start ``node`` once more with what its upstream steps have now (facts follow)."""
        job = self.preparer.job(self.run, node)
        if self.executor.executes:
            self.clear_outs(node)
        self.executor.start(job)
        self.running[node.name] = job
        if self.shares_process and self.run.draws:
            seeds.ran_here(self.live, job.key, self.run.seeded, self.run.drew)
        self.began[node.name] = self.clock.perf()
        self.run.overlaps.begin(node.name)

    def recomputed(self, producer: str) -> None:
        self.recomputing.discard(producer)
        for name, (job, waits) in list(self.seeding.items()):
            waits.discard(producer)
            if not waits:
                del self.seeding[name]
                self.start(job)
        for name in self.parked.pop(producer, []):
            self.start_again(self.nodes[name])

    def fail(self, node: StepNode, seconds: float, text: str, missing: str = "") -> None:
        """Report a failed step (and the steps waiting on it, when it was recomputed for
        them); the steps below it will never be ready. ``missing``: the project file it
        failed to find."""
        name = node.name
        self.recomputing.discard(name)
        self.let_go(name)
        self.run.result.failed.append(name)
        if (known := self.run.facts.get(name)) is not None:
            self.failed[node.key] = known[1]
        if missing:
            self.run.result.missing[name] = missing
        self.reporter.emit(StepFailed(self.run.traced.graph.name, name, seconds, text))
        if not self.keep_going:
            self.stopping = True
        seeded = [n for n, (_, waits) in self.seeding.items() if name in waits]
        for waiting in [*self.parked.pop(name, []), *seeded]:
            self.seeding.pop(waiting, None)
            started = self.began.get(waiting, self.run.started.get(waiting, 0.0))
            waiter = self.nodes[waiting]
            self.fail(waiter, self.clock.perf() - started, "an upstream step it needed failed")
