"""A repro imports only the pipeline modules whose pipelines have a step to run (with those
holding their code and those that define no pipeline); a pipeline left as saved is imported
later in the run when one of its steps has to execute after all."""

from __future__ import annotations

from .conftest import MakeProject, Project

#: Each pipeline's last step writes which pipeline modules were imported when it ran.
MODULE = """\
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def {p}_first() -> int:
        mark("{p}_first")
        return 1


    @step(outs=["seen_{p}.txt"])
    def {p}_last(x: int) -> int:
        mark("{p}_last")
        loaded = sorted(m for m in sys.modules if m.startswith("pipelines."))
        with open("seen_{p}.txt", "w") as fh:
            fh.write(" ".join(loaded))
        return x + 1


    @pipeline
    def {p}():
        {p}_last({p}_first())
    """

HELPER = """\
    VALUE = 3
    """


def make(make_project: MakeProject) -> Project:
    project = make_project(
        {
            "pipelines/alpha.py": MODULE.format(p="alpha"),
            "pipelines/beta.py": MODULE.format(p="beta"),
            "pipelines/gamma.py": MODULE.format(p="gamma"),
            "pipelines/helper.py": HELPER,
        }
    )
    project.repro()
    assert sorted(project.take_ran()) == sorted(
        f"{p}_{s}" for p in ("alpha", "beta", "gamma") for s in ("first", "last")
    )
    return project


def test_an_edit_in_one_pipeline_module_imports_that_one(make_project: MakeProject) -> None:
    project = make(make_project)
    before = project.lock()
    project.edit("pipelines/beta.py", "return x + 1", "return x + 2")
    project.repro()
    assert project.take_ran() == ["beta_last"]
    seen = project.read("seen_beta.txt").split()
    assert "pipelines.beta" in seen and "pipelines.helper" in seen  # no pipeline: imported
    assert "pipelines.alpha" not in seen and "pipelines.gamma" not in seen
    after = project.lock()
    assert after["beta.beta_last"].fingerprint != before["beta.beta_last"].fingerprint
    for key in ("alpha.alpha_first", "alpha.alpha_last", "gamma.gamma_last"):
        assert after[key] == before[key]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_a_clean_pipeline_that_reads_what_a_run_wrote_is_imported_then(
    make_project: MakeProject,
) -> None:
    """gamma reads a file alpha writes: clean when the run starts, it must execute after alpha
    rewrote the file, and its module is imported for that."""
    project = make_project(
        {
            "pipelines/alpha.py": MODULE.format(p="alpha").replace(
                "        return x + 1",
                '        with open("shared.txt", "w") as fh:\n'
                '            fh.write("one")\n'
                "        return x + 1",
            ),
            "pipelines/gamma.py": MODULE.format(p="gamma").replace(
                "        return x + 1",
                '        with open("shared.txt") as fh:\n'
                '            with open("copy.txt", "w") as out:\n'
                "                out.write(fh.read())\n"
                "        return x + 1",
            ),
        }
    )
    project.repro()
    project.take_ran()
    project.repro()  # gamma now runs after alpha: it read what alpha wrote
    project.take_ran()
    assert project.read("copy.txt") == "one"
    project.edit("pipelines/alpha.py", 'fh.write("one")', 'fh.write("two")')
    dirty = project.dirty()
    assert set(dirty) == {"alpha_last", "gamma_last"}
    assert dirty["gamma_last"] == [("after", "alpha.alpha_last")]  # it reads what alpha writes
    project.repro()
    assert project.take_ran() == ["alpha_last", "gamma_last"]
    assert project.read("copy.txt") == "two"
    assert "pipelines.gamma" in project.read("seen_gamma.txt").split()
    assert project.dirty() == {}


def test_an_instance_made_in_a_module_without_pipelines_is_found(
    make_project: MakeProject,
) -> None:
    """The pipeline is defined in one module and made (its steps bound, as in ZenML) in
    another, which defines none: both are imported."""
    defs = MODULE.format(p="alpha").replace(
        "def alpha():\n        alpha_last(alpha_first())",
        "def alpha(first, last):\n        last(first())",
    )
    assert "def alpha(first, last)" in defs
    project = make_project(
        {
            "pipelines/defs.py": defs,
            "pipelines/make.py": "from pipelines.defs import alpha, alpha_first, alpha_last\n\n"
            "run = alpha(first=alpha_first(), last=alpha_last())\n",
            "pipelines/other.py": MODULE.format(p="beta"),
        }
    )
    project.repro()
    project.take_ran()
    project.edit("pipelines/defs.py", "return x + 1", "return x + 3")
    project.repro()
    assert project.take_ran() == ["alpha_last"]
    assert "pipelines.other" not in project.read("seen_alpha.txt").split()
    assert project.dirty() == {}


def test_a_step_a_module_left_out_would_have_put_in_place_is_not_taken_for_it(
    make_project: MakeProject,
) -> None:
    """``gamma`` puts ``alpha``'s ``train`` in a table that ``beta``'s pipeline takes its
    ``train`` from (``beta`` has one of its own, put there only when the table has none).
    With gamma left out (its pipeline is clean), alpha's step would not be there: beta's
    pipeline must not run beta's ``train`` in its place."""
    project = make_project(
        {
            "data.txt": "5",
            "pipelines/table.py": "STEPS = {}\n",
            "pipelines/alpha.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark
                from pipelines.table import STEPS


                @step
                def seed() -> int:
                    return 1


                @step
                def train(x: int) -> int:
                    mark("alpha.train")
                    return x + 1


                @pipeline
                def alpha():
                    train(seed())
                """,
            "pipelines/gamma.py": """\
                from incr import pipeline, step
                from pipelines.alpha import train
                from pipelines.table import STEPS

                STEPS["train"] = train


                @step
                def other() -> int:
                    return 0


                @pipeline
                def gamma():
                    other()
                """,
            "pipelines/beta.py": """\
                from incr import pipeline, step
                from pipelines.mark import mark
                from pipelines.table import STEPS


                @step(deps=["data.txt"])
                def load() -> int:
                    mark("load")
                    with open("data.txt") as fh:
                        return int(fh.read())


                @step
                def train(x: int) -> int:
                    mark("beta.train")
                    return x * 100


                STEPS.setdefault("train", train)


                @pipeline
                def beta():
                    STEPS["train"](load())
                """,
        }
    )
    project.repro()
    assert sorted(project.take_ran()) == ["alpha.train", "alpha.train", "load"]
    (project.root / "data.txt").write_text("7")
    dirty = [f"{s['pipeline']}.{s['step']}" for s in project.status()["steps"] if s["reasons"]]
    assert dirty == ["beta.load", "beta.train"]  # train waits on load
    project.repro()
    assert project.take_ran() == ["load", "alpha.train"]
    assert not any(s["reasons"] for s in project.status()["steps"])
