"""incr/lockfile.py: round trips, determinism, errors that name the line, git merges."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incr import lockfile
from incr.errors import LockfileError
from incr.lockfile import dumps, loads, read, write
from incr.model import Artifact, Facts, LockEntry

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- strategies

# Keys and paths with dots, slashes, spaces, quotes, backslashes, control characters and
# unicode from every plane (surrogates excluded: they are not text).
TRICKY = st.sampled_from(
    [".", "/", " ", '"', "'", "\\", "=", "[", "]", "#", "\n", "\t", "é", "ß", "日本", "\x00", "-"]
)
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
TEXT = st.one_of(
    ANY_TEXT,
    st.lists(st.one_of(TRICKY, ANY_TEXT, st.just("a\n")), max_size=5).map("".join),
)
HEX = "0123456789abcdef"
FINGERPRINTS = st.text(alphabet=HEX, min_size=32, max_size=32)
DIGESTS = st.text(alphabet=HEX, min_size=64, max_size=64)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
ARTIFACTS = st.builds(
    Artifact,
    st.sampled_from(["npy", "json", "pickle", "file", "dir"]),
    DIGESTS,
    files=st.just("") | FINGERPRINTS,  # a lazy handle's (``incr.lazyfiles``)
)
FACTS = st.builds(
    Facts,
    code=st.dictionaries(TEXT, DIGESTS | TEXT, max_size=4),
    config=st.dictionaries(TEXT, JSON, max_size=4),
    inputs=st.dictionaries(TEXT, DIGESTS, max_size=3),
    deps=st.dictionaries(TEXT, DIGESTS | st.just("missing"), max_size=3),
)
ENTRIES = st.builds(
    LockEntry,
    key=TEXT,
    fingerprint=FINGERPRINTS,
    facts=FACTS,
    outputs=st.dictionaries(TEXT, ARTIFACTS, max_size=3),
)
ENTRY_LISTS = st.lists(ENTRIES, max_size=5, unique_by=lambda e: e.key)


def entry(key, fp="0" * 32, *, code=None, config=None, inputs=None, deps=None, outputs=None):
    facts = Facts(code=code or {}, config=config or {}, inputs=inputs or {}, deps=deps or {})
    return LockEntry(key, fp, facts, outputs or {})


SAMPLE = [
    entry(
        "flow.load",
        "1" * 32,
        code={"pipelines/flow.py:load": "a" * 32},
        deps={"data/raw.csv": "b" * 64},
        outputs={"output": Artifact("json", "c" * 64)},
    ),
    entry(
        "flow.transform",
        "2" * 32,
        code={"pipelines/flow.py:transform": "d" * 32, "pkg:numpy": "2.1.0"},
        config={"factor": 2.0, "label": None},
        inputs={"rows": "c" * 64},
        outputs={"output": Artifact("json", "e" * 64)},
    ),
    entry(
        "flow.report",
        "3" * 32,
        code={"pipelines/flow.py:report": "f" * 32},
        inputs={"summary": "e" * 64},
    ),
]


def line_of(text: str, needle: str, start: int = 1) -> int:
    """The 1-based number of the first line at or after ``start`` that starts with ``needle``."""
    for number, line in enumerate(text.splitlines(), 1):
        if number >= start and line.startswith(needle):
            return number
    raise AssertionError(f"{needle!r} not in text")


def error_line(exc: LockfileError) -> int:
    match = re.match(r"pipeline\.lock:(\d+): ", exc.message)
    assert match, exc.message
    return int(match.group(1))


# --------------------------------------------------------------------------- round trips


def test_sample_text_is_sorted_and_readable():
    text = dumps(SAMPLE)
    assert text.startswith(lockfile.HEADER)
    assert "\nschema = 1\n" in text
    headers = re.findall(r"^\[steps\.(\"[^\"]+\"|[^\].]+)\]$", text, flags=re.M)
    assert headers == ['"flow.load"', '"flow.report"', '"flow.transform"']
    assert '[steps."flow.transform".config]\nfactor = "2.0"\nlabel = "null"\n' in text
    assert '[steps."flow.report".outputs]' not in text  # empty tables are left out
    assert loads(text) == {e.key: e for e in SAMPLE}


@SETTINGS
@given(ENTRY_LISTS)
def test_property_round_trip(entries):
    assert loads(dumps(entries)) == {e.key: e for e in entries}


@SETTINGS
@given(ENTRY_LISTS, st.randoms(use_true_random=False))
def test_property_dumps_ignores_input_order(entries, rnd):
    shuffled = list(entries)
    rnd.shuffle(shuffled)

    def reorder(d):
        items = list(d.items())
        rnd.shuffle(items)
        return dict(items)

    rebuilt = [
        LockEntry(
            e.key,
            e.fingerprint,
            Facts(
                reorder(e.facts.code),
                reorder(e.facts.config),
                reorder(e.facts.inputs),
                reorder(e.facts.deps),
            ),
            reorder(e.outputs),
        )
        for e in shuffled
    ]
    assert dumps(rebuilt) == dumps(entries)
    assert dumps(iter(rebuilt)) == dumps(entries)  # any iterable


@SETTINGS
@given(ENTRY_LISTS)
def test_property_text_is_ascii_and_machine_free(entries):
    text = dumps(entries)
    assert text.isascii()
    assert "\r" not in text
    assert text.endswith("\n")


@pytest.mark.parametrize("where", ["key", "code", "dep", "output"])
def test_characters_beyond_the_bmp_round_trip(where):
    name = "data/\U0001f600.csv"  # an emoji in a file name
    e = {
        "key": entry(f"flow.{name}"),
        "code": entry("flow.a", code={f"pipelines/{name}:f": "a" * 32}),
        "dep": entry("flow.a", deps={name: "b" * 64}),
        "output": entry("flow.a", outputs={name: Artifact("file", "c" * 64)}),
    }[where]
    assert loads(dumps([e])) == {e.key: e}


@pytest.mark.parametrize("where", ["key", "code", "input", "config"])
def test_a_key_ending_in_a_newline_round_trips(where):
    e = {
        "key": entry("step\n"),
        "code": entry("flow.a", code={"part\n": "a" * 32}),
        "input": entry("flow.a", inputs={"0\n": "b" * 64}),
        "config": entry("flow.a", config={"factor\n": 1}),
    }[where]
    assert loads(dumps([e])) == {e.key: e}


def test_config_values_keep_their_json_types():
    config = {"n": 1, "f": 1.0, "b": True, "none": None, "s": "1", "l": [1, "a"], "d": {"k": []}}
    loaded = loads(dumps([entry("p.s", config=config)]))["p.s"].facts.config
    assert loaded == config
    assert [type(loaded[k]) for k in config] == [type(v) for v in config.values()]


def test_config_nan_is_refused_on_write():
    with pytest.raises(ValueError):
        dumps([entry("p.s", config={"x": float("nan")})])


def test_empty_lockfile():
    assert loads(dumps([])) == {}
    assert loads("schema = 1\n") == {}


# --------------------------------------------------------------------------- write / read


def test_write_then_read(tmp_path):
    path = tmp_path / "pipeline.lock"
    assert read(path) == {}  # no file yet
    assert write(path, SAMPLE) == path.read_bytes()
    assert path.read_text(encoding="utf-8") == dumps(SAMPLE)
    assert read(path) == {e.key: e for e in SAMPLE}


def test_write_of_the_same_text_is_a_no_op(tmp_path):
    path = tmp_path / "pipeline.lock"
    assert write(path, SAMPLE) == path.read_bytes()
    old = time.time_ns() - 10_000_000_000
    os.utime(path, ns=(old, old))
    inode = path.stat().st_ino
    assert write(path, list(reversed(SAMPLE))) is None
    assert path.stat().st_mtime_ns == old
    assert path.stat().st_ino == inode
    assert sorted(os.listdir(tmp_path)) == ["pipeline.lock"]  # no temp file left


def test_write_of_new_text_replaces_the_file(tmp_path):
    path = tmp_path / "pipeline.lock"
    write(path, SAMPLE)
    assert write(path, SAMPLE[:1]) == path.read_bytes()
    assert read(path) == {SAMPLE[0].key: SAMPLE[0]}


def test_write_replaces_a_file_that_is_not_text(tmp_path):
    path = tmp_path / "pipeline.lock"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert write(path, SAMPLE) == path.read_bytes()
    assert read(path) == {e.key: e for e in SAMPLE}


def test_read_of_a_binary_file_names_line_1(tmp_path):
    path = tmp_path / "pipeline.lock"
    path.write_bytes(b"schema = 1\n\xff\xfe\n")
    with pytest.raises(LockfileError) as info:
        read(path)
    assert info.value.message.startswith("pipeline.lock:1: ")
    assert info.value.hint


# --------------------------------------------------------------------------- damage

TEXT_SAMPLE = dumps(SAMPLE)


def _raises(text: str) -> LockfileError:
    with pytest.raises(LockfileError) as info:
        loads(text)
    assert info.value.exit_code == 2
    assert "Traceback" not in info.value.format()
    return info.value


def test_conflict_markers_name_the_first_marker_line():
    ours = TEXT_SAMPLE.replace('fingerprint = "2222', 'fingerprint = "4444')
    lines = ours.splitlines(keepends=True)
    at = line_of(ours, 'fingerprint = "4444')
    damaged = "".join(
        [
            *lines[: at - 1],
            "<<<<<<< HEAD\n",
            lines[at - 1],
            "=======\n",
            'fingerprint = "' + "5" * 32 + '"\n',
            ">>>>>>> other\n",
            *lines[at:],
        ]
    )
    exc = _raises(damaged)
    assert error_line(exc) == at
    assert "merge conflict" in exc.message
    assert "git checkout --ours" in exc.hint


@pytest.mark.parametrize("marker", ["<<<<<<< ours", "=======", ">>>>>>> theirs", "||||||| base"])
def test_each_conflict_marker_alone_is_found(marker):
    lines = TEXT_SAMPLE.splitlines(keepends=True)
    lines.insert(5, marker + "\n")
    assert error_line(_raises("".join(lines))) == 6


def test_a_real_git_conflict_is_reported(tmp_path):
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    base, ours, theirs = (tmp_path / n for n in ("base", "ours", "theirs"))
    base.write_text(TEXT_SAMPLE)
    ours.write_text(TEXT_SAMPLE.replace('"2222', '"4444'))
    theirs.write_text(TEXT_SAMPLE.replace('"2222', '"5555'))
    result = subprocess.run(
        [git, "merge-file", "-p", str(ours), str(base), str(theirs)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1  # one conflict
    assert error_line(_raises(result.stdout)) == line_of(result.stdout, "<<<<<<<")


def _entry(fingerprint: str, reads: dict[str, str], output: str) -> LockEntry:
    facts = Facts(code={"pipelines/p.py:clean": fingerprint}, config={}, inputs={}, deps={})
    out = {"output": Artifact("json", output * 64)}
    return LockEntry("p.clean", fingerprint * 32, facts, out, reads)


def test_a_merge_keeping_lines_of_two_versions_of_an_entry_conflicts_or_is_refused(tmp_path):
    """One branch changed a step's code (fingerprint), the other its data (reads, outputs):
    without the seal, git merged the two halves into one entry that no run made."""
    base = dumps([_entry("1", {"data/raw.csv": "a" * 32}, "1")])
    code = dumps([_entry("2", {"data/raw.csv": "a" * 32}, "1")])  # the same output
    data = dumps([_entry("1", {"data/raw.csv": "b" * 32}, "2")])
    git = shutil.which("git")
    if git is not None:
        paths = [tmp_path / n for n in ("code", "base", "data")]
        for path, text in zip(paths, (code, base, data), strict=True):
            path.write_text(text)
        merged = subprocess.run(
            [git, "merge-file", "-p", *map(str, paths)], capture_output=True, text=True
        )
        assert merged.returncode == 1  # the seal lines conflict
        assert "<<<<<<<" in merged.stdout
    mixed = code.replace('"' + "a" * 32 + '"', '"' + "b" * 32 + '"').replace("1" * 64, "2" * 64)
    exc = _raises(mixed)
    assert "the entry of step 'p.clean' mixes lines of two versions" in exc.message
    assert error_line(exc) == line_of(mixed, "seal = ")
    assert 'delete the block [steps."p.clean"]' in exc.hint
    old = "".join(line for line in base.splitlines(keepends=True) if not line.startswith("seal"))
    assert loads(old) == loads(base)  # an entry written before the seal is read as it was


def test_truncated_at_a_block_header_names_the_block():
    end = TEXT_SAMPLE.index('[steps."flow.report"]\n') + len('[steps."flow.report"]\n')
    exc = _raises(TEXT_SAMPLE[:end])
    assert error_line(exc) == line_of(TEXT_SAMPLE, '[steps."flow.report"]')
    assert "'flow.report'" in exc.message and "fingerprint" in exc.message


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda t: t[:-10], id="inside a string"),
        pytest.param(lambda t: t[: t.index('[steps."flow.report"]') + 8], id="inside a header"),
        pytest.param(lambda t: t[: t.rindex("= ") + 1], id="after an equals sign"),
    ],
)
def test_truncated_file_is_a_lockfile_error(cut):
    text = cut(TEXT_SAMPLE)
    exc = _raises(text)
    assert error_line(exc) >= 1
    assert exc.hint


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda t: t[:-10], id="inside a string"),
        pytest.param(lambda t: t[: t.index('[steps."flow.report"]') + 8], id="inside a header"),
        pytest.param(lambda t: t[: t.rindex("= ") + 1], id="after an equals sign"),
    ],
)
def test_truncated_file_names_its_last_line(cut):
    text = cut(TEXT_SAMPLE)
    assert error_line(_raises(text)) == len(text.splitlines())


def test_bad_toml_in_the_middle_names_its_line():
    lines = TEXT_SAMPLE.splitlines(keepends=True)
    lines.insert(7, "this is not toml\n")
    exc = _raises("".join(lines))
    assert error_line(exc) == 8


@pytest.mark.parametrize("schema", ["2", "0", '"1"', "[1]"])
def test_unknown_schema_names_the_schema_line(schema):
    text = TEXT_SAMPLE.replace("schema = 1", f"schema = {schema}")
    exc = _raises(text)
    assert error_line(exc) == line_of(text, "schema")
    assert "unknown schema version" in exc.message
    assert "this incr reads 1" in exc.message


def test_an_output_whose_files_digest_is_not_hex_names_its_line():
    output = 'output = "json:' + "e" * 64
    text = TEXT_SAMPLE.replace(output + '"', output + '~files"')
    exc = _raises(text)
    assert error_line(exc) == line_of(text, output + "~files")
    assert "the digest of the files it reads is not 32 hex digits" in exc.message


def test_missing_schema_is_an_error():
    exc = _raises(TEXT_SAMPLE.replace("schema = 1\n", ""))
    assert "unknown schema version None" in exc.message


@pytest.mark.parametrize("schema", ["true", "1.0"])
def test_schema_must_be_the_integer_1(schema):
    _raises(TEXT_SAMPLE.replace("schema = 1", f"schema = {schema}"))


def test_unknown_top_level_key_names_its_line():
    text = TEXT_SAMPLE.replace("schema = 1\n", "schema = 1\nextra = 3\n")
    exc = _raises(text)
    assert error_line(exc) == line_of(text, "extra")
    assert "unknown key 'extra'" in exc.message


def test_steps_must_be_a_table():
    exc = _raises("schema = 1\nsteps = 3\n")
    assert error_line(exc) == 2


# Damage inside a step block: (replace old -> new, the line that holds the damage, message part)
BLOCK_DAMAGE = {
    "unknown key": (
        'fingerprint = "2222',
        'hsh = "x"\nfingerprint = "2222',
        "hsh",
        "unknown key 'hsh' (expected: fingerprint, seal, code, config, inputs, deps, reads, "
        "outputs)",
    ),
    "malformed fingerprint": (
        'fingerprint = "2222',
        'fingerprint = "XYZ2',
        'fingerprint = "XYZ2',
        "missing or malformed 'fingerprint'",
    ),
    "short fingerprint": (
        'fingerprint = "22222222222222222222222222222222"',
        'fingerprint = "2222"',
        'fingerprint = "2222"',
        "missing or malformed 'fingerprint'",
    ),
    "fingerprint not a string": (
        'fingerprint = "22222222222222222222222222222222"',
        "fingerprint = 2222",
        "fingerprint = 2222",
        "missing or malformed 'fingerprint'",
    ),
    "non-string code value": (
        '"pkg:numpy" = "2.1.0"',
        '"pkg:numpy" = 2.1',
        '"pkg:numpy" = 2.1',
        "'code.pkg:numpy' must be a string",
    ),
    "non-string input value": (
        'rows = "' + "c" * 64 + '"',
        'rows = ["' + "c" * 64 + '"]',
        "rows = [",
        "'inputs.rows' must be a string",
    ),
    "config is not json": (
        'factor = "2.0"',
        'factor = "two"',
        'factor = "two"',
        "malformed value",
    ),
    "output without a kind": (
        'output = "json:eeee',
        'output = "eeee',
        'output = "eeee',
        "malformed value",
    ),
    "section not a table": (
        'fingerprint = "22222222222222222222222222222222"',
        'fingerprint = "22222222222222222222222222222222"\ndeps = "x"',
        'deps = "x"',
        "'deps' must be a table of strings",
    ),
}


def _damaged(case: str) -> tuple[str, int, int, str]:
    old, new, needle, message = BLOCK_DAMAGE[case]
    assert old in TEXT_SAMPLE
    text = TEXT_SAMPLE.replace(old, new, 1)
    header = line_of(text, '[steps."flow.transform"]')
    return text, header, line_of(text, needle, header), message


@pytest.mark.parametrize("case", list(BLOCK_DAMAGE), ids=list(BLOCK_DAMAGE))
def test_damage_in_a_step_block_names_the_step_and_a_line_of_its_block(case):
    text, header, damaged_line, message = _damaged(case)
    exc = _raises(text)
    assert header <= error_line(exc) <= damaged_line
    assert "in step 'flow.transform'" in exc.message
    assert message in exc.message
    assert 'delete the block [steps."flow.transform"] and run `incr repro`' in exc.hint
    assert "git checkout HEAD -- pipeline.lock" in exc.hint


def test_an_empty_lockfile_says_so():
    exc = _raises("")
    assert exc.message == "pipeline.lock:1: the file is empty"
    assert "git checkout HEAD -- pipeline.lock" in exc.hint


def test_both_sides_of_a_merge_kept_name_the_merge():
    """An editor's "accept both" on a conflict leaves a step's fields twice: TOML refuses
    the file; the error says what happened and how to keep one side."""
    twice = TEXT_SAMPLE + TEXT_SAMPLE.split("schema = 1\n", 1)[1]  # its blocks again
    exc = _raises(twice)
    assert "written twice (both sides of a git merge kept?)" in exc.message
    assert "git checkout --ours pipeline.lock" in exc.hint


@pytest.mark.parametrize(
    "case", ["unknown key", "malformed fingerprint", "non-string code value", "config is not json"]
)
def test_damage_in_a_step_block_names_the_damaged_line(case):
    text, _header, damaged_line, _message = _damaged(case)
    assert error_line(_raises(text)) == damaged_line


def test_a_step_written_as_an_inline_table_names_its_line():
    text = 'schema = 1\n\n[steps]\n"flow.x" = {fingerprint = "zz"}\n'
    assert error_line(_raises(text)) == 4


def test_deeply_nested_values_are_a_lockfile_error():
    _raises("schema = 1\nx = " + "[" * 5000 + "]" * 5000 + "\n")


# --------------------------------------------------------------------------- fuzzing

FRAGMENTS = st.sampled_from(
    [
        "[steps.x]",
        "[steps.x.code]",
        '[steps."a.b".outputs]',
        "[[steps]]",
        "[steps]",
        "fingerprint = 1",
        'fingerprint = "' + "a" * 32 + '"',
        'x = "json:"',
        'x = ":abc"',
        'x = "npy:abc"',
        'x = "{"',
        'x = "[1,"',
        "x = {a = 1}",
        "x = [1, 2]",
        "x = 1979-05-27",
        "schema = 1",
        "schema = 2",
        "steps = 1",
        "<<<<<<< HEAD",
        "=======",
        '"\\ud800" = "x"',
        "",
        "\x00",
        "# comment",
    ]
)


@st.composite
def line_mutations(draw):
    lines = TEXT_SAMPLE.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            lines.insert(i, draw(FRAGMENTS))
        elif lines:
            lines[i] = draw(FRAGMENTS)
    return "\n".join(lines) + "\n"


def _parse_or_lockfile_error(text: str) -> None:
    try:
        result = loads(text)
    except LockfileError as exc:
        assert re.match(r"pipeline\.lock:\d+: ", exc.message), exc.message
        assert "\n" not in exc.message
    else:
        assert isinstance(result, dict)
        assert all(isinstance(v, LockEntry) for v in result.values())


@settings(max_examples=150, deadline=None)
@given(line_mutations())
def test_fuzz_line_mutations_parse_or_raise_lockfile_error(text):
    _parse_or_lockfile_error(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_random_text_parses_or_raises_lockfile_error(text):
    _parse_or_lockfile_error(text)


@st.composite
def byte_mutations(draw):
    data = bytearray(TEXT_SAMPLE.encode())
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[i : i + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[i:]
    return bytes(data)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(byte_mutations())
def test_fuzz_byte_mutations_parse_or_raise_lockfile_error(tmp_path, data):
    path = tmp_path / "pipeline.lock"
    path.write_bytes(data)
    try:
        result = read(path)
    except LockfileError as exc:
        assert re.match(r"pipeline\.lock:\d+: ", exc.message), exc.message
    else:
        assert isinstance(result, dict)


# --------------------------------------------------------------------------- git merges


def _merge(tmp_path, base: str, ours: str, theirs: str) -> subprocess.CompletedProcess:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    files = []
    for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
        path = tmp_path / f"{name}.lock"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    return subprocess.run(
        [git, "merge-file", "-p", *files], capture_output=True, text=True, check=False
    )


def _changed(e: LockEntry, tag: str) -> LockEntry:
    fp = (tag * 32)[:32]
    code = {**e.facts.code, "pipelines/flow.py:new_helper": tag * 32}
    outputs = {name: Artifact(a.kind, tag * 64) for name, a in e.outputs.items()}
    facts = Facts(code, e.facts.config, e.facts.inputs, e.facts.deps)
    return LockEntry(e.key, fp, facts, outputs)


@pytest.mark.parametrize(
    ("a", "b"),
    [(0, 1), (1, 2), (0, 2), (2, 0)],
    ids=["adjacent", "adjacent-last", "apart", "reversed"],
)
def test_two_branches_that_change_different_steps_merge_cleanly(tmp_path, a, b):
    ours_entries = list(SAMPLE)
    ours_entries[a] = _changed(SAMPLE[a], "a")
    theirs_entries = list(SAMPLE)
    theirs_entries[b] = _changed(SAMPLE[b], "b")
    result = _merge(tmp_path, dumps(SAMPLE), dumps(ours_entries), dumps(theirs_entries))
    assert result.returncode == 0, result.stdout
    expected = list(SAMPLE)
    expected[a], expected[b] = ours_entries[a], theirs_entries[b]
    assert loads(result.stdout) == {e.key: e for e in expected}
    assert result.stdout == dumps(expected)


def _mutate(e: LockEntry, data, tag: str) -> LockEntry:
    """A rerun of step ``e``: a new fingerprint, and some of its facts and outputs changed."""
    facts = e.facts
    code = dict(facts.code)
    if data.draw(st.booleans(), label=f"{tag} code"):
        code[data.draw(st.sampled_from([*code, "pipelines/x.py:f"]), label=f"{tag} part")] = (
            tag * 32
        )
    config = dict(facts.config)
    if data.draw(st.booleans(), label=f"{tag} config"):
        config["factor"] = data.draw(st.integers(0, 9), label=f"{tag} factor")
    outputs = {k: Artifact(a.kind, tag * 64) for k, a in e.outputs.items()}
    if data.draw(st.booleans(), label=f"{tag} add output"):
        outputs["extra"] = Artifact("pickle", tag * 64)
    fp = (tag * 32)[:32]
    return LockEntry(e.key, fp, Facts(code, config, facts.inputs, facts.deps), outputs)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ENTRIES, min_size=2, max_size=4, unique_by=lambda e: e.key), st.data())
def test_property_branches_that_rerun_different_steps_merge_cleanly(tmp_path, entries, data):
    ordered = sorted(entries, key=lambda e: e.key)
    a, b = data.draw(
        st.lists(st.integers(0, len(ordered) - 1), min_size=2, max_size=2, unique=True),
        label="steps",
    )
    ours = list(ordered)
    ours[a] = _mutate(ordered[a], data, "a")
    theirs = list(ordered)
    theirs[b] = _mutate(ordered[b], data, "b")
    result = _merge(tmp_path, dumps(ordered), dumps(ours), dumps(theirs))
    assert result.returncode == 0, result.stdout
    expected = list(ordered)
    expected[a], expected[b] = ours[a], theirs[b]
    assert loads(result.stdout) == {e.key: e for e in expected}


@given(st.text())
def test_property_plain_strings_are_written_as_json_writes_them(text: str) -> None:
    """The quick path for strings with nothing to escape gives what the escaping path does."""
    from incr.lockfile import _string

    assert _string(text).isascii()
    if text.isascii():
        assert _string(text) == json.dumps(text).replace("\x7f", "\\u007f")
        assert json.loads(_string(text)) == text


# ======================================== blocks taken from the text written


def _read_back(entries: list[LockEntry]) -> list[LockEntry]:
    """The same entries as new objects, as a command reads them from the parsed copy."""
    return [lockfile.entry_from_json(e.key, lockfile.entry_to_json(e)) for e in entries]


@SETTINGS
@given(ENTRY_LISTS, st.data())
def test_property_blocks_taken_from_the_written_text_give_that_text(entries, data):
    """Entries read back, their text named by ``blocks_in``: ``dumps`` gives that text again,
    and with one entry changed, the text formatted afresh."""
    text = dumps(entries)
    again = _read_back(entries)
    lockfile.blocks_in(lambda: text, again)
    assert dumps(again) == text
    if again:
        index = data.draw(st.integers(0, len(again) - 1))
        changed = dataclasses.replace(again[index], fingerprint="f" * 32)
        lockfile.blocks_in(lambda: text, again)
        mixed = [*again[:index], changed, *again[index + 1 :]]
        assert dumps(mixed) == dumps(_read_back(mixed))


def test_blocks_are_taken_from_the_text_only_when_it_holds_those_entries() -> None:
    entries = [
        LockEntry(
            key=f"p.s{i}",
            fingerprint=f"{i:032x}",
            facts=Facts(code={"p.s": "c" * 32}, config={}, inputs={}, deps={}),
            outputs={"output": Artifact("json", f"{i:064x}")},
        )
        for i in range(3)
    ]
    text = dumps(entries)
    marked = text.replace(f"{1:032x}", "e" * 32)  # stands out if taken from the text
    again = _read_back(entries)
    lockfile.blocks_in(lambda: marked, again)
    assert dumps(again) == marked  # taken, not formatted: why only incr's own text is named

    for wrong in (None, "", marked.replace('[steps."p.s2"]', '[steps."p.other"]'), marked + marked):
        again = _read_back(entries)
        lockfile.blocks_in(lambda wrong=wrong: wrong, again)
        assert dumps(again) == text, wrong  # formatted
