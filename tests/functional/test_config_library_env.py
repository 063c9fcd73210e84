"""Environment variables configuration libraries read for the project: click's
``envvar=``, OmegaConf's ``${oc.env:...}``, pydantic-settings' ``env_prefix`` and
``env_file``, python-dotenv's ``.env``. Each counts like a variable the project's code reads
(the step reruns, the wiring is traced again), while the machine's own variables that
libraries read (``TMPDIR``, ``HOME``, ``LANG``...) change nothing.

Each test builds a real project, drives the ``incr`` command line in subprocesses (they
inherit this process's environment, set with ``monkeypatch``), checks what ``incr status``
says, which steps ran (``ran.txt``) and that the outputs equal those of a run from scratch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PYPROJECT, MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

pytest.importorskip("click")
pytest.importorskip("omegaconf")
pytest.importorskip("pydantic_settings")
pytest.importorskip("dotenv")


def same_as_scratch(project: Project, tmp_path: Path) -> None:
    fresh = fresh_copy(project, tmp_path / f"scratch-{len(list(tmp_path.glob('scratch-*')))}")
    assert_same_as_scratch(project, fresh)


# ======================================== click: an option's envvar, in a script

TRAINING = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class TrainConfig(StepConfig):
        epochs: int = 3


    @step
    def train(config: TrainConfig) -> int:
        mark("train")
        return config.epochs * 10


    @pipeline
    def training(trainer):
        trainer()
    """

RUN_CLICK = """\
    import click

    from pipelines.training import TrainConfig, train, training


    @click.command()
    @click.option("--epochs", envvar="CLE_EPOCHS", default=3, type=int)
    def main(epochs):
        training(trainer=train(config=TrainConfig(epochs=epochs))).run()


    if __name__ == "__main__":
        main()
    """


def test_a_click_option_from_a_variable_changes_the_config(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLE_EPOCHS", raising=False)
    project = make_project(
        {
            "pyproject.toml": PYPROJECT + '\n[tool.incr]\nscripts = ["run.py"]\n',
            "pipelines/training.py": TRAINING,
            "run.py": RUN_CLICK,
        }
    )
    project.repro()
    assert project.take_ran() == ["train"]
    monkeypatch.setenv("CLE_EPOCHS", "9")
    assert project.dirty() == {"train": [("config changed", "epochs: 3 -> 9")]}
    project.repro()
    assert project.take_ran() == ["train"]
    same_as_scratch(project, tmp_path)


# ======================================== OmegaConf: ${oc.env:NAME,default}

OMEGA_FLOW = """\
    from omegaconf import OmegaConf

    from incr import pipeline, step
    from pipelines.mark import mark

    CFG = OmegaConf.load("conf/config.yaml")


    @step
    def at_import() -> int:
        mark("at_import")
        return int(CFG.train.epochs)


    @step
    def in_step() -> int:
        mark("in_step")
        return int(OmegaConf.load("conf/config.yaml").train.epochs)


    @step
    def other() -> int:
        mark("other")
        return 1


    @pipeline
    def omega():
        at_import()
        in_step()
        other()
    """


def test_an_omegaconf_env_interpolation_reruns_its_readers(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLE_OC_EPOCHS", raising=False)
    project = make_project(
        {
            "conf/config.yaml": "train:\n  epochs: ${oc.env:CLE_OC_EPOCHS,3}\n",
            "pipelines/omega.py": OMEGA_FLOW,
        }
    )
    project.repro()
    assert project.take_ran() == ["at_import", "in_step", "other"]
    monkeypatch.setenv("CLE_OC_EPOCHS", "7")
    why = [("env changed", "CLE_OC_EPOCHS")]
    assert project.dirty() == {"at_import": why, "in_step": why}
    project.repro()
    assert project.take_ran() == ["at_import", "in_step"]
    same_as_scratch(project, tmp_path)


# ======================================== pydantic-settings: env_prefix, env_file

SETTINGS = """\
    from pydantic_settings import BaseSettings, SettingsConfigDict


    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="CLEAPP_", env_file=".env")
        batch_size: int = 32
        lr: float = 0.1


    SETTINGS = Settings()
    """

SETTINGS_FLOW = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark
    from pipelines.settings import SETTINGS, Settings


    class Rate(StepConfig):
        lr: float = 0.1


    @step
    def at_import() -> int:
        mark("at_import")
        return SETTINGS.batch_size


    @step
    def in_step() -> int:
        mark("in_step")
        return Settings().batch_size


    @step
    def rate(config: Rate) -> float:
        mark("rate")
        return config.lr


    @pipeline
    def settings():
        at_import()
        in_step()
        rate(config=Rate(lr=SETTINGS.lr))
    """


@pytest.fixture
def settings_project(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> Project:
    for name in ("CLEAPP_BATCH_SIZE", "CLEAPP_LR"):
        monkeypatch.delenv(name, raising=False)
    project = make_project(
        {"pipelines/settings.py": SETTINGS, "pipelines/settingsflow.py": SETTINGS_FLOW}
    )
    project.repro()
    assert project.take_ran() == ["at_import", "in_step", "rate"]
    return project


def test_a_pydantic_settings_variable_of_its_prefix_reruns_its_readers(
    settings_project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLEAPP_BATCH_SIZE", "64")
    monkeypatch.setenv("CLEAPP_LR", "0.5")
    fields = "CLEAPP_BATCH_SIZE*, CLEAPP_LR*"  # each field's, in any case
    assert settings_project.dirty() == {
        "at_import": [("env changed", fields)],
        "in_step": [("env changed", fields)],
        "rate": [("config changed", "lr: 0.1 -> 0.5")],
    }
    settings_project.repro()
    assert settings_project.take_ran() == ["at_import", "in_step", "rate"]
    same_as_scratch(settings_project, tmp_path)
    monkeypatch.setenv("CLEAPP_LR", "0.5")  # the same value again: nothing to do
    assert settings_project.dirty() == {}


def test_a_pydantic_settings_env_file_that_appears_reruns_its_readers(
    settings_project: Project, tmp_path: Path
) -> None:
    settings_project.write({".env": "CLEAPP_BATCH_SIZE=16\nCLEAPP_LR=0.9\n"})
    assert sorted(settings_project.dirty()) == ["at_import", "in_step", "rate"]
    settings_project.repro()
    assert settings_project.take_ran() == ["at_import", "in_step", "rate"]
    same_as_scratch(settings_project, tmp_path)


PLAIN_SETTINGS = """\
    from pydantic import BaseModel
    from pydantic_settings import BaseSettings, SettingsConfigDict

    from incr import pipeline, step
    from pipelines.mark import mark


    class Db(BaseModel):
        host: str = "localhost"


    class Plain(BaseSettings):
        model_config = SettingsConfigDict(env_nested_delimiter="__")
        cle_batch_size: int = 32
        cle_db: Db = Db()


    @step
    def plain() -> str:
        mark("plain")
        found = Plain()
        return f"{found.cle_batch_size} {found.cle_db.host}"


    @pipeline
    def plainflow():
        plain()
    """


def test_a_pydantic_settings_field_set_for_the_first_time_reruns_its_reader(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A class with no prefix takes ``cle_batch_size`` from ``CLE_BATCH_SIZE``, in any case:
    unset on the first run, set later (as ``cle_batch_size``), it dirties the step; so does a
    nested field (``CLE_DB__HOST``), and a variable no field names does not. Before, a
    variable was counted only once set: setting it left the step clean with the default."""
    for name in ("CLE_BATCH_SIZE", "cle_batch_size", "CLE_DB__HOST", "CLE_OTHER"):
        monkeypatch.delenv(name, raising=False)
    project = make_project({"pipelines/plainflow.py": PLAIN_SETTINGS})
    project.repro()
    assert project.take_ran() == ["plain"]
    monkeypatch.setenv("CLE_OTHER", "1")
    assert project.dirty() == {}
    monkeypatch.setenv("cle_batch_size", "128")  # pydantic-settings ignores case
    assert project.dirty() == {"plain": [("env changed", "CLE_BATCH_SIZE*")]}
    project.repro()
    assert project.take_ran() == ["plain"]
    same_as_scratch(project, tmp_path)
    monkeypatch.setenv("CLE_DB__HOST", "db.example")
    assert project.dirty() == {"plain": [("env changed", "CLE_DB*")]}
    project.repro()
    same_as_scratch(project, tmp_path)


SEVERAL_SETTINGS = """\
    from pydantic_settings import BaseSettings, SettingsConfigDict


    class Train(BaseSettings):
        cle_batch: int = 32


    class Db(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="CLEDB_")
        host: str = "localhost"


    class Cased(BaseSettings):
        model_config = SettingsConfigDict(case_sensitive=True)
        CleMode: str = "fast"


    TRAIN = Train()
    """

SEVERAL_FLOW = """\
    from incr import pipeline, step
    from pipelines.mark import mark
    from pipelines.several import TRAIN, Cased, Db


    @step
    def train_global() -> int:
        mark("train_global")
        return TRAIN.cle_batch * 2


    @step
    def db() -> str:
        mark("db")
        return Db().host


    @step
    def mode() -> str:
        mark("mode")
        return Cased().CleMode


    @pipeline
    def severalflow():
        train_global()
        db()
        mode()
    """


def test_a_pydantic_settings_variable_reruns_only_the_steps_of_its_class(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Three classes in one module, one of them made as the module is imported: a variable
    of one class's field (its prefix's, or a field of a class that keeps case) reruns the
    steps making that class, not the others, and status is clean right after. Before, each
    copy of the environment counted the words of the whole module (``CLEDB_*`` for every
    step, ``CleMode`` once set): ``train_global`` reran for ``CLEDB_HOST``, and after
    ``CleMode`` was set status said it dirty until one more repro."""
    for name in ("CLE_BATCH", "CLEDB_HOST", "CleMode"):
        monkeypatch.delenv(name, raising=False)
    project = make_project(
        {"pipelines/several.py": SEVERAL_SETTINGS, "pipelines/severalflow.py": SEVERAL_FLOW}
    )
    project.repro()
    assert project.take_ran() == ["train_global", "db", "mode"]
    monkeypatch.setenv("CleMode", "slow")
    assert project.dirty() == {"mode": [("env changed", "CleMode")]}
    project.repro()
    assert project.take_ran() == ["mode"]
    assert project.dirty() == {}
    monkeypatch.setenv("CLEDB_HOST", "db.example")
    assert project.dirty() == {"db": [("env changed", "CLEDB_HOST*")]}
    project.repro()
    assert project.take_ran() == ["db"]
    assert project.dirty() == {}
    monkeypatch.setenv("cle_batch", "8")
    assert project.dirty() == {"train_global": [("env changed", "CLE_BATCH*")]}
    project.repro()
    assert project.take_ran() == ["train_global"]
    same_as_scratch(project, tmp_path)


# ======================================== python-dotenv: load_dotenv() in the package

DOTENV_FLOW = """\
    import os

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Count(StepConfig):
        n: int = 1


    @step
    def batch() -> str:
        mark("batch")
        return os.environ.get("CLE_BATCH", "32")


    @step
    def counted(config: Count) -> int:
        mark("counted")
        return config.n


    @pipeline
    def dotflow():
        batch()
        counted(config=Count(n=int(os.environ.get("CLE_NCONF", "1"))))
    """


def test_a_dotenv_file_that_appears_is_loaded_again(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("CLE_BATCH", "CLE_NCONF"):
        monkeypatch.delenv(name, raising=False)
    project = make_project(
        {
            "pipelines/__init__.py": "from dotenv import load_dotenv\n\nload_dotenv()\n",
            "pipelines/dotflow.py": DOTENV_FLOW,
        }
    )
    project.repro()
    assert project.take_ran() == ["batch", "counted"]
    project.write({".env": "CLE_BATCH=64\nCLE_NCONF=5\n"})
    dirty = project.dirty()
    assert sorted(dirty) == ["batch", "counted"]
    assert ("config changed", "n: 1 -> 5") in dirty["counted"]
    project.repro()
    assert project.take_ran() == ["batch", "counted"]
    same_as_scratch(project, tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # dotenv copies the environment: not counted
    monkeypatch.setenv("HOME", str(tmp_path))
    assert project.dirty() == {}


# ======================================== the machine's own variables

AMBIENT_FLOW = """\
    import getpass
    import os
    import pathlib
    import shutil
    import subprocess
    import sys
    import tempfile

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def looks_around() -> int:
        mark("looks_around")
        import click  # noqa: F401  (libraries read variables as they are imported)
        from omegaconf import OmegaConf  # noqa: F401

        with tempfile.TemporaryDirectory() as folder:
            (pathlib.Path(folder) / "x").write_text("1")
        pathlib.Path.home()
        getpass.getuser()
        shutil.get_terminal_size()
        copied = dict(os.environ)
        subprocess.run([sys.executable, "-c", "pass"], env={**os.environ, "SEED": "1"})
        return len(copied) > 0


    @pipeline
    def ambient():
        looks_around()
    """


def test_the_machines_variables_read_by_libraries_change_nothing(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = make_project({"pipelines/ambient.py": AMBIENT_FLOW})
    project.repro()
    assert project.take_ran() == ["looks_around"]
    lock = project.lock_bytes()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("TMPDIR", "HOME"):
        monkeypatch.setenv(name, str(elsewhere))
    for name, value in {"USER": "teammate", "LOGNAME": "teammate", "LANG": "C.UTF-8"}.items():
        monkeypatch.setenv(name, value)
    for name, value in {"COLUMNS": "33", "OMP_NUM_THREADS": "3", "CI": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
    assert project.lock_bytes() == lock
