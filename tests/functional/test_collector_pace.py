"""While ``incr repro`` runs steps, full garbage collections come rarer between the steps' own
code (``incr.collector``), never inside it: garbage a step leaves in cycles is let go at the
pace Python keeps, so memory does not pile up over the run."""

from __future__ import annotations

from .conftest import MakeProject

MIB = 20
STEPS = 12

#: Each step keeps MIB MiB in a cycle (a dict holding itself) while it makes many objects, so
#: that the cycle is old when the step drops it; ``peak`` writes the process's peak memory
#: (VmHWM) over what it was when the first step started.
CYCLES = f"""\
    from incr import pipeline, step


    def kib(field):
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


    def churn(i):
        held = {{"data": bytearray({MIB} << 20)}}
        held["self"] = held
        held["data"][:: 4096] = b"x" * len(held["data"][:: 4096])  # in memory, not only mapped
        busy = [[j] for j in range(30_000)]
        return i + len(busy)


    @step
    def start() -> int:
        with open("base.txt", "w", encoding="ascii") as fh:
            fh.write(str(kib("VmHWM")))
        return churn(0)


    @step
    def then(n: int) -> int:
        return churn(n)


    @step
    def peak(n: int) -> None:
        with open("peak.txt", "w", encoding="ascii") as fh:
            fh.write(str(kib("VmHWM")))


    @pipeline
    def cycles():
        n = start()
        for _ in range({STEPS - 1}):
            n = then(n)
        peak(n)
    """


def test_garbage_in_cycles_is_let_go_as_steps_run(make_project: MakeProject) -> None:
    project = make_project({"pipelines/cycles.py": CYCLES})
    project.repro()
    grown = int(project.read("peak.txt")) - int(project.read("base.txt"))
    # All twelve kept would be 240 MiB; Python's own pace keeps a few at a time.
    assert grown < (STEPS // 2) * MIB * 1024, f"peak grew by {grown // 1024} MiB"
