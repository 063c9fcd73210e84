"""The three caching levels and their precedence, both pipeline styles, step names, outputs."""

from __future__ import annotations

from .conftest import MakeProject

OVERRIDE_LINE = (
    "Runtime configuration overwriting the pipeline cache settings to enable_cache=False for "
    "this pipeline run. The default caching strategy is retained for future pipeline runs."
)


def chain(step_b: str = "@step", pipe: str = "@pipeline", step_a: str = "@step") -> str:
    return f"""\
        from incr import pipeline, step
        from pipelines.mark import mark


        {step_a}
        def first() -> int:
            mark("first")
            return 1


        {step_b}
        def second(x: int) -> int:
            mark("second")
            return x + 1


        {pipe}
        def chain():
            second(first())
        """


def test_default_caching_reuses_every_result(make_project: MakeProject) -> None:
    project = make_project({"pipelines/chain.py": chain()})
    project.repro()
    assert project.take_ran() == ["first", "second"]

    result = project.repro("-v")  # -v: a line for each step reused

    assert project.take_ran() == []
    assert "Using cached version of first." in result.stdout
    assert "Using cached version of second." in result.stdout
    assert project.dirty() == {}


def test_step_enable_cache_false_always_reruns_that_step(make_project: MakeProject) -> None:
    project = make_project({"pipelines/chain.py": chain(step_b="@step(enable_cache=False)")})
    project.repro()
    assert project.take_ran() == ["first", "second"]

    assert project.dirty() == {"second": [("cache disabled", "")]}
    project.repro()
    assert project.take_ran() == ["second"]
    project.repro()
    assert project.take_ran() == ["second"]


def test_pipeline_enable_cache_false_beats_step_enable_cache_true(
    make_project: MakeProject,
) -> None:
    source = chain(
        step_a="@step(enable_cache=True)",
        step_b="@step(enable_cache=True)",
        pipe="@pipeline(enable_cache=False)",
    )
    project = make_project({"pipelines/chain.py": source})
    project.repro()
    assert project.take_ran() == ["first", "second"]

    assert project.dirty() == {
        "first": [("cache disabled", "")],
        "second": [("cache disabled", ""), ("after", "first")],
    }
    result = project.repro()
    assert project.take_ran() == ["first", "second"]
    assert "Cache disabled for pipeline chain" in result.stdout


SCRIPT = """\
    import sys

    from pipelines.chain import instance

    if len(sys.argv) > 1:
        instance.run(enable_cache=sys.argv[1] == "on")
    else:
        instance.run()
    """


def seed_style(pipe: str = "@pipeline", step_b: str = "@step") -> str:
    return f"""\
        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def first() -> int:
            mark("first")
            return 1


        {step_b}
        def second(x: int) -> int:
            mark("second")
            return x + 1


        {pipe}
        def chain(step_1, step_2):
            step_2(step_1())


        instance = chain(step_1=first(), step_2=second())
        """


def test_run_enable_cache_false_reruns_everything_for_that_run_only(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/chain.py": seed_style(), "script.py": SCRIPT})
    first = project.python("script.py")
    assert first.returncode == 0, first.output
    assert project.take_ran() == ["first", "second"]
    assert OVERRIDE_LINE not in first.stdout

    cached = project.python("script.py")
    assert cached.returncode == 0, cached.output
    assert project.take_ran() == []

    override = project.python("script.py", "off")
    assert override.returncode == 0, override.output
    assert project.take_ran() == ["first", "second"]
    assert OVERRIDE_LINE in override.stdout.splitlines()
    lines = override.stdout.splitlines()
    assert lines.index(OVERRIDE_LINE) < lines.index("Step first has started.")

    # "The default caching strategy is retained for future pipeline runs."
    again = project.python("script.py")
    assert again.returncode == 0, again.output
    assert project.take_ran() == []


def test_run_enable_cache_false_beats_step_enable_cache_true(make_project: MakeProject) -> None:
    source = seed_style(step_b="@step(enable_cache=True)")
    project = make_project({"pipelines/chain.py": source, "script.py": SCRIPT})
    assert project.python("script.py").returncode == 0
    assert project.take_ran() == ["first", "second"]

    result = project.python("script.py", "off")

    assert result.returncode == 0, result.output
    assert project.take_ran() == ["first", "second"]


def test_run_enable_cache_true_beats_pipeline_enable_cache_false(
    make_project: MakeProject,
) -> None:
    source = seed_style(pipe="@pipeline(enable_cache=False)")
    project = make_project({"pipelines/chain.py": source, "script.py": SCRIPT})
    assert project.python("script.py").returncode == 0
    assert project.take_ran() == ["first", "second"]
    assert project.python("script.py").returncode == 0
    assert project.take_ran() == ["first", "second"]

    result = project.python("script.py", "on")

    assert result.returncode == 0, result.output
    assert project.take_ran() == []


def test_script_and_cli_share_the_lockfile(make_project: MakeProject) -> None:
    project = make_project({"pipelines/chain.py": seed_style(), "script.py": SCRIPT})
    assert project.python("script.py").returncode == 0
    assert project.take_ran() == ["first", "second"]

    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


SEED_STYLE_WITH_CONFIG = """\
    from incr import BaseStepConfig, Output, pipeline, step
    from pipelines.mark import mark


    @step
    def load() -> Output(a=int, b=int):
        mark("load")
        return 3, 4


    class TrainConfig(BaseStepConfig):
        gamma: float = 0.001


    @step
    def train(config: TrainConfig, a: int, b: int) -> float:
        mark("train")
        return (a + b) * config.gamma


    @pipeline
    def classic(step_1, step_2):
        a, b = step_1()
        step_2(a, b)


    instance = classic(step_1=load(), step_2=train(config=TrainConfig(gamma=0.5)))
    """


def test_seed_style_with_bound_step_instances(make_project: MakeProject) -> None:
    project = make_project({"pipelines/classic.py": SEED_STYLE_WITH_CONFIG})

    project.repro()

    assert project.take_ran() == ["load", "train"]
    lock = project.lock()
    assert sorted(lock) == ["classic.load", "classic.train"]
    assert lock["classic.train"].facts.config == {"gamma": 0.5}
    assert sorted(lock["classic.load"].outputs) == ["a", "b"]
    assert project.dirty() == {}

    project.edit("pipelines/classic.py", "TrainConfig(gamma=0.5)", "TrainConfig(gamma=0.25)")
    assert project.dirty() == {"train": [("config changed", "gamma: 0.5 -> 0.25")]}
    project.repro()
    assert project.take_ran() == ["train"]


TWICE = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class AddConfig(StepConfig):
        amount: int = 1


    @step
    def load() -> int:
        mark("load")
        return 1


    @step
    def transform(config: AddConfig, x: int) -> int:
        mark(f"transform+{config.amount}")
        return x + config.amount


    @pipeline
    def twice():
        once = transform(load(), config=AddConfig(amount=10))
        transform(once, config=AddConfig(amount=100))
    """


def test_step_used_twice_gets_distinct_names(make_project: MakeProject) -> None:
    project = make_project({"pipelines/twice.py": TWICE})

    project.repro()

    assert project.take_ran() == ["load", "transform+10", "transform+100"]
    lock = project.lock()
    assert sorted(lock) == ["twice.load", "twice.transform", "twice.transform_2"]
    assert lock["twice.transform"].facts.config == {"amount": 10}
    assert lock["twice.transform_2"].facts.config == {"amount": 100}
    assert lock["twice.transform_2"].facts.inputs == {
        "x": lock["twice.transform"].outputs["output"].digest
    }
    assert list(project.reasons()) == ["load", "transform", "transform_2"]

    project.edit("pipelines/twice.py", "amount=100", "amount=200")
    assert project.dirty() == {"transform_2": [("config changed", "amount: 100 -> 200")]}
    project.repro()
    assert project.take_ran() == ["transform+200"]
    project.repro("twice.transform_2", "--force")
    assert project.take_ran() == ["transform+200"]


MULTI = """\
    from incr import Output, pipeline, step
    from pipelines.mark import mark

    BASE = 1


    @step
    def split() -> Output(numbers=list, label=str):
        mark("split")
        return [BASE, 2, 3], "digits"


    @step
    def add(numbers: list) -> int:
        mark("add")
        return sum(numbers)


    @step
    def shout(label: str) -> str:
        mark("shout")
        return label.upper()


    @pipeline
    def multi():
        numbers, label = split()
        add(numbers)
        shout(label)
    """


def test_multi_output_step_feeds_each_output_separately(make_project: MakeProject) -> None:
    project = make_project({"pipelines/multi.py": MULTI})
    project.repro()
    assert project.take_ran() == ["split", "add", "shout"]
    lock = project.lock()
    assert sorted(lock["multi.split"].outputs) == ["label", "numbers"]
    assert lock["multi.add"].facts.inputs == {
        "numbers": lock["multi.split"].outputs["numbers"].digest
    }
    assert lock["multi.shout"].facts.inputs == {
        "label": lock["multi.split"].outputs["label"].digest
    }

    # Only `numbers` changes: `shout` receives the same `label` bytes and stays cached.
    project.edit("pipelines/multi.py", "BASE = 1", "BASE = 5")
    project.repro()
    assert project.take_ran() == ["split", "add"]
    assert project.dirty() == {}


UNCACHED_MIDDLE = """\
    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def source() -> int:
        mark("source")
        return 4


    @step(enable_cache=False)
    def fetch(x: int) -> int:
        mark("fetch")
        return x // 2


    @step
    def use(y: int) -> int:
        mark("use")
        return y + 1


    @pipeline
    def mid():
        use(fetch(source()))
    """


def test_uncached_step_reruns_but_its_same_output_keeps_dependents_cached(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/mid.py": UNCACHED_MIDDLE})
    project.repro()
    assert project.take_ran() == ["source", "fetch", "use"]

    assert project.dirty() == {"fetch": [("cache disabled", "")], "use": [("after", "fetch")]}
    project.repro()

    assert project.take_ran() == ["fetch"]
