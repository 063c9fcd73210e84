"""Folder listings and existence tests made by a step (or a pipeline body) are learned facts:
adding or removing a file in a listed folder, or creating a tested path, makes it dirty."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

from incr.project import Project as IncrProject
from incr.watchset import Change, folders_to_watch, watch_set

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy
from .test_watch import IDLE, Watch, ran

LISTERS = """\
    import glob
    import os
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    def total(paths):
        return sum(int(Path(p).read_text(encoding="utf-8")) for p in paths)


    @step
    def by_glob() -> int:
        mark("by_glob")
        return total(sorted(glob.glob("data/parts/*.txt")))


    @step
    def by_listdir() -> int:
        mark("by_listdir")
        return total(sorted(os.path.join("data/parts", n) for n in os.listdir("data/parts")))


    @step
    def by_scandir() -> int:
        mark("by_scandir")
        with os.scandir("data/parts") as entries:
            return total(sorted(e.path for e in entries))


    @step
    def by_iterdir() -> int:
        mark("by_iterdir")
        return total(sorted(Path("data/parts").iterdir()))


    @step
    def by_path_glob() -> int:
        mark("by_path_glob")
        return total(sorted(Path("data/parts").glob("*.txt")))


    @step
    def by_walk() -> int:
        mark("by_walk")
        found = [os.path.join(top, n) for top, _, names in os.walk("data/parts") for n in names]
        return total(sorted(found))


    @step
    def unrelated() -> str:
        mark("unrelated")
        return Path("data/other.txt").read_text(encoding="utf-8")


    @pipeline
    def listers():
        by_glob()
        by_listdir()
        by_scandir()
        by_iterdir()
        by_path_glob()
        by_walk()
        unrelated()
    """
LISTING_STEPS = ["by_glob", "by_listdir", "by_scandir", "by_iterdir", "by_path_glob", "by_walk"]

PARTS = {"data/parts/a.txt": "1\n", "data/parts/b.txt": "2\n", "data/other.txt": "other\n"}


@pytest.fixture
def listers(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/listers.py": LISTERS, **PARTS})
    project.repro()
    assert project.take_ran() == [*LISTING_STEPS, "unrelated"]
    return project


def test_listings_are_recorded_in_the_lockfile(listers: Project) -> None:
    lock = listers.lock()
    for name in LISTING_STEPS:
        assert "ls:data/parts" in lock[f"listers.{name}"].reads, name
    assert not any(k.startswith("ls:") for k in lock["listers.unrelated"].reads)
    text = listers.lockfile.read_text(encoding="utf-8")
    assert '"ls:data/parts" = ' in text


def test_a_file_added_to_a_listed_folder_reruns_every_lister(
    listers: Project, tmp_path: Path
) -> None:
    listers.write({"data/parts/c.txt": "4\n"})
    assert listers.dirty() == {n: [("listing changed", "data/parts")] for n in LISTING_STEPS}
    assert "dirty: listing changed (data/parts)" in listers.incr("status").stdout

    fresh = fresh_copy(listers, tmp_path / "fresh")
    listers.repro()
    assert listers.take_ran() == LISTING_STEPS
    assert_same_as_scratch(listers, fresh)

    listers.repro()  # converged: nothing left to do
    assert listers.take_ran() == []


def test_a_file_removed_from_a_listed_folder_reruns_every_lister(
    listers: Project, tmp_path: Path
) -> None:
    (listers.root / "data/parts/b.txt").unlink()
    for name in LISTING_STEPS:
        assert ("listing changed", "data/parts") in listers.dirty()[name], name

    fresh = fresh_copy(listers, tmp_path / "fresh")
    listers.repro()
    assert listers.take_ran() == LISTING_STEPS
    assert_same_as_scratch(listers, fresh)
    listers.repro()
    assert listers.take_ran() == []


def test_unrelated_files_and_touches_run_nothing(listers: Project) -> None:
    lock_before = listers.lock_bytes()
    listers.write({"data/elsewhere/new.txt": "x\n", "notes.md": "hello\n"})
    os.utime(listers.root / "data/parts/a.txt")  # same bytes, same names
    (listers.root / "data/parts/a.txt").write_text("1\n", encoding="utf-8")
    assert listers.dirty() == {}
    listers.repro()
    assert listers.take_ran() == []
    assert listers.lock_bytes() == lock_before


EXISTS = """\
    import os
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark

    OVERRIDE = "data/override.txt"


    def value(default):
        return Path(OVERRIDE).read_text(encoding="utf-8") if default else "default"


    @step
    def by_os_exists() -> str:
        mark("by_os_exists")
        return value(os.path.exists(OVERRIDE))


    @step
    def by_isfile() -> str:
        mark("by_isfile")
        return value(os.path.isfile(OVERRIDE))


    @step
    def by_path_exists() -> str:
        mark("by_path_exists")
        return value(Path(OVERRIDE).exists())


    @step
    def by_is_file() -> str:
        mark("by_is_file")
        return value(Path(OVERRIDE).is_file())


    @step
    def by_access() -> str:
        mark("by_access")
        return value(os.access(OVERRIDE, os.R_OK))


    @step
    def by_isdir() -> str:
        mark("by_isdir")
        return "extra" if os.path.isdir("data/extra") else "plain"


    @step
    def by_is_dir() -> str:
        mark("by_is_dir")
        return "extra" if Path("data/extra").is_dir() else "plain"


    @pipeline
    def tests():
        by_os_exists()
        by_isfile()
        by_path_exists()
        by_is_file()
        by_access()
        by_isdir()
        by_is_dir()
    """
FILE_TESTERS = ["by_os_exists", "by_isfile", "by_path_exists", "by_is_file", "by_access"]
DIR_TESTERS = ["by_isdir", "by_is_dir"]


@pytest.fixture
def testers(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/tests.py": EXISTS, "data/raw.txt": "raw\n"})
    project.repro()
    assert project.take_ran() == FILE_TESTERS + DIR_TESTERS
    return project


def test_existence_tests_are_recorded(testers: Project) -> None:
    lock = testers.lock()
    for name in FILE_TESTERS:
        assert lock[f"tests.{name}"].reads == {"exists:data/override.txt": "missing"}, name
    for name in DIR_TESTERS:
        assert lock[f"tests.{name}"].reads == {"exists:data/extra": "missing"}, name


def test_a_file_that_appears_and_vanishes_reruns_its_testers(
    testers: Project, tmp_path: Path
) -> None:
    testers.write({"data/override.txt": "override\n"})
    assert testers.dirty() == {n: [("file appeared", "data/override.txt")] for n in FILE_TESTERS}
    fresh = fresh_copy(testers, tmp_path / "fresh")
    testers.repro()
    assert testers.take_ran() == FILE_TESTERS
    assert_same_as_scratch(testers, fresh)
    testers.repro()
    assert testers.take_ran() == []

    (testers.root / "data/override.txt").unlink()
    for name in FILE_TESTERS:
        assert ("file vanished", "data/override.txt") in testers.dirty()[name], name
    fresh = fresh_copy(testers, tmp_path / "fresh2")
    testers.repro()
    assert testers.take_ran() == []  # back as on the first run: restored from the run cache
    assert testers.dirty() == {}
    assert_same_as_scratch(testers, fresh)
    testers.repro()
    assert testers.take_ran() == []


def test_a_folder_that_appears_reruns_its_testers(testers: Project, tmp_path: Path) -> None:
    (testers.root / "data/extra").mkdir()
    assert testers.dirty() == {n: [("file appeared", "data/extra")] for n in DIR_TESTERS}
    fresh = fresh_copy(testers, tmp_path / "fresh")
    testers.repro()
    assert testers.take_ran() == DIR_TESTERS
    assert_same_as_scratch(testers, fresh)
    testers.repro()
    assert testers.take_ran() == []
    testers.write({"data/unrelated.txt": "x\n", "data/override.txt.bak": "y\n"})
    testers.repro()
    assert testers.take_ran() == []


WRITER = """\
    import os
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def summarise() -> list:
        mark("summarise")
        os.makedirs("reports", exist_ok=True)
        before = sorted(os.listdir("reports"))
        Path("reports/summary.txt").write_text(",".join(before), encoding="utf-8")
        return sorted(n for n in os.listdir("reports") if n != "summary.txt")


    @pipeline
    def writer():
        summarise()
    """


def test_a_step_listing_the_folder_it_writes_into_is_clean_after_its_own_run(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project({"pipelines/writer.py": WRITER})
    project.repro()
    assert project.take_ran() == ["summarise"]
    assert "ls:reports" in project.lock()["writer.summarise"].reads
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []

    project.write({"reports/by_hand.txt": "x\n"})
    assert project.dirty() == {"summarise": [("listing changed", "reports")]}
    fresh = fresh_copy(project, tmp_path / "fresh")
    (fresh.root / "reports/summary.txt").unlink()  # what the step writes: not in a clone
    project.repro()
    assert project.take_ran() == ["summarise"]
    assert_same_as_scratch(project, fresh, ("reports/summary.txt",))
    project.repro()
    assert project.take_ran() == []


# No step here marks ran.txt: it would be a file of the listed root folder.
ROOT_LISTER = """\
    import os

    from incr import pipeline, step


    @step
    def inventory() -> list:
        return sorted(n for n in os.listdir() if n.endswith(".csv"))


    @pipeline
    def root():
        inventory()
    """


def executed(result: object) -> list[str]:
    """The steps a ``repro`` executed (started, and not taken from the cache)."""
    lines = str(getattr(result, "stdout", "")).splitlines()
    started = [ln.split()[1] for ln in lines if ln.startswith("Step ") and "has started" in ln]
    return [s for s in started if f"Using cached version of {s}." not in lines]


def test_a_listing_of_the_root_leaves_out_the_cache_and_the_lockfile(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project({"pipelines/root.py": ROOT_LISTER, "table.csv": "1\n"})
    project.incr("status")  # the cache folder is made
    assert executed(project.repro()) == ["inventory"]
    assert "ls:." in project.lock()["root.inventory"].reads
    assert project.dirty() == {}  # the lockfile appeared after the listing
    assert executed(project.repro()) == []

    project.write({"more.csv": "2\n"})
    assert project.dirty() == {"inventory": [("listing changed", ".")]}
    fresh = fresh_copy(project, tmp_path / "fresh")
    assert executed(project.repro()) == ["inventory"]
    assert_same_as_scratch(project, fresh)
    assert executed(project.repro()) == []


LIBRARY = """\
    import os


    def names(folder):
        return sorted(os.listdir(folder))


    def log_run(folder, text):
        \"\"\"Like an experiment tracker: list its folder, add a file of its own there.\"\"\"
        os.makedirs(folder, exist_ok=True)
        number = len(os.listdir(folder))
        with open(os.path.join(folder, f"{text}-{number}.txt"), "w") as fh:
            fh.write(text)
    """

USES_LIBRARY = """\
    import sys

    from incr import pipeline, step
    from pipelines.mark import mark

    sys.path.insert(0, {lib!r})


    @step
    def via_library() -> list:
        import lister

        mark("via_library")
        return lister.names("data/parts")


    @step
    def train() -> int:
        import lister

        mark("train")
        lister.log_run("logs", "train")
        return 1


    @step
    def evaluate(model: int) -> int:
        import lister

        mark("evaluate")
        lister.log_run("logs", "evaluate")
        return model + 1


    @step
    def lazy() -> int:
        mark("lazy")
        from pipelines import late  # the import system lists the package's folder

        return late.VALUE


    @pipeline
    def library():
        via_library()
        evaluate(train())
        lazy()
    """


def test_a_folder_a_library_lists_counts_but_where_the_step_writes(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A folder a library lists for the step (a dataset loader, ``shutil.copytree``'s source)
    is the step's, as its own listing is: a file added there reruns it. Not the folders the
    step itself writes into (an experiment tracker's run folder, which each run adds to:
    counted, two steps logging there would rerun each other forever), nor the listings by
    which the import system finds a module."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "lister.py").write_text(textwrap.dedent(LIBRARY), encoding="utf-8")
    files = {"pipelines/library.py": USES_LIBRARY.format(lib=str(lib)), **PARTS}
    project = make_project({**files, "pipelines/late.py": "VALUE = 3\n"})
    project.repro()
    assert project.take_ran() == ["via_library", "train", "evaluate", "lazy"]
    locks = project.lock()
    assert set(locks["library.via_library"].reads) == {"ls:data/parts"}
    assert not any(key.startswith("ls:") for key in locks["library.train"].reads)
    assert not any(key.startswith("ls:") for key in locks["library.lazy"].reads)
    project.repro()
    assert project.take_ran() == []  # train and evaluate each add to logs/: not an input
    (project.root / "data/parts/c.txt").write_text("5", encoding="utf-8")
    assert project.dirty() == {"via_library": [("listing changed", "data/parts")]}
    project.repro()
    assert project.take_ran() == ["via_library"]


PER_FILE = """\
    with open("imported.txt", "a", encoding="utf-8") as _fh:
        _fh.write("per_file\\n")

    from pathlib import Path

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class PartConfig(StepConfig):
        name: str = ""


    @step
    def process(config: PartConfig) -> int:
        mark("process:" + config.name)
        return 10 * int(Path("data/parts", config.name).read_text(encoding="utf-8"))


    @pipeline
    def per_file():
        for path in sorted(Path("data/parts").glob("*.txt")):
            process(config=PartConfig(name=path.name))
    """


def imports(project: Project) -> int:
    path = project.root / "imported.txt"
    count = len(path.read_text(encoding="utf-8").split()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


def test_a_step_per_file_sees_a_new_file_through_the_graph_cache(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INCR_NO_GRAPH_CACHE", raising=False)
    project = make_project({"pipelines/per_file.py": PER_FILE, **PARTS})
    project.repro()
    assert project.take_ran() == ["process:a.txt", "process:b.txt"]
    assert imports(project) == 1
    assert project.dirty() == {}
    assert imports(project) == 0  # a no-op status still imports nothing

    project.write({"data/parts/c.txt": "3\n"})
    assert project.dirty() == {"process_3": [("new step", "")]}
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()
    assert project.take_ran() == ["process:c.txt"]
    assert_same_as_scratch(project, fresh)
    imports(project)
    project.repro()
    assert project.take_ran() == []
    assert imports(project) == 0

    project.write({"data/unrelated.txt": "x\n"})
    assert project.dirty() == {}
    assert imports(project) == 0


LISTING_WATCHED = """\
    import glob

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def count() -> int:
        mark("count")
        return len(glob.glob("data/parts/*.txt"))


    @pipeline
    def counting():
        count()
    """


def test_watch_reruns_a_lister_when_a_file_is_added(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/counting.py": LISTING_WATCHED, **PARTS})
    watch = Watch(project.root)
    try:
        watch.expect("press Ctrl-C to stop")
        watch.expect(IDLE)
        assert ran(project.root) == ["count"]
        project.write({"data/parts/c.txt": "3\n"})
        watch.expect("changed: data/parts/c.txt")
        watch.expect(IDLE)
        assert ran(project.root) == ["count", "count"]
        assert project.lock()["counting.count"].reads["ls:data/parts"] != "missing"
        assert watch.stop(signal.SIGINT) == 0
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()
            watch.proc.wait()


def test_watch_set_counts_entries_of_listed_folders_and_tested_paths(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "data/parts").mkdir(parents=True)
    learned = ["ls:data/parts", "exists:data/override.txt", "$HOME", "import:pipelines/a.py:p.yaml"]
    watched = watch_set(IncrProject.load(tmp_path), [], {}, learned)

    def counts(kind: str, rel: str, is_dir: bool = False) -> bool:
        return bool(watched.affected(Change(kind, str(tmp_path / rel), "", is_dir)))

    assert counts("created", "data/parts/c.txt")
    assert counts("deleted", "data/parts/a.txt")
    assert counts("created", "data/parts/sub", is_dir=True)
    assert not counts("modified", "data/parts/a.txt")  # same names
    assert not counts("created", "data/parts/sub/deeper.txt")  # not an entry of the folder
    assert counts("created", "data/override.txt")
    assert counts("deleted", "data/override.txt")
    assert not counts("created", "data/other.txt")
    assert counts("modified", "p.yaml")
    folders = folders_to_watch(watched)
    assert folders[tmp_path / "data/parts"] is False  # listed folders: not recursively
    assert folders[tmp_path / "data"] is False


SIZES = """\
    import os
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def by_getsize() -> int:
        mark("by_getsize")
        return os.path.getsize("data/blob.bin")


    @step
    def non_empty() -> list:
        mark("non_empty")
        return sorted(p.name for p in Path("data/shards").iterdir() if p.stat().st_size > 0)


    @step
    def by_exists() -> bool:
        mark("by_exists")
        return Path("data/blob.bin").exists()


    @pipeline
    def sizes():
        by_getsize()
        non_empty()
        by_exists()
    """


def test_a_size_the_step_asked_for_counts_and_an_existence_test_does_not(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``os.path.getsize``, ``Path.stat().st_size``: the step's result depends on the size
    (an emptied shard stayed listed); ``Path.exists()`` only on whether the file is there."""
    project = make_project(
        {
            "pipelines/sizes.py": SIZES,
            "data/blob.bin": "x" * 10,
            "data/shards/a.txt": "a\n",
            "data/shards/b.txt": "b\n",
        }
    )
    project.repro()
    assert project.take_ran() == ["by_getsize", "non_empty", "by_exists"]
    lock = project.lock()
    assert lock["sizes.by_getsize"].reads == {"exists:data/blob.bin": "file:10"}
    assert lock["sizes.by_exists"].reads == {"exists:data/blob.bin": "file"}

    project.write({"data/blob.bin": "y" * 20, "data/shards/b.txt": ""})
    assert project.dirty() == {
        "by_getsize": [("read changed", "size of data/blob.bin")],
        "non_empty": [("read changed", "size of data/shards/b.txt")],
    }
    project.repro()
    assert project.take_ran() == ["by_getsize", "non_empty"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.write({"data/blob.bin": "z" * 20})  # other bytes, the same size
    assert project.dirty() == {}


def test_the_target_of_a_link_the_step_resolved_counts(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``Path("data/current").resolve().name``: the step takes the name of the folder the
    link points at; pointing it at another folder with the same files reruns the step."""
    card = """\
        from pathlib import Path

        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def card() -> dict:
            mark("card")
            rows = Path("data/current/x.txt").read_text().split()
            return {"snapshot": Path("data/current").resolve().name, "rows": len(rows)}


        @pipeline
        def cards():
            card()
        """
    files = {"pipelines/cards.py": card, "data/v1/x.txt": "a b\n", "data/v2/x.txt": "a b\n"}
    project = make_project(files)
    (project.root / "data/current").symlink_to("v1")
    project.repro()
    assert project.take_ran() == ["card"]
    assert project.lock()["cards.card"].reads["exists:data/current"] == "link:v1"

    (project.root / "data/current").unlink()
    (project.root / "data/current").symlink_to("v2")
    assert project.dirty() == {"card": [("read changed", "target of data/current")]}
    project.repro()
    assert project.take_ran() == ["card"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_a_link_read_with_readlink_counts_by_its_target(make_project: MakeProject) -> None:
    """``os.readlink`` and ``Path.readlink()`` make no stat call: they were not seen."""
    module = """\
        import os
        from pathlib import Path

        from incr import pipeline, step
        from pipelines.mark import mark


        @step
        def by_os() -> str:
            mark("by_os")
            return os.readlink("data/current")


        @step
        def by_path() -> str:
            mark("by_path")
            return str(Path("data/current").readlink())


        @pipeline
        def links():
            by_os()
            by_path()
        """
    project = make_project({"pipelines/links.py": module, "data/v1/x": "", "data/v2/x": ""})
    (project.root / "data/current").symlink_to("v1")
    project.repro()
    assert project.take_ran() == ["by_os", "by_path"]
    (project.root / "data/current").unlink()
    (project.root / "data/current").symlink_to("v2")
    reason = [("read changed", "target of data/current")]
    assert project.dirty() == {"by_os": reason, "by_path": reason}
