"""incr dag: the graph as text, Graphviz dot and Mermaid."""

from __future__ import annotations

from .conftest import MakeProject, Project


def test_dag_text_lists_steps_in_run_order_with_their_sources(flow: Project) -> None:
    result = flow.incr("dag")

    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "flow:"
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["load", "double", "shift", "scaled", "total"]
    total = next(line for line in lines if line.split()[0] == "total")
    assert "shift.output" in total and "scaled.output" in total
    load = next(line for line in lines if line.split()[0] == "load")
    assert "data/raw.csv" in load


def test_dag_dot_and_mermaid_hold_every_edge(flow: Project) -> None:
    dot = flow.incr("dag", "flow", "--format", "dot").stdout
    mermaid = flow.incr("dag", "flow", "--format", "mermaid").stdout

    assert dot.startswith('digraph "flow" {') and dot.rstrip().endswith("}")
    assert '"load" -> "double";' in dot
    assert '"scaled" -> "total";' in dot
    assert mermaid.startswith("flowchart LR")
    assert mermaid.count("-->") == dot.count("->")


def test_dag_of_an_unknown_pipeline_is_a_one_line_error(flow: Project) -> None:
    line = flow.incr("dag", "flwo").user_error()
    assert "flwo" in line


def test_dag_text_names_the_files_a_step_writes(make_project: MakeProject) -> None:
    steps = """\
        from incr import pipeline, step


        @step(outs=["reports/a.txt", "reports/b"])
        def write() -> None:
            pass


        @step(deps=["reports/a.txt"])
        def read() -> None:
            pass


        @pipeline
        def files():
            write()
            read()
        """
    project = make_project({"pipelines/files.py": steps})
    lines = project.incr("dag").stdout.splitlines()
    assert lines == ["files:", "  write  -> reports/a.txt, reports/b", "  read   <- reports/a.txt"]
