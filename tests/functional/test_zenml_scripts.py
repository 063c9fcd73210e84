"""Pipelines written the way ZenML's docs and examples of 0.7 to 0.13 wrote them, with only the
imports changed to incr: run as scripts (``python pipelines/x.py``) and by ``incr repro``,
edited and reverted. Scripts build their instance and call ``.run()`` under
``if __name__ == "__main__":``; lock entries written by a script outside ``pipelines/`` stay
while a module defines their pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject

# The quickstart of that era: importer, trainer and evaluator bound positionally, a config
# passed positionally, run from the main guard.
QUICKSTART = '''\
    """Digits classification, the quickstart way."""

    import numpy as np
    from sklearn.base import ClassifierMixin
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    from incr import BaseStepConfig, Output, pipeline, step
    from pipelines.mark import mark


    @step
    def importer() -> Output(
        X_train=np.ndarray, X_test=np.ndarray, y_train=np.ndarray, y_test=np.ndarray
    ):
        """Load the digits as flat arrays."""
        mark("importer")
        digits = load_digits()
        data = digits.images.reshape((len(digits.images), -1))[:400]
        return tuple(train_test_split(data, digits.target[:400], test_size=0.25, random_state=0))


    class SVCTrainerStepConfig(BaseStepConfig):
        """Trainer params"""

        gamma: float = 0.001


    @step
    def svc_trainer(
        config: SVCTrainerStepConfig, X_train: np.ndarray, y_train: np.ndarray
    ) -> ClassifierMixin:
        mark("svc_trainer")
        model = SVC(gamma=config.gamma)
        model.fit(X_train, y_train)
        return model


    @step
    def evaluator(X_test: np.ndarray, y_test: np.ndarray, model: ClassifierMixin) -> float:
        mark("evaluator")
        return float(model.score(X_test, y_test))


    @pipeline
    def first_pipeline(importer, trainer, evaluator):
        X_train, X_test, y_train, y_test = importer()
        model = trainer(X_train=X_train, y_train=y_train)
        evaluator(X_test=X_test, y_test=y_test, model=model)


    if __name__ == "__main__":
        instance = first_pipeline(
            importer(), svc_trainer(SVCTrainerStepConfig(gamma=0.001)), evaluator()
        )
        instance.run()
        print("all done")
'''


@pytest.mark.timeout(240)
def test_a_pipeline_run_from_the_main_guard_is_found(make_project: MakeProject) -> None:
    project = make_project({"pipelines/quickstart.py": QUICKSTART})

    reasons = project.reasons("first_pipeline")
    assert reasons == {n: [("new step", "")] for n in ("importer", "svc_trainer", "evaluator")}

    script = project.python("pipelines/quickstart.py")
    assert script.returncode == 0, script.output
    assert "all done" in script.stdout
    assert project.take_ran() == ["importer", "svc_trainer", "evaluator"]
    assert set(project.lock()) == {
        "first_pipeline.importer",
        "first_pipeline.svc_trainer",
        "first_pipeline.evaluator",
    }

    # The CLI sees what the script ran, and keeps its lock entries.
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert len(project.lock()) == 3

    # An edit of the positional config: only the trainer and what it feeds rerun.
    project.edit("pipelines/quickstart.py", "gamma=0.001)), evaluator", "gamma=0.01)), evaluator")
    assert project.dirty() == {
        "svc_trainer": [("config changed", "gamma: 0.001 -> 0.01")],
        "evaluator": [("after", "svc_trainer")],
    }
    project.repro()
    assert project.take_ran() == ["svc_trainer", "evaluator"]

    # Reverted: the script restores the old results without running a step.
    project.edit("pipelines/quickstart.py", "gamma=0.01)), evaluator", "gamma=0.001)), evaluator")
    script = project.python("pipelines/quickstart.py")
    assert script.returncode == 0, script.output
    assert "Using cached version of svc_trainer." in script.stdout
    assert project.take_ran() == []
    assert project.dirty() == {}


MAIN_FUNCTION = """\
    import argparse

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def numbers() -> list:
        mark("numbers")
        return [1, 2, 3]


    @step
    def total(values: list) -> int:
        mark("total")
        return sum(values)


    @pipeline
    def sums(load, add):
        add(load())


    def main():
        parser = argparse.ArgumentParser()
        parser.add_argument("--no-cache", action="store_true")
        args = parser.parse_args()
        sums(load=numbers(), add=total()).run(enable_cache=not args.no_cache)
        raise SystemExit(0)


    if __name__ == "__main__":
        main()
"""


@pytest.mark.timeout(240)
def test_a_main_function_with_options_is_run_for_discovery(make_project: MakeProject) -> None:
    project = make_project({"pipelines/run.py": MAIN_FUNCTION})

    project.repro()
    assert project.take_ran() == ["numbers", "total"]
    script = project.python("pipelines/run.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == []
    script = project.python("pipelines/run.py", "--no-cache")
    assert project.take_ran() == ["numbers", "total"]
    assert project.dirty() == {}


@pytest.mark.timeout(240)
def test_a_pipeline_without_instance_is_named_with_the_way_out(
    make_project: MakeProject,
) -> None:
    project = make_project(
        {"pipelines/quickstart.py": QUICKSTART.replace('if __name__ == "__main__":', "if False:")}
    )

    for command in ("repro", "status"):
        line = project.incr(command).user_error()
        assert "pipelines/quickstart.py defines pipeline first_pipeline" in line
        assert "no instance" in line


DEFINITIONS = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def one() -> int:
        mark("one")
        return 1


    @step
    def plus(value: int) -> int:
        mark("plus")
        return value + 1


    @pipeline
    def scripted(first, second):
        second(first())


    @pipeline
    def found():
        plus(one())
"""

RUN_SCRIPT = """\
    from pipelines.defs import one, plus, scripted

    if __name__ == "__main__":
        scripted(one(), plus()).run()
"""


@pytest.mark.timeout(240)
def test_lock_entries_of_a_script_run_stay_while_a_module_defines_it(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/defs.py": DEFINITIONS, "run.py": RUN_SCRIPT})
    script = project.python("run.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == ["one", "plus"]

    project.repro()
    assert project.take_ran() == []  # `found` has the same steps: restored from the cache
    assert set(project.lock()) == {"scripted.one", "scripted.plus", "found.one", "found.plus"}
    status = project.incr("status")
    assert "note: pipeline.lock keeps 2 entries of pipeline scripted: pipelines/defs.py" in (
        status.stdout
    )

    # The script finds its results again.
    script = project.python("run.py")
    assert project.take_ran() == []

    # Once no module defines it, a full repro drops its entries.
    project.edit("pipelines/defs.py", "def scripted(first, second)", "def renamed(first, second)")
    project.write({"run.py": RUN_SCRIPT.replace("scripted", "renamed")})
    project.repro()
    assert set(project.lock()) == {"found.one", "found.plus"}
    assert "note:" not in project.incr("status").stdout


@pytest.mark.timeout(240)
def test_a_config_default_changed_is_a_config_change_alone(make_project: MakeProject) -> None:
    # The seed's own shape: svc_trainer() uses SVCTrainerStepConfig's default gamma.
    project = make_project(
        {"pipelines/quickstart.py": QUICKSTART.replace("SVCTrainerStepConfig(gamma=0.001)", "")}
    )
    script = project.python("pipelines/quickstart.py")
    assert script.returncode == 0, script.output
    project.take_ran()

    project.edit("pipelines/quickstart.py", "gamma: float = 0.001", "gamma: float = 0.002")
    status = project.incr("status")
    assert "svc_trainer  dirty: config changed (gamma: 0.001 -> 0.002)\n" in status.stdout
    project.repro()
    assert project.take_ran() == ["svc_trainer", "evaluator"]

    # A method added to the config class is code, named as such.
    project.edit(
        "pipelines/quickstart.py",
        '    """Trainer params"""\n',
        '    """Trainer params"""\n\n    def doubled(self):\n        return 2 * self.gamma\n',
    )
    assert project.dirty()["svc_trainer"] == [
        ("code changed", "SVCTrainerStepConfig in pipelines/quickstart.py")
    ]

    # Reverted: restored from the cache.
    project.edit("pipelines/quickstart.py", "gamma: float = 0.002", "gamma: float = 0.001")
    project.edit(
        "pipelines/quickstart.py", "\n    def doubled(self):\n        return 2 * self.gamma\n", ""
    )
    project.repro()
    assert project.take_ran() == []


SWEEP = QUICKSTART.replace(
    """        instance = first_pipeline(
            importer(), svc_trainer(SVCTrainerStepConfig(gamma=0.001)), evaluator()
        )
        instance.run()""",
    """        for gamma in GAMMAS:
            first_pipeline(
                importer(), svc_trainer(SVCTrainerStepConfig(gamma=gamma)), evaluator()
            ).run()""",
).replace(
    "    @step\n    def importer",
    "    GAMMAS = [0.001, 0.01]\n\n\n    @step\n    def importer",
)


@pytest.mark.timeout(240)
def test_instances_made_in_a_loop_keep_their_own_entries(make_project: MakeProject) -> None:
    project = make_project({"pipelines/sweep.py": SWEEP})
    second = "first_pipeline@svc_trainer.gamma=0.01"

    script = project.python("pipelines/sweep.py")
    assert script.returncode == 0, script.output
    assert f"Creating run for pipeline: {second}" in script.stdout
    # importer ran once: the second instance's importer is the same step, from the cache
    ran = project.take_ran()
    assert ran == ["importer", "svc_trainer", "evaluator", "svc_trainer", "evaluator"]
    assert {k.rpartition(".")[0] for k in project.lock()} == {"first_pipeline", second}
    status = project.status()
    assert {s["pipeline"] for s in status["steps"]} == {"first_pipeline", second}
    assert status["dirty"] == 0
    project.repro()
    assert project.take_ran() == []

    # A third value: one more instance, the others untouched.
    project.edit("pipelines/sweep.py", "GAMMAS = [0.001, 0.01]", "GAMMAS = [0.001, 0.01, 0.1]")
    dirty = {(s["pipeline"], s["step"]) for s in project.status()["steps"] if s["dirty"]}
    third = "first_pipeline@svc_trainer.gamma=0.1"
    assert dirty == {(third, "importer"), (third, "svc_trainer"), (third, "evaluator")}
    project.repro()
    assert project.take_ran() == ["svc_trainer", "evaluator"]
    assert len(project.lock()) == 9

    # Reverted: the third instance's entries go, the others stay clean.
    project.edit("pipelines/sweep.py", "GAMMAS = [0.001, 0.01, 0.1]", "GAMMAS = [0.001, 0.01]")
    assert (
        f"note: pipeline.lock keeps 3 entries of {third}: an instance of pipeline "
        "first_pipeline (pipelines/sweep.py) that the pipelines folder does not make as it is "
        "now (a script run with other options or configs?); the next full `incr repro` drops "
        "them"
    ) in project.incr("status").stdout
    said = " ".join(project.repro().output.split())
    assert (
        f"note: dropped 3 lock entries of {third}: an instance of first_pipeline "
        "(pipelines/sweep.py) that no module under pipelines/ makes"
    ) in said  # not "no module defines it"
    assert project.take_ran() == []
    assert len(project.lock()) == 6


@pytest.mark.timeout(240)
def test_two_pipelines_of_one_name_are_named_with_their_places(
    make_project: MakeProject,
) -> None:
    other = QUICKSTART.replace(
        "    @pipeline\n    def first_pipeline",
        '    @pipeline(name="first_pipeline")\n    def other_pipeline',
    ).replace("instance = first_pipeline(", "instance = other_pipeline(")
    project = make_project({"pipelines/quickstart.py": QUICKSTART, "pipelines/other.py": other})
    line = project.incr("status").user_error()
    assert "two pipelines are named 'first_pipeline' (pipelines/other.py:" in line
    assert "and pipelines/quickstart.py:" in line


def test_a_second_run_after_an_edit_in_the_same_process_is_refused(
    make_project: MakeProject,
) -> None:
    """A notebook's loop: ``.run()``, edit a helper module on disk, ``.run()`` again. The
    process still holds the code it imported: running it would record the old result under
    the new code's fingerprint, so the run is refused, and the step stays dirty."""
    project = make_project(
        {
            "pipelines/helpers.py": "def scale(x):\n    return x * 2\n",
            "pipelines/p.py": """\
                from incr import pipeline, step
                from pipelines.helpers import scale


                @step
                def make() -> int:
                    return scale(10)


                @pipeline
                def p():
                    make()
                """,
            "loop.py": """\
                from incr.errors import IncrError
                from pipelines.p import p

                p().run()
                with open("pipelines/helpers.py", "w") as fh:
                    fh.write("def scale(x):\\n    return x * 3\\n")
                try:
                    p().run()
                except IncrError as exc:
                    print("refused:", exc.message)
                """,
        }
    )
    result = project.python("loop.py")
    assert result.returncode == 0, result.output
    assert "refused: pipelines/helpers.py changed after this process imported it" in result.stdout
    assert project.dirty() == {"make": [("code changed", "scale in pipelines/helpers.py")]}
    project.repro()
    assert project.dirty() == {}


def test_a_second_run_after_an_edit_of_a_local_package_is_refused(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same loop with a shared library outside the project (on ``PYTHONPATH``, not
    installed): its code counts as the step's, so its edit is refused the same way."""
    library = tmp_path / "lib" / "common"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text("", encoding="utf-8")
    (library / "ops.py").write_text("def scale(x):\n    return x * 2\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(library.parent))
    project = make_project(
        {
            "pipelines/p.py": """\
                from common.ops import scale
                from incr import pipeline, step


                @step
                def make() -> int:
                    return scale(10)


                @pipeline
                def p():
                    make()
                """,
            "loop.py": f"""\
                from incr.errors import IncrError
                from pipelines.p import p

                p().run()
                with open({str(library / "ops.py")!r}, "w") as fh:
                    fh.write("def scale(x):\\n    return x * 3\\n")
                try:
                    p().run()
                except IncrError as exc:
                    print("refused:", exc.message)
                """,
        }
    )
    result = project.python("loop.py")
    assert result.returncode == 0, result.output
    assert f"refused: {library / 'ops.py'} changed after this process imported it" in result.stdout
    assert list(project.dirty()) == ["make"]


def test_a_script_registers_the_materializers_of_modules_it_does_not_import(
    make_project: MakeProject,
) -> None:
    """``incr repro`` imports every pipeline module, and with them a materializer defined in
    its own module; ``python pipelines/p.py`` does too before its ``.run()``, so the two store
    alike and neither reruns the other's steps."""
    project = make_project(
        {
            "pipelines/kinds.py": """\
                class Temp:
                    def __init__(self, c):
                        self.c = c
                """,
            "pipelines/m2.py": """\
                import os

                from incr import BaseMaterializer, fileio
                from pipelines.kinds import Temp


                class M2(BaseMaterializer):
                    ASSOCIATED_TYPES = (Temp,)

                    def handle_input(self, data_type):
                        with fileio.open(os.path.join(self.artifact.uri, "c.txt"), "r") as f:
                            return Temp(f.read())

                    def handle_return(self, data):
                        with fileio.open(os.path.join(self.artifact.uri, "c.txt"), "w") as f:
                            f.write("m2:" + str(data.c))
                """,
            "pipelines/p.py": """\
                from incr import pipeline, step
                from pipelines.kinds import Temp
                from pipelines.mark import mark


                @step
                def make() -> Temp:
                    mark("make")
                    return Temp("x")


                @step(outs=["result.txt"])
                def write(t: Temp) -> None:
                    mark("write")
                    open("result.txt", "w").write(t.c)


                @pipeline
                def p():
                    write(make())


                inst = p()

                if __name__ == "__main__":
                    inst.run()
                """,
        }
    )
    project.repro("--jobs", "2")
    assert sorted(project.take_ran()) == ["make", "write"]
    assert project.read("result.txt") == "m2:x"
    stored = project.lock_bytes()

    script = project.python("pipelines/p.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == []
    assert project.lock_bytes() == stored
    assert project.dirty() == {}


def test_a_script_runs_though_another_pipeline_module_fails_to_import(
    make_project: MakeProject,
) -> None:
    """The other pipeline modules a script's ``.run()`` imports first are another pipeline's:
    one that fails to import is left out (``incr repro`` names it)."""
    project = make_project(
        {
            "pipelines/broken.py": "import not_a_module_anywhere\n",
            "pipelines/p.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark


                @step
                def make() -> int:
                    mark("make")
                    return 1


                @pipeline
                def p():
                    make()


                if __name__ == "__main__":
                    p().run()
                """,
        }
    )
    script = project.python("pipelines/p.py")
    assert script.returncode == 0, script.output
    assert project.take_ran() == ["make"]


READS_BACK = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step(outs=["result.txt"])
    def compute() -> None:
        mark("compute")
        with open("result.txt", "w", encoding="utf-8") as fh:
            fh.write("42")


    @pipeline
    def readback():
        compute()


    if __name__ == "__main__":
        print(open("banner.txt", encoding="utf-8").read())
        readback().run()
        print("result:", open("result.txt", encoding="utf-8").read())
    """


def test_what_a_main_block_reads_after_its_run_is_no_fact_of_the_steps(
    make_project: MakeProject,
) -> None:
    """The main block reads the run's result back: by then the module has been imported, so
    that read is not one made while importing it (which would make the step depend on its
    own output, dirty after its first run). A read before the run still counts."""
    project = make_project({"pipelines/readback.py": READS_BACK, "banner.txt": "hello"})
    script = project.python("pipelines/readback.py")
    assert script.returncode == 0, script.stderr
    assert "result: 42" in script.stdout
    assert project.take_ran() == ["compute"]
    reads = project.lock()["readback.compute"].reads
    assert list(reads) == ["import:pipelines/readback.py:banner.txt"]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert project.python("pipelines/readback.py").returncode == 0
    assert project.take_ran() == []
    assert list(project.lock()["readback.compute"].reads) == list(reads)
    (project.root / "banner.txt").write_text("hi", encoding="utf-8")
    assert list(project.dirty()) == ["compute"]


STARTS_INCR = """\
import subprocess
import sys

from incr import pipeline, step
from pipelines.mark import mark


@step
def one() -> int:
    mark("one")
    return 1


@pipeline
def flow():
    one()


if __name__ == "__main__":
    with open("started.txt", "a") as fh:
        fh.write("block\\n")
    subprocess.run([sys.executable, "-m", "incr.cli", "repro"], check=True)
"""


def test_a_main_block_that_starts_incr_on_its_project_stops_with_its_name(
    make_project: MakeProject,
) -> None:
    """Discovery runs a module's main block; a block that starts ``incr repro`` would start
    one more at each discovery, without end. The ``incr`` it starts stops instead, naming the
    block, and so does the one that ran it."""
    project = make_project({"pipelines/flow.py": STARTS_INCR})
    result = project.incr("repro")
    assert result.returncode != 0
    assert project.read("started.txt") == "block\n"  # the nested incr did not run it again
    assert project.take_ran() == []
    said = " ".join(result.output.split())
    assert (
        'pipelines/flow.py: its `if __name__ == "__main__":` block started incr on this '
        "project, and incr runs that block to find the pipelines it runs"
    ) in said
    assert "start incr from a script outside the pipelines folder" in said
    script = project.python("pipelines/flow.py")  # by hand: the incr it starts runs it once
    assert script.returncode != 0
    assert project.read("started.txt") == "block\n" * 3
