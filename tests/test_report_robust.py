"""Malformed results files: every one ends in one ReportError line (CLI: exit status 2), never a
traceback; a fuzz test mutates a valid file at random places."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkernels import compare, report
from nnkernels.cli import main
from nnkernels.report import ReportError

from .test_report import BASE, _results, _write

VALID = _results(BASE)


def _mutated(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


# (what, file bytes or a JSON document, part of the message)
CASES: list[tuple[str, Any, str]] = [
    ("Latin-1 file", json.dumps(VALID).replace("vm", "v\u00e9").encode("latin-1"), "not UTF-8"),
    ("N is Infinity", json.dumps(VALID).replace('"N": 700', '"N": Infinity', 1).encode(),
     "Infinity is not a JSON number"),
    ("median is NaN", json.dumps(VALID).replace('"median": 2e-05', '"median": NaN', 1).encode(),
     "NaN is not a JSON number"),
    ("N is a string", _mutated(["benchmarks", 0, "extra_info", "N"], "700"),
     "N must be a positive integer"),
    ("N is 1e400", json.dumps(VALID).replace('"N": 700', '"N": 1e400', 1).encode(),
     "N must be a positive integer, got inf"),
    ("N is negative", _mutated(["benchmarks", 0, "extra_info", "N"], -7),
     "N must be a positive integer"),
    ("H is a fraction", _mutated(["benchmarks", 0, "extra_info", "H"], 2.5),
     "H must be a positive integer"),
    ("median is a string", _mutated(["benchmarks", 0, "stats", "median"], "fast"),
     "has no median"),
    ("median is zero", _mutated(["benchmarks", 0, "stats", "median"], 0),
     "median must be a positive number"),
    ("median is a bool", _mutated(["benchmarks", 0, "stats", "median"], True), "has no median"),
    ("ops_per_call is a string", _mutated(["benchmarks", 7, "extra_info", "ops_per_call"], "ten"),
     "ops_per_call must be a positive integer"),
    ("dtype is a number", _mutated(["benchmarks", 0, "extra_info", "dtype"], 64),
     "dtype must be a name"),
    ("conv shape missing", _mutated(["benchmarks", 9, "extra_info", "shape"], None),
     "shape must be a label"),
    ("case is a list", _mutated(["benchmarks", 0, "extra_info", "case"], ["seed"]),
     "case must be a name"),
    ("stats is a list", _mutated(["benchmarks", 0, "stats"], [1, 2]), "has no median"),
    ("benchmarks is a dict", _mutated(["benchmarks"], {"a": 1}), "no 'benchmarks' list"),
    ("empty file", b"", "not valid JSON"),
    ("truncated file", json.dumps(VALID)[:500].encode(), "not valid JSON"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
]
# Metadata of the wrong type is ignored (shown as "?"), not an error.
TOLERATED: list[tuple[str, Any]] = [
    ("machine_info is a list", _mutated(["machine_info"], [1, 2])),
    ("nnkernels info is a string", _mutated(["machine_info", "nnkernels"], "x")),
    ("runtime is a list", _mutated(["machine_info", "nnkernels", "runtime"], [])),
    ("threadpools hold strings", _mutated(["machine_info", "nnkernels", "runtime",
                                           "threadpools"], ["openblas"])),
    ("load_avg holds strings", _mutated(["machine_info", "nnkernels", "load_avg"], ["a"])),
    ("commit_info is a list", _mutated(["commit_info"], ["x"])),
    ("datetime is a number", _mutated(["datetime"], 5)),
    ("first_call_s holds strings", _mutated(["benchmarks", 11, "extra_info", "first_call_s"],
                                            {"k": "slow"})),
    ("machine peak is malformed", _mutated(["machine_info", "nnkernels", "machine"],
                                           {"peak_gflops": {"float64": "big"}, "triad_gbs": 1})),
    ("rounds is a string", _mutated(["benchmarks", 0, "stats", "rounds"], "five")),
    ("data holds nulls", _mutated(["benchmarks", 0, "stats", "data"], [None, 1.0])),
]


def _write_case(path: Path, content: Any) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.mark.parametrize(("what", "content", "message"), CASES, ids=[c[0] for c in CASES])
def test_malformed_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           what: str, content: Any, message: str) -> None:
    path = _write_case(tmp_path / "r.json", content)
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnkernels report: error: ") and err.count("\n") == 1
    assert str(path) in err and message in err, err
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.parametrize(("what", "content"), TOLERATED, ids=[c[0] for c in TOLERATED])
def test_malformed_metadata_is_ignored(tmp_path: Path, what: str, content: Any) -> None:
    path = _write_case(tmp_path / "r.json", content)
    run = report.load_run(path)
    md = report.render_markdown([run])
    assert "## linear_forward" in md


def test_unversioned_commit_is_not_cut() -> None:
    assert report.format_commit({"id": "unversioned"}) == "unversioned"
    assert report.format_commit({}) == "unversioned"
    assert report.format_commit({"id": "0123456789abcdef0", "dirty": True}) == (
        "0123456789 (dirty)")


def test_output_folder_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    results = _write(tmp_path / "r.json", BASE)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "plots").write_text("a file where the plots folder goes")
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "out", "exists and is not a folder"),
                         (tmp_path / "file" / "sub", "cannot create the output folder")):
        assert main(["report", str(results), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    # A folder that refuses writes (root ignores permissions, so the write itself fails here).
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    assert main(["report", str(results), "--out", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the report (Permission denied)" in err and err.count("\n") == 1


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
        max_leaves=6)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(VALID)
MUTATIONS = {"count": 0}


@settings(max_examples=300)
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["set", "delete"]),
                                _json_values()), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_fuzz_mutated_files_load_or_fail_cleanly(tmp_path_factory: pytest.TempPathFactory,
                                                  edits: list, cut: int | None) -> None:
    """Replace or delete values at random places (and sometimes cut the text): loading,
    rendering and comparing either work or raise ReportError, nothing else."""
    MUTATIONS["count"] += 1
    data = copy.deepcopy(VALID)
    for path, op, value in edits:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            if op == "delete" and isinstance(node, dict):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this place
    text = json.dumps(data)
    if cut is not None:
        text = text[:cut]
    path = tmp_path_factory.mktemp("fuzz") / "r.json"
    path.write_text(text)
    try:
        run = report.load_run(path)
    except ReportError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    report.render_markdown([run])
    report.render_markdown([run, run])
    if run.results:
        c = compare.compare_runs(report.load_run(_write(path.parent / "base.json", BASE)), run)
        compare.render_markdown(c)
        compare.summary_lines(c)
