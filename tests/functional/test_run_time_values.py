"""Module-level values set at run time count by their value, not by the source that defines
them (``incr.globalvalues``): a script's main block that sets a config module's value, or its
own, from its options; a pipeline module that sets another module's value as it is imported."""

from __future__ import annotations

import pytest

from .conftest import MakeProject, Project

CONFIG = """\
    EPOCHS = 1
    SETTINGS = {"lr": 0.1}
    """

SCRIPT = """\
    import argparse

    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark

    SEED = 0


    @step
    def train() -> float:
        mark("train")
        return config.EPOCHS * 10 + config.SETTINGS["lr"] + SEED


    @step
    def report(score: float) -> None:
        mark("report")
        print("SCORE", score)


    @pipeline
    def training():
        report(train())


    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=1)
        parser.add_argument("--lr", type=float, default=0.1)
        parser.add_argument("--seed", type=int, default=0)
        args = parser.parse_args()
        config.EPOCHS = args.epochs  # another module's value
        config.SETTINGS["lr"] = args.lr  # changed in place
        SEED = args.seed  # the script's own
        training().run()
    """


def _run(project: Project, *options: str) -> str:
    result = project.python("pipelines/train.py", *options)
    assert result.returncode == 0, result.output
    return next(line for line in result.output.splitlines() if line.startswith("SCORE"))


def test_values_a_script_sets_from_its_options_before_the_run_count(
    make_project: MakeProject,
) -> None:
    """Each option reruns the step that reads its value; the same options again reuse it.
    Before, the step's code digest held ``EPOCHS = 1`` alone, and ``--epochs 2`` reused the
    result of one epoch."""
    project = make_project({"pipelines/config.py": CONFIG, "pipelines/train.py": SCRIPT})
    assert _run(project) == "SCORE 10.1"
    assert project.take_ran() == ["train", "report"]
    for options, score in [
        (["--epochs", "2"], "SCORE 20.1"),
        (["--epochs", "2", "--lr", "0.5"], "SCORE 20.5"),
        (["--epochs", "2", "--lr", "0.5", "--seed", "3"], "SCORE 23.5"),
    ]:
        assert _run(project, *options) == score
        assert project.take_ran() == ["train", "report"]
        result = project.python("pipelines/train.py", *options)
        assert result.returncode == 0, result.output
        assert project.take_ran() == []
    code = project.lock()["training.train"].facts.code
    assert {"value:pipelines/config.py:EPOCHS", "value:pipelines/train.py:SEED"} <= code.keys()


PATCHED = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark

    config.LR = 0.5  # as this module is imported


    @step
    def other() -> int:
        return 1


    @pipeline
    def experiment():
        other()
    """

BASE = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark


    @step
    def fit() -> float:
        mark("fit")
        return config.LR * 2


    @step
    def show(value: float) -> None:
        with open("shown.txt", "w", encoding="utf-8") as fh:
            fh.write(str(value))


    @pipeline
    def base():
        show(fit())
    """


LATE_GLOBAL = """\
    import argparse

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def train() -> int:
        mark("train")
        return EPOCHS * 10


    @pipeline
    def training():
        train()


    EPOCHS = 1  # after the last step: no step's making notes it


    def main():
        global EPOCHS
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=1)
        EPOCHS = parser.parse_args().epochs
        training().run()


    if __name__ == "__main__":
        main()
    """


def test_a_global_a_script_defines_after_its_steps_and_its_main_sets_counts(
    make_project: MakeProject,
) -> None:
    """A script's own global bound after its last step, that its ``main()`` sets with
    ``global``: each ``--epochs`` reruns the step that reads it. Before, its value was never
    noted (names are noted as each step is made) and ``--epochs 3`` reused the result of 2."""
    project = make_project({"pipelines/train.py": LATE_GLOBAL})
    for options, ran in [
        (["--epochs", "2"], ["train"]),
        (["--epochs", "3"], ["train"]),
        (["--epochs", "3"], []),
        ([], ["train"]),  # the value its import left: the definition's text counts alone
    ]:
        result = project.python("pipelines/train.py", *options)
        assert result.returncode == 0, result.output
        assert project.take_ran() == ran, options
        code = project.lock()["training.train"].facts.code
        assert ("value:pipelines/train.py:EPOCHS" in code) is bool(options), options


def test_a_literal_a_script_binds_after_its_steps_and_changes_in_place_counts(
    make_project: MakeProject,
) -> None:
    """A script's dict bound after its last step to a literal, that its ``main()`` changes in
    place (no ``global`` needed): its import's value is read from the literal, and each
    ``--lr`` reruns the step that reads it. Before, ``--lr 0.5`` reused the result of 0.2."""
    script = LATE_GLOBAL.replace(
        "EPOCHS = 1  # after the last step: no step's making notes it",
        'SETTINGS = {"lr": 0.1}\n    EPOCHS = 1',
    ).replace("return EPOCHS * 10", 'return int(SETTINGS["lr"] * 100)')
    script = script.replace(
        '    parser.add_argument("--epochs", type=int, default=1)\n'
        "        EPOCHS = parser.parse_args().epochs",
        '    parser.add_argument("--lr", type=float, default=0.1)\n'
        '        SETTINGS["lr"] = parser.parse_args().lr',
    )
    assert 'SETTINGS["lr"] = parser' in script
    project = make_project({"pipelines/train.py": script})
    for options, ran in [
        (["--lr", "0.2"], ["train"]),
        (["--lr", "0.5"], ["train"]),
        (["--lr", "0.5"], []),
        ([], ["train"]),
        ([], []),
    ]:
        result = project.python("pipelines/train.py", *options)
        assert result.returncode == 0, result.output
        assert project.take_ran() == ran, options


def test_a_value_another_pipeline_module_sets_as_it_is_imported_counts(
    make_project: MakeProject,
) -> None:
    """``config.LR = 0.5`` at the top level of one pipeline module changes what a step of
    another reads: a new value there reruns that step, and says why."""
    project = make_project(
        {
            "pipelines/config.py": "LR = 0.1\n",
            "pipelines/base.py": BASE,
            "pipelines/experiment.py": PATCHED,
        }
    )
    project.repro()
    assert project.read("shown.txt") == "1.0"
    assert project.dirty() == {}  # the values as the saved graphs hold them
    project.edit("pipelines/experiment.py", "config.LR = 0.5", "config.LR = 0.7")
    assert project.dirty()["fit"] == [("code changed", "value of LR in pipelines/config.py")]
    project.take_ran()
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.read("shown.txt") == "1.4"


def test_a_step_edited_runs_with_the_values_other_modules_set(make_project: MakeProject):
    """An edit of one pipeline's step imports only the modules that pipeline needs, unless a
    value was set at run time: the module that set it might be one left out, and the step
    would run with the value its module defines instead."""
    project = make_project(
        {
            "pipelines/config.py": "LR = 0.1\n",
            "pipelines/base.py": BASE,
            "pipelines/experiment.py": PATCHED,
        }
    )
    project.repro()
    project.edit("pipelines/base.py", "return config.LR * 2", "return config.LR * 3")
    project.repro()
    assert project.read("shown.txt") == "1.5"


DATACLASS_CONFIG = """\
    from dataclasses import dataclass


    @dataclass
    class TrainConfig:
        lr: float = 0.1
        epochs: int = 1


    CFG = TrainConfig()
    """

DATACLASS_SCRIPT = """\
    import sys

    from incr import pipeline, step
    from pipelines import settings
    from pipelines.mark import mark


    @step
    def fit() -> float:
        mark("fit")
        return settings.CFG.lr * settings.CFG.epochs


    @pipeline
    def training():
        fit()


    if __name__ == "__main__":
        if sys.argv[1:] == ["replace"]:
            settings.CFG = settings.TrainConfig(lr=0.5)
        elif sys.argv[1:] == ["in-place"]:
            settings.CFG.epochs = 3
        training().run()
    """


def test_a_dataclass_config_set_at_run_time_counts_by_its_fields(
    make_project: MakeProject,
) -> None:
    """The usual config object: replaced, or changed in place, before the run."""
    project = make_project(
        {"pipelines/settings.py": DATACLASS_CONFIG, "pipelines/train.py": DATACLASS_SCRIPT}
    )
    for options, ran in [([], ["fit"]), (["replace"], ["fit"]), (["in-place"], ["fit"]), ([], [])]:
        result = project.python("pipelines/train.py", *options)
        assert result.returncode == 0, result.output
        assert project.take_ran() == ran, options


TRAINING = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark


    @step
    def train() -> int:
        mark("train")
        return config.EPOCHS * 10


    @pipeline
    def training():
        train()
    """

RUN_AT_ROOT = """\
    import sys

    from pipelines import config  # imported before incr is
    from pipelines.training import training

    if __name__ == "__main__":
        config.EPOCHS = int(sys.argv[1])
        training().run()
    """

OWN_GLOBAL = """\
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark

    EPOCHS = 1


    @step
    def train() -> int:
        mark("train")
        return EPOCHS * 10


    @pipeline
    def training():
        train()


    def main(epochs: int) -> None:
        global EPOCHS
        EPOCHS = epochs  # set in a function, not in the main block itself
        training().run()


    if __name__ == "__main__":
        main(int(sys.argv[1]))
    """


def test_values_of_modules_imported_before_incr_count(make_project: MakeProject) -> None:
    """A script that imports the config module before any module imports incr (``run.py`` at
    the root, its imports sorted), and a script whose ``main()`` sets its own global: their
    values were noted as incr was imported, and as the steps were made."""
    project = make_project(
        {
            "pipelines/config.py": "EPOCHS = 1\n",
            "pipelines/training.py": TRAINING,
            "run.py": RUN_AT_ROOT,
            "pipelines/own.py": OWN_GLOBAL.replace("training", "own_training"),
        }
    )
    for script in ("run.py", "pipelines/own.py"):
        for epochs, ran in [("1", ["train"]), ("2", ["train"]), ("2", []), ("3", ["train"])]:
            result = project.python(script, epochs)
            assert result.returncode == 0, result.output
            assert project.take_ran() == ran, (script, epochs)


TOP_LEVEL_OPTIONS = """\
    import argparse

    from incr import pipeline, step
    from pipelines.mark import mark

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    ARGS, _ = parser.parse_known_args()  # at the top level: no main block


    @step
    def train() -> int:
        mark("train")
        return ARGS.epochs * 10


    @pipeline
    def training():
        train()


    if __name__ == "__main__":
        training().run()
    """


def test_values_a_module_takes_from_the_command_line_as_it_is_imported_count(
    make_project: MakeProject,
) -> None:
    """``parser.parse_known_args()`` at a module's top level: what it binds there counts by
    its value. Discovery imports the module with its path alone in ``sys.argv`` (the script
    run without options), so ``incr status`` agrees with such a run and names the option's
    value after another."""
    project = make_project({"pipelines/train.py": TOP_LEVEL_OPTIONS})
    for options, ran in [([], ["train"]), (["--epochs", "2"], ["train"]), ([], [])]:
        result = project.python("pipelines/train.py", *options)
        assert result.returncode == 0, result.output
        assert project.take_ran() == ran, options
    assert project.dirty() == {}
    assert project.python("pipelines/train.py", "--epochs", "3").returncode == 0
    assert project.dirty() == {"train": [("code changed", "value of ARGS in pipelines/train.py")]}


def test_a_module_that_exits_as_it_is_imported_is_named(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/train.py": TOP_LEVEL_OPTIONS.replace(
                "type=int, default=1", "type=int, required=True"
            )
        }
    )
    result = project.incr("status")
    assert result.returncode != 0
    assert "pipelines/train.py:8: exited with 2 as it was imported" in result.output
    assert "Traceback" not in result.output


SETS_IN_A_STEP = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark


    @step
    def load() -> list:
        mark("load")
        config.N_CLASSES = 3
        config.SETTINGS["lr"] = 0.5
        return [0, 1, 2]


    @step
    def train(labels: list) -> int:
        mark("train")
        assert config.N_CLASSES > 0 and config.SETTINGS["lr"] > 0
        return len(labels)


    @pipeline
    def flow():
        train(load())
    """


def test_a_step_that_sets_a_module_value_as_it_runs_executes_each_time(
    make_project: MakeProject,
) -> None:
    """A value one step sets for a later one (``config.N_CLASSES = 3`` in its body) is there
    only when that step executes, not when its result is reused: the step executes on every
    run, says why, and its note says how to have it reused."""
    project = make_project(
        {
            "pipelines/config.py": 'N_CLASSES = 2\nSETTINGS = {"lr": 0.1}\n',
            "pipelines/flow.py": SETS_IN_A_STEP,
        }
    )
    first = project.repro()
    assert project.take_ran() == ["load", "train"]
    note = (
        "note: step flow.load sets N_CLASSES, SETTINGS in pipelines/config.py as it runs: a "
        "step after it sees the value only when this step executes, so it executes on every "
        "run"
    )
    assert note in " ".join(first.output.split())
    assert "step flow.train sets" not in first.output
    assert project.lock()["flow.load"].reads == {
        "sets:pipelines/config.py:N_CLASSES": "set as it ran",
        "sets:pipelines/config.py:SETTINGS": "set as it ran",
    }
    assert project.dirty() == {
        "load": [
            (
                "sets values as it runs",
                "N_CLASSES in pipelines/config.py, SETTINGS in pipelines/config.py",
            )
        ],
        "train": [("after", "load")],
    }
    # Nothing changed: the last line says so rather than leave the project looking dirty.
    status = project.incr("status").stdout.splitlines()[-1]
    assert (
        status == "2 of 2 steps dirty: 1 executes in every run (sets values as it runs), 1 "
        "waits after it"
    )
    again = project.repro()
    assert project.take_ran() == ["load"]  # train: the same labels, early cutoff
    assert note in " ".join(again.output.split())


SETS_FOR_A_LATER_STEP = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark


    @step(deps=["labels.txt"])
    def load() -> list:
        mark("load")
        labels = open("labels.txt").read().split()
        config.N_CLASSES = len(set(labels))
        return labels


    @step
    def train() -> int:
        mark("train")
        return config.N_CLASSES * 10


    @step
    def report(score: int) -> None:
        mark("report")
        print("SCORE", score)


    @pipeline
    def flow():
        load()
        report(train())
    """


def test_a_step_that_reads_a_value_a_step_sets_as_it_runs_is_decided_on_that_value(
    make_project: MakeProject,
) -> None:
    """A step whose code uses a module value that a step before it sets as it runs runs after
    it and is decided on the value it leaves: reused while the value is the one it ran with,
    executed when it is another (its lock entry records the value's digest)."""
    project = make_project(
        {
            "pipelines/config.py": "N_CLASSES = 0\n",
            "pipelines/flow.py": SETS_FOR_A_LATER_STEP,
            "labels.txt": "a b\n",
        }
    )
    assert "SCORE 20" in project.repro().output
    assert project.take_ran() == ["load", "train", "report"]
    assert project.dirty() == {
        "load": [("sets values as it runs", "N_CLASSES in pipelines/config.py")],
        "train": [("after", "load")],  # learned: it runs after load, with --jobs too
        "report": [("after", "train")],
    }
    check = project.incr("status", "--check")  # the lockfile is up to date
    assert check.returncode == 0, check.output
    assert check.stdout.splitlines()[-1] == (  # no result is missing: load runs each time
        "check passed: pipeline.lock matches the code, configs, data and environment; "
        "1 step executes in every `incr repro` (sets values as it runs), which `incr repro` "
        "computes"
    )
    assert "value:pipelines/config.py:N_CLASSES" in project.lock()["flow.train"].facts.code
    project.repro()
    assert project.take_ran() == ["load"]  # train: the same value, reused
    (project.root / "labels.txt").write_text("a b c\n")
    again = project.repro()
    assert "SCORE 30" in again.output  # never the score of two classes
    assert "because: code changed (value of N_CLASSES in pipelines/config.py)" in again.output
    assert project.take_ran() == ["load", "train", "report"]
    (project.root / "labels.txt").write_text("c b a\n")  # other bytes, the same classes
    project.repro("train")  # a target: load runs first, and train is reused
    assert project.take_ran() == ["load"]
    (project.root / "labels.txt").write_text("a\n")
    project.repro("train")
    assert project.take_ran() == ["load", "train"]


def last_score(output: str) -> str:
    return [line for line in output.splitlines() if line.startswith("SCORE")][-1]


def test_steps_run_side_by_side_see_the_value_a_step_before_them_sets(
    make_project: MakeProject,
) -> None:
    """With ``--jobs``, a step that uses a value another sets as it runs gets that value in
    its own process, and runs after it: on the first run, where nothing orders them yet, it
    runs again when it began too early."""
    project = make_project(
        {
            "pipelines/config.py": "N_CLASSES = 0\n",
            "pipelines/flow.py": SETS_FOR_A_LATER_STEP,
            "labels.txt": "a b\n",
        }
    )
    assert last_score(project.repro("--jobs", "2").output) == "SCORE 20"
    project.take_ran()
    (project.root / "labels.txt").write_text("a b c d\n")
    assert last_score(project.repro("--jobs", "2").output) == "SCORE 40"
    assert sorted(project.take_ran()) == ["load", "report", "train"]


SETS_IN_ONE_PIPELINE = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark


    @step(deps=["labels.txt"])
    def load() -> list:
        mark("load")
        labels = open("labels.txt").read().split()
        config.N_CLASSES = len(set(labels))
        return labels


    @pipeline
    def alpha():
        load()
    """

USES_IN_ANOTHER = """\
    from incr import pipeline, step
    from pipelines import config
    from pipelines.mark import mark


    @step
    def train() -> int:
        mark("train")
        return config.N_CLASSES * 10


    @step
    def report(score: int) -> None:
        mark("report")
        print("SCORE", score)


    @pipeline
    def beta():
        report(train())
    """


def test_a_value_a_step_of_one_pipeline_sets_counts_in_the_pipelines_run_after_it(
    make_project: MakeProject,
) -> None:
    """``incr repro`` runs the pipelines one after the other in one process: a step of a later
    pipeline that uses a value a step of an earlier one sets as it runs is decided on that
    value, serial and with ``--jobs``. Before, it was decided on the definition's text alone
    and kept the score of two classes after the labels had three."""
    project = make_project(
        {
            "pipelines/config.py": "N_CLASSES = 0\n",
            "pipelines/alpha.py": SETS_IN_ONE_PIPELINE,
            "pipelines/beta.py": USES_IN_ANOTHER,
            "labels.txt": "a b\n",
        }
    )
    assert last_score(project.repro().output) == "SCORE 20"
    assert project.take_ran() == ["load", "train", "report"]
    assert "value:pipelines/config.py:N_CLASSES" in project.lock()["beta.train"].facts.code
    assert project.dirty() == {
        "load": [("sets values as it runs", "N_CLASSES in pipelines/config.py")],
        "train": [("after", "alpha.load")],  # the setter, by its key
        "report": [("after", "train")],
    }
    project.repro()
    assert project.take_ran() == ["load"]  # the same value: train reused
    (project.root / "labels.txt").write_text("a b c\n")
    again = project.repro()
    assert last_score(again.output) == "SCORE 30"
    assert "because: code changed (value of N_CLASSES in pipelines/config.py)" in again.output
    assert project.take_ran() == ["load", "train", "report"]
    (project.root / "labels.txt").write_text("a b c d\n")
    assert last_score(project.repro("--jobs", "2").output) == "SCORE 40"  # in a worker
    assert sorted(project.take_ran()) == ["load", "report", "train"]
    # beta alone runs without alpha: train sees the value of the import, as Python runs it
    assert last_score(project.repro("beta").output) == "SCORE 0"
    assert project.take_ran() == ["train", "report"]


LEFT_OUT_NOTE = (
    "note: step beta.train uses N_CLASSES in pipelines/config.py, which step alpha.load sets "
    "as it runs, but this command leaves alpha.load out: beta.train is decided on the value "
    "the module's import leaves; incr repro (all pipelines) or incr repro alpha beta has it "
    "decided on the value alpha.load sets"
)


@pytest.mark.parametrize("target", ["beta", "beta.train", "train"])
def test_a_target_leaving_out_the_setter_of_a_value_says_so(
    make_project: MakeProject, target: str
) -> None:
    """``incr repro beta`` decides ``train`` on the value ``config``'s import leaves, not on
    the one ``alpha.load`` sets (README: "and says so"): it said nothing. It says so in a
    note, and so does ``incr status beta``; a target list bringing the setter along, the
    whole project, or a pipeline run before the setter's (``alpha`` alone) get none."""
    project = make_project(
        {
            "pipelines/config.py": "N_CLASSES = 0\n",
            "pipelines/alpha.py": SETS_IN_ONE_PIPELINE,
            "pipelines/beta.py": USES_IN_ANOTHER,
            "labels.txt": "a b\n",
        }
    )
    assert LEFT_OUT_NOTE not in project.repro().output
    assert project.take_ran() == ["load", "train", "report"]

    status = project.incr("status", target)
    assert LEFT_OUT_NOTE in " ".join(status.output.split()), status.output
    assert ("code changed", "value of N_CLASSES in pipelines/config.py") in project.dirty(target)[
        "train"
    ]
    [train] = [s for s in project.status(target)["steps"] if s["step"] == "train"]
    assert LEFT_OUT_NOTE.removeprefix("note: ") in train["notes"]
    result = project.repro(target)
    assert LEFT_OUT_NOTE in result.output
    if target == "beta":  # (report too)
        assert last_score(result.output) == "SCORE 0"
    assert project.take_ran()[0] == "train"

    for other in ((), ("alpha", "beta"), ("alpha",)):
        assert LEFT_OUT_NOTE not in project.repro(*other).output
        assert LEFT_OUT_NOTE not in project.incr("status", *other).output


MEMO_HELPER = """\
    _VOCAB = {}


    def vocab(path):
        if path not in _VOCAB:
            _VOCAB[path] = sorted(set(open(path).read().split()))
        return _VOCAB[path]
    """

USES_THE_MEMO = """\
    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.util import vocab


    @step(deps=["words.txt"])
    def count() -> int:
        mark("count")
        return len(vocab("words.txt"))


    @step(deps=["words.txt"])
    def first() -> str:
        mark("first")
        return vocab("words.txt")[0]


    @step
    def report(n: int, word: str) -> None:
        mark("report")
        print("REPORT", n, word)


    @pipeline
    def flow():
        report(count(), first())
    """


def test_a_helper_that_fills_a_memo_dict_passes_no_value_on(make_project: MakeProject) -> None:
    """A private module-level dict that one helper fills and reads by key is a memo: the steps
    calling the helper set no value as they run, and are reused while nothing they depend on
    changes. Before, the first of them executed on every run, said to set ``_VOCAB``, and
    the second was decided on the dict's content; a public dict still counts as set."""
    project = make_project(
        {
            "pipelines/util.py": MEMO_HELPER,
            "pipelines/flow.py": USES_THE_MEMO,
            "words.txt": "b a c\n",
        }
    )
    first = project.repro()
    assert "REPORT 3 a" in first.output and "sets" not in first.output
    assert project.take_ran() == ["count", "first", "report"]
    assert not any(k.startswith("sets:") for k in project.lock()["flow.count"].reads)
    assert project.dirty() == {}
    assert "note" not in project.incr("status").output  # its one filler is followed already
    project.repro()
    assert project.take_ran() == []
    (project.root / "words.txt").write_text("z b a c\n")
    assert "REPORT 4 a" in project.repro().output
    assert project.take_ran() == ["count", "first", "report"]
    util = project.root / "pipelines" / "util.py"
    util.write_text(util.read_text().replace("_VOCAB", "VOCAB"))  # public: maybe passed on
    assert "sets VOCAB in pipelines/util.py as it runs" in " ".join(project.repro().output.split())
    assert project.dirty()["count"] == [("sets values as it runs", "VOCAB in pipelines/util.py")]


def test_a_step_before_the_one_setting_a_value_keeps_the_value_of_the_import(
    make_project: MakeProject,
) -> None:
    """A step that comes before the setter in the pipeline's body sees the value the module's
    import left, as Python runs the body, in every run and with ``--jobs``: it is reused."""
    before = SETS_FOR_A_LATER_STEP.replace(
        "load()\n        report(train())", "report(train())\n        load()"
    )
    project = make_project(
        {"pipelines/config.py": "N_CLASSES = 2\n", "pipelines/flow.py": before, "labels.txt": "a\n"}
    )
    assert "SCORE 20" in project.repro().output
    assert project.take_ran() == ["train", "report", "load"]
    for args in ((), ("--jobs", "2")):
        project.repro(*args)
        assert project.take_ran() == []  # no step after the setter uses the value
    assert project.dirty() == {}


def test_a_value_a_step_starts_setting_reruns_the_steps_that_read_it(
    make_project: MakeProject,
) -> None:
    """The run in which a step is first seen setting a value executes the steps after it that
    use the value, though their lock entries are clean (their results came from the value
    the module's import left)."""
    project = make_project(
        {
            "pipelines/config.py": "N_CLASSES = 0\n",
            "pipelines/flow.py": SETS_FOR_A_LATER_STEP.replace(
                "config.N_CLASSES = len(set(labels))", "pass"
            ),
            "labels.txt": "a b\n",
        }
    )
    assert "SCORE 0" in project.repro().output
    project.take_ran()
    project.edit("pipelines/flow.py", "    pass\n", "    config.N_CLASSES = len(set(labels))\n")
    changed = "+N_CLASSES in pipelines/config.py, load in pipelines/flow.py"
    assert project.dirty() == {"load": [("code changed", changed)]}  # train: not known yet
    assert "SCORE 20" in project.repro().output
    assert project.take_ran() == ["load", "train", "report"]


def test_a_script_running_a_value_setting_step_twice_keeps_it_executing(
    make_project: MakeProject,
) -> None:
    """A script's second ``.run()`` sets the value to the one the first left (no change to
    see): the step is still recorded as setting it, and the next command still runs it."""
    project = make_project(
        {
            "pipelines/config.py": "N_CLASSES = 0\n",
            "pipelines/flow.py": SETS_FOR_A_LATER_STEP,
            "labels.txt": "a b\n",
            "script.py": "from pipelines.flow import flow\n\nflow().run()\nflow().run()\n",
        }
    )
    result = project.python("script.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["load", "train", "report", "load"]
    assert "sets:pipelines/config.py:N_CLASSES" in project.lock()["flow.load"].reads
    project.repro()
    assert project.take_ran() == ["load"]


SCALER = """\
    from incr import pipeline, step
    from mylib.shapes import MixScaler
    from pipelines.mark import mark


    @step
    def make_scaler() -> object:
        mark("make_scaler")
        return MixScaler()


    @step
    def use_scaler(scaler: object) -> list:
        mark("use_scaler")
        return [scaler.apply(x) for x in [1, 2, 3]]


    @step
    def make_table() -> dict:
        mark("make_table")
        return {"mix": core.mix}


    @step
    def use_table(table: dict) -> int:
        mark("use_table")
        return table["mix"](10)


    @pipeline
    def scaled():
        use_scaler(make_scaler())
        use_table(make_table())


    from mylib import core  # noqa: E402
    """


def test_a_value_another_module_sets_counts_for_the_code_of_an_object_passed_on(
    make_project: MakeProject,
) -> None:
    """``core.SCALE = 9`` at the top level of another pipeline module, read by the methods of
    an object (and by a function in a dict) one step returns and the next calls: the value
    counts for the input as for the code it refers to, so the next step reruns when it
    changes, comes or goes, though the object pickles to the same bytes (put back from the
    run cache when the value goes: its result of the first run)."""
    project = make_project(
        {
            "mylib/__init__.py": "",
            "mylib/core.py": "SCALE = 3\n\n\ndef mix(x):\n    return x * SCALE\n",
            "mylib/shapes.py": (
                "from mylib.core import mix\n\n\nclass MixScaler:\n"
                "    def apply(self, x):\n        return mix(x)\n"
            ),
            "pipelines/other.py": (
                "from incr import pipeline, step\nfrom mylib import core\n\n\n"
                "@step\ndef other() -> int:\n    return 1\n\n\n@pipeline\ndef elsewhere():\n"
                "    other()\n"
            ),
            "pipelines/scaled.py": SCALER,
        }
    )
    project.repro()
    project.take_ran()
    for old, new in [
        ("from mylib import core\n", "from mylib import core\n\ncore.SCALE = 9\n"),
        ("core.SCALE = 9\n", "core.SCALE = 5\n"),
        ("core.SCALE = 5\n", ""),
    ]:
        project.edit("pipelines/other.py", old, new)
        assert {"use_scaler", "use_table"} <= set(project.dirty()), new
        project.repro()  # run, or put back from the run cache (the value removed)
        text = {rel: project.read(rel) for rel in ("pipelines/other.py", "pipelines/scaled.py")}
        fresh = make_project(
            {
                **text,
                **{
                    r: project.read(r)
                    for r in ("mylib/__init__.py", "mylib/core.py", "mylib/shapes.py")
                },
            },
            where=f"fresh{len(new)}",
        )
        fresh.repro()
        kept = {k: e.outputs for k, e in project.lock().items()}
        assert kept == {k: e.outputs for k, e in fresh.lock().items()}, new


SET_BY_A_STEP = """\
    from incr import pipeline, step
    from mylib import core
    from pipelines.mark import mark


    @step
    def configure() -> int:
        mark("configure")
        core.SCALE = 3
        return 0


    @step
    def make(ready: int):
        mark("make")
        return core.Model()


    @step
    def use(model) -> int:
        mark("use")
        return model.predict(2)


    @pipeline
    def scaled():
        use(make(configure()))
    """


def test_a_value_a_step_sets_counts_for_the_code_of_an_object_passed_on(
    make_project: MakeProject,
) -> None:
    """``core.SCALE = 3`` in a step, read by a method of the object the next step returns:
    the step after that reruns when the value changes, though the object pickles to the same
    bytes, and is reused while it does not. Before, it kept the result of the old value."""
    project = make_project(
        {
            "mylib/__init__.py": "",
            "mylib/core.py": (
                "SCALE = 1\n\n\nclass Model:\n    def predict(self, x):\n        return x * SCALE\n"
            ),
            "pipelines/scaled.py": SET_BY_A_STEP,
        }
    )
    project.repro()
    assert project.take_ran() == ["configure", "make", "use"]
    # the code of the object it takes reads the value configure sets
    assert project.dirty()["use"] == [("after", "configure, make")]
    project.repro()
    assert project.take_ran() == ["configure"]  # the same value: make and use reused
    everything = ["configure", "make", "use"]
    for i, (old, new, ran) in enumerate(
        [("= 3", "= 4", everything), ("= 4", "= 5", everything), ("= 5", "= 4", ["configure"])]
    ):  # back to 4: make and use put back from the run cache
        project.edit("pipelines/scaled.py", f"core.SCALE {old}", f"core.SCALE {new}")
        project.repro()
        assert project.take_ran() == ran, new
        fresh = make_project(
            {r: project.read(r) for r in ("mylib/__init__.py", "mylib/core.py")}
            | {"pipelines/scaled.py": project.read("pipelines/scaled.py")},
            where=f"fresh{i}",
        )
        fresh.repro()
        outputs = {k: e.outputs for k, e in project.lock().items()}
        assert outputs == {k: e.outputs for k, e in fresh.lock().items()}, new
        project.repro()
        assert project.take_ran() == ["configure"], new


UNPICKLES = """\
    import pickle

    from incr import pipeline, step
    from mylib import core
    from pipelines.mark import mark


    @step(outs=["model.pkl"])
    def save() -> None:
        mark("save")
        with open("model.pkl", "wb") as fh:
            pickle.dump(core.Model(), fh)


    @step(deps=["model.pkl"])
    def use() -> int:
        mark("use")
        with open("model.pkl", "rb") as fh:
            model = pickle.load(fh)
        return model.predict(2)


    @pipeline
    def saved():
        save()
        use()
    """


def test_a_value_another_module_sets_counts_for_the_code_a_step_unpickles(
    make_project: MakeProject,
) -> None:
    """A step that unpickles an object from a file depends on the code of its class; a value
    that code reads, set by another pipeline module as it is imported, counts with it: the
    step reruns when it changes, though the file keeps its bytes. Before, it kept its old
    result."""
    project = make_project(
        {
            "mylib/__init__.py": "",
            "mylib/core.py": (
                "SCALE = 1\n\n\nclass Model:\n    def predict(self, x):\n        return x * SCALE\n"
            ),
            "pipelines/other.py": (
                "from incr import pipeline, step\nfrom mylib import core\n\ncore.SCALE = 9\n\n\n"
                "@step\ndef other() -> int:\n    return 1\n\n\n@pipeline\ndef elsewhere():\n"
                "    other()\n"
            ),
            "pipelines/saved.py": UNPICKLES,
        }
    )
    project.repro()
    assert project.take_ran() == ["save", "use"]
    assert "unpickled:mylib.core:Model" in project.lock()["saved.use"].reads
    project.edit("pipelines/other.py", "core.SCALE = 9", "core.SCALE = 10")
    assert ("code changed", "Model in mylib.core, unpickled") in project.dirty()["use"]
    project.repro()
    assert project.take_ran() == ["save", "use"]
    fresh = make_project(
        {r: project.read(r) for r in ("mylib/__init__.py", "mylib/core.py")}
        | {r: project.read(r) for r in ("pipelines/other.py", "pipelines/saved.py")},
        where="fresh",
    )
    fresh.repro()
    assert project.lock()["saved.use"].outputs == fresh.lock()["saved.use"].outputs
    assert project.dirty() == {}


SET_THEN_UNPICKLED = """\
    import pickle

    from incr import pipeline, step
    from mylib import core
    from pipelines.mark import mark


    @step
    def configure() -> int:
        mark("configure")
        core.SCALE = 3
        return 0


    @step(outs=["model.pkl"])
    def save(ready: int) -> None:
        mark("save")
        with open("model.pkl", "wb") as fh:
            pickle.dump(core.Model(), fh)


    @step(deps=["model.pkl"])
    def use() -> int:
        mark("use")
        with open("model.pkl", "rb") as fh:
            model = pickle.load(fh)
        return model.predict(2)


    @pipeline
    def saved():
        save(configure())
        use()
    """


@pytest.mark.parametrize("jobs", [(), ("--jobs", "2")])
def test_a_value_a_step_sets_counts_for_the_code_a_later_step_unpickles(
    make_project: MakeProject, jobs: tuple[str, ...]
) -> None:
    """``core.SCALE = 3`` in a step, read by the class of an object a later step unpickles
    from a file: that step reruns when the value changes, though the file keeps its bytes,
    and is reused while the value stays; with ``--jobs``, its worker gets the value. Before,
    it kept the result of the old value."""
    project = make_project(
        {
            "mylib/__init__.py": "",
            "mylib/core.py": (
                "SCALE = 1\n\n\nclass Model:\n    def predict(self, x):\n        return x * SCALE\n"
            ),
            "pipelines/saved.py": SET_THEN_UNPICKLED,
        }
    )
    project.repro()
    assert project.take_ran() == ["configure", "save", "use"]
    # The value it read is known once configure has run: status waits on it.
    assert project.dirty()["use"] == [("after", "configure, save")]
    assert project.lock()["saved.use"].reads["value:mylib/core.py:SCALE"]
    project.repro()
    assert project.take_ran() == ["configure"]  # the same value: save and use reused
    everything = ["configure", "save", "use"]
    for i, (old, new, ran) in enumerate(
        [("= 3", "= 4", everything), ("= 4", "= 5", everything), ("= 5", "= 4", ["configure"])]
    ):  # back to 4: save and use put back from the run cache
        project.edit("pipelines/saved.py", f"core.SCALE {old}", f"core.SCALE {new}")
        project.repro()
        assert project.take_ran() == ran, new
        fresh = make_project(
            {r: project.read(r) for r in ("mylib/__init__.py", "mylib/core.py")}
            | {"pipelines/saved.py": project.read("pipelines/saved.py")},
            where=f"fresh{i}",
        )
        fresh.repro()
        outputs = {k: e.outputs for k, e in project.lock().items()}
        assert outputs == {k: e.outputs for k, e in fresh.lock().items()}, new
        project.repro()
        assert project.take_ran() == ["configure"], new


def test_a_step_that_starts_or_stops_setting_a_value_unpickled_code_reads(
    make_project: MakeProject,
) -> None:
    """A step that starts setting ``core.SCALE``, read by the class of an object a later step
    unpickles (the file keeps its bytes): that step reruns. Then it stops setting it: the
    first results are put back, and nothing runs after."""
    project = make_project(
        {
            "mylib/__init__.py": "",
            "mylib/core.py": (
                "SCALE = 1\n\n\nclass Model:\n    def predict(self, x):\n        return x * SCALE\n"
            ),
            "pipelines/saved.py": SET_THEN_UNPICKLED.replace("core.SCALE = 3", "pass"),
        }
    )
    project.repro()
    assert project.take_ran() == ["configure", "save", "use"]
    assert project.dirty() == {}
    for i, (old, new, ran) in enumerate(
        [
            ("pass", "core.SCALE = 3", ["configure", "save", "use"]),
            ("core.SCALE = 3", "pass", []),
        ]
    ):  # stopped: the three put back from the run cache
        project.edit("pipelines/saved.py", old, new)
        project.repro()
        assert project.take_ran() == ran, new
        fresh = make_project(
            {r: project.read(r) for r in ("mylib/__init__.py", "mylib/core.py")}
            | {"pipelines/saved.py": project.read("pipelines/saved.py")},
            where=f"fresh{i}",
        )
        fresh.repro()
        outputs = {k: e.outputs for k, e in project.lock().items()}
        assert outputs == {k: e.outputs for k, e in fresh.lock().items()}, new
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_a_value_unpickled_code_read_counts_when_its_setter_goes(
    make_project: MakeProject,
) -> None:
    """The step setting ``core.SCALE`` taken out of the pipeline: the step loading the model,
    whose code read the value it set, is dirty and says why; it reruns with the module's
    value."""
    project = make_project(
        {
            "mylib/__init__.py": "",
            "mylib/core.py": (
                "SCALE = 1\n\n\nclass Model:\n    def predict(self, x):\n        return x * SCALE\n"
            ),
            "pipelines/saved.py": SET_THEN_UNPICKLED,
        }
    )
    project.repro()
    assert project.take_ran() == ["configure", "save", "use"]
    gone = SET_THEN_UNPICKLED.replace("core.SCALE = 3", "pass").replace("configure", "begin")
    project.write({"pipelines/saved.py": gone})  # a step that sets nothing in its place
    why = ("code changed", "value of SCALE in mylib/core.py, read by code unpickled")
    assert why in project.dirty()["use"]
    project.repro()
    assert project.take_ran() == ["begin", "save", "use"]
    fresh = make_project(
        {r: project.read(r) for r in ("mylib/__init__.py", "mylib/core.py")}
        | {"pipelines/saved.py": project.read("pipelines/saved.py")},
        where="fresh",
    )
    fresh.repro()
    assert project.lock()["saved.use"].outputs == fresh.lock()["saved.use"].outputs
    assert project.dirty() == {}


def test_a_step_is_not_rerun_for_a_value_it_does_not_use(make_project: MakeProject) -> None:
    """A step setting two module values, a step after it using one: a change of the other
    leaves that step reused (its facts hold the values its code uses, no more)."""
    project = make_project(
        {
            "mylib/__init__.py": "",
            "mylib/core.py": "SCALE = 1\nOTHER = 1\n",
            "pipelines/two.py": """\
                from incr import pipeline, step
                from mylib import core
                from pipelines.mark import mark


                @step
                def configure() -> int:
                    mark("configure")
                    core.SCALE = 3
                    core.OTHER = 5
                    return 0


                @step
                def scaled(ready: int) -> int:
                    mark("scaled")
                    return core.SCALE * 2


                @pipeline
                def two():
                    scaled(configure())
                """,
        }
    )
    project.repro()
    assert project.take_ran() == ["configure", "scaled"]
    assert "value:mylib/core.py:OTHER" not in project.lock()["two.scaled"].facts.code
    project.edit("pipelines/two.py", "core.OTHER = 5", "core.OTHER = 6")
    project.repro()
    assert project.take_ran() == ["configure"]
    project.edit("pipelines/two.py", "core.SCALE = 3", "core.SCALE = 4")
    project.repro()
    assert project.take_ran() == ["configure", "scaled"]


def _script_agrees_with_incr(project: Project) -> None:
    """``incr repro``, then the script without options: it reuses the step and leaves the
    lockfile as it was, which ``incr status --check`` accepts."""
    project.repro()
    assert project.take_ran() == ["source"]
    lock = project.lock_bytes()
    result = project.python("pipelines/s.py")
    assert result.returncode == 0, result.output
    assert project.take_ran() == []
    assert project.lock_bytes() == lock
    assert project.incr("status", "--check").returncode == 0


PARAMS_SCRIPT = """\
    import argparse

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class SourceConfig(StepConfig):
        k: int = 1


    @step
    def source(config: SourceConfig) -> int:
        mark("source")
        return config.k


    @pipeline
    def sp(k: int = 1):
        source(config=SourceConfig(k=k))


    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--k", type=int, default=1)
        args = parser.parse_args()
        sp(k=args.k).run()
    """


def test_a_script_reading_its_options_in_its_main_block_agrees_with_incr(
    make_project: MakeProject,
) -> None:
    """The options are read in the main block alone: what it binds counts, not every name of
    the module. Before, ``incr repro`` counted the config class by its value where the script
    did not: each made the other's lock entry dirty (``value of SourceConfig``), and
    ``incr status --check`` failed after every run of the script."""
    project = make_project({"pipelines/s.py": PARAMS_SCRIPT})
    _script_agrees_with_incr(project)
    assert not any(k.startswith("value:") for k in project.lock()["sp.source"].facts.code)
    result = project.python("pipelines/s.py", "--k", "3")  # another instance, sp@k=3
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["source"]
    assert project.dirty() == {}


TOP_OPTIONS_SCRIPT = """\
    import argparse

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=1)
    ARGS, _ = parser.parse_known_args()


    class SourceConfig(StepConfig):
        k: int = 1


    @step
    def source(config: SourceConfig) -> int:
        mark("source")
        return config.k * 2


    @pipeline
    def sp(k: int = 1):
        source(config=SourceConfig(k=k))


    if __name__ == "__main__":
        sp(k=ARGS.k).run()
    """


def test_a_script_reading_its_options_at_its_top_level_agrees_with_incr(
    make_project: MakeProject,
) -> None:
    """Each name such a module binds counts by its value, its classes by what they hold: in
    the script too, where they are the classes of ``__main__`` named as the module. Before,
    the script left ``value of SourceConfig`` out, and each command reran the other's step."""
    project = make_project({"pipelines/s.py": TOP_OPTIONS_SCRIPT})
    _script_agrees_with_incr(project)
