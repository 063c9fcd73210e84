"""incr/modulefiles.py: the project modules a registry scan reads, and the digest of their list."""

from __future__ import annotations

from pathlib import Path

from incr.modulefiles import listing_digest, module_files


def touch(root: Path, *paths: str) -> None:
    for rel in paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")


def test_modules_under_the_root_and_src(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "pipelines/__init__.py",
        "pipelines/flow.py",
        "pipelines/sub/models.py",
        "setup_helpers.py",
        "src/mylib/__init__.py",
        "src/mylib/registry.py",
    )
    assert module_files(tmp_path, ".pipecache") == {
        "pipelines": "pipelines/__init__.py",
        "pipelines.flow": "pipelines/flow.py",
        "pipelines.sub.models": "pipelines/sub/models.py",
        "setup_helpers": "setup_helpers.py",
        "mylib": "src/mylib/__init__.py",
        "mylib.registry": "src/mylib/registry.py",
    }


def test_hidden_installed_built_test_and_unimportable_files_are_left_out(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "pipelines/flow.py",
        ".venv/lib/x.py",
        "env/pyvenv.cfg",
        "env/lib/y.py",
        "conda/conda-meta/history.py",
        "lib/site-packages/pkg/z.py",
        "node_modules/a.py",
        "pipelines/__pycache__/flow.py",
        "build/lib/pipelines/flow.py",
        "dist/a.py",
        "tests/test_flow.py",
        "tests/helpers.py",
        "pipelines/test_models.py",
        "pipelines/models_test.py",
        "conftest.py",
        "raw-data/script.py",
        "cache/x.py",
    )
    assert module_files(tmp_path, "cache") == {"pipelines.flow": "pipelines/flow.py"}


def test_a_root_module_shadows_the_same_name_in_src(tmp_path: Path) -> None:
    touch(tmp_path, "mylib/__init__.py", "src/mylib/__init__.py")
    assert module_files(tmp_path, ".pipecache") == {"mylib": "mylib/__init__.py"}


def test_the_listing_digest_changes_when_a_module_is_added_or_moved(tmp_path: Path) -> None:
    touch(tmp_path, "pipelines/flow.py")
    first = listing_digest(module_files(tmp_path, ".pipecache"))
    (tmp_path / "pipelines/flow.py").write_text("X = 1\n", encoding="utf-8")
    assert listing_digest(module_files(tmp_path, ".pipecache")) == first  # text: not the list
    touch(tmp_path, "pipelines/extra.py")
    second = listing_digest(module_files(tmp_path, ".pipecache"))
    assert second != first
    (tmp_path / "pipelines/extra.py").rename(tmp_path / "pipelines/other.py")
    assert listing_digest(module_files(tmp_path, ".pipecache")) not in (first, second)


def test_a_package_beside_a_module_of_its_name_is_the_one_imported(tmp_path: Path) -> None:
    touch(tmp_path, "pipelines/helpers.py", "pipelines/helpers/__init__.py")
    assert module_files(tmp_path, ".pipecache")["pipelines.helpers"] == (
        "pipelines/helpers/__init__.py"
    )
