"""A run lets go of an output's value once every step of the run that takes it has started: the
peak is about the largest values alive at once, not the sum of every output."""

from __future__ import annotations

import json

from .conftest import MakeProject

MIB = 32

#: Six independent steps each return a 32 MiB array; ``add`` takes the first and the last,
#: ``check`` the last. Each array appends its name to freed.txt when it is freed (a weakref
#: finalizer: no table in the project's code), and ``check`` writes down which were freed and
#: the process's memory (its baseline and its peak, VmHWM).
BIG = f"""\
    import gc
    import json
    import weakref

    import numpy as np

    from incr import pipeline, step
    from pipelines.mark import mark

    SIZE = {MIB} << 20


    def kib(field):
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


    def freed(name):
        with open("freed.txt", "a", encoding="utf-8") as fh:
            fh.write(name + "\\n")


    def make(name, seed):
        mark(name)
        array = np.full(SIZE // 8, seed, dtype=np.float64)
        weakref.finalize(array, freed, name)
        return array


    @step
    def start() -> int:
        return kib("VmRSS")


    @step
    def p1() -> np.ndarray:
        return make("p1", 1)


    @step
    def p2() -> np.ndarray:
        return make("p2", 2)


    @step
    def p3() -> np.ndarray:
        return make("p3", 3)


    @step
    def p4() -> np.ndarray:
        return make("p4", 4)


    @step
    def p5() -> np.ndarray:
        return make("p5", 5)


    @step
    def p6() -> np.ndarray:
        return make("p6", 6)


    @step
    def add(x: np.ndarray, y: np.ndarray) -> float:
        mark("add")
        return float(x[0] + y[-1])


    @step
    def check(base: int, total: float, last: np.ndarray) -> float:
        mark("check")
        gc.collect()
        try:
            with open("freed.txt", encoding="utf-8") as fh:
                gone = sorted(fh.read().split())
        except FileNotFoundError:
            gone = []
        report = {{"freed": gone, "base": base, "peak": kib("VmHWM"), "total": total}}
        report["last"] = float(last.sum()) / last.size
        with open("memory.json", "w", encoding="utf-8") as fh:
            json.dump(report, fh)
        return total


    @pipeline
    def big():
        base = start()
        first = p1()
        p2()
        p3()
        p4()
        p5()
        last = p6()
        check(base, add(first, last), last)
    """


def test_outputs_are_let_go_once_their_consumers_have_started(make_project: MakeProject) -> None:
    project = make_project({"pipelines/big.py": BIG})

    project.repro()

    report = json.loads(project.read("memory.json"))
    assert report["freed"] == ["p1", "p2", "p3", "p4", "p5"]  # p6: ``check`` receives it
    assert report["total"] == 7.0
    assert report["last"] == 6.0
    # At most two arrays at once (p1 waits for add while p2..p6 run); holding all six
    # (the old behaviour) costs 6 x 32 MiB above the baseline.
    grown_mib = (report["peak"] - report["base"]) / 1024
    assert grown_mib < 4 * MIB, report


def test_a_value_let_go_is_loaded_back_when_its_consumer_runs_again(
    make_project: MakeProject,
) -> None:
    """A reader found to have read a file too early runs again after the writer; its input
    was let go when it first started, so it comes back from the cache."""
    module = """\
        import time

        import numpy as np

        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def numbers() -> np.ndarray:
            return np.arange(300_000, dtype=np.float64)


        @step
        def use_notes(values: np.ndarray) -> float:
            with open("data/notes.txt", encoding="utf-8") as fh:
                factor = float(fh.read())
            mark(f"use_notes:{factor:g}")
            return float(values.sum()) * factor


        @step
        def write_notes() -> int:
            mark("write_notes")
            with open("data/notes.txt", "w", encoding="utf-8") as fh:
                fh.write("2")
            return 2


        @pipeline
        def notes():
            use_notes(numbers())
            write_notes()
        """
    project = make_project({"pipelines/notes.py": module, "data/notes.txt": "1"})

    project.repro()

    assert project.take_ran() == ["use_notes:1", "write_notes", "use_notes:2"]
    assert project.dirty() == {}
    fresh = make_project({"pipelines/notes.py": module, "data/notes.txt": "2"}, where="fresh")
    fresh.repro()  # from scratch, with the file as the writer leaves it
    assert fresh.lock_bytes() == project.lock_bytes()
