"""The new paths' rows of `make bench` (bench/path_rows.py, bench/paths_wrk.py): what the table
prints, how a wrk summary becomes a row, and the request lines the wrk script reads."""

from __future__ import annotations

import pytest

from bench import exports_bench, new_paths, paths_wrk
from bench.path_rows import HEADER, RULE, Row, format_row, percentile, slowdown, table
from bench.sse import SSEResult


def test_a_row_prints_its_figures_and_a_dash_where_one_does_not_apply() -> None:
    row = Row("compliance export PDF", p50_ms=10234.56, worst_ms=11000.0, note="3 runs")
    assert format_row(row) == "| compliance export PDF | – | 10,234.6 | – | 11,000.0 | 0 | 3 runs |"
    rated = Row("staff queue GET /mod", 1234.4, 12.34, 56.78, None, 2, "HTML")
    assert format_row(rated) == "| staff queue GET /mod | 1,234 | 12.3 | 56.8 | – | 2 | HTML |"


def test_the_table_has_one_line_per_row_under_its_header() -> None:
    lines = table([Row("a", 1.0), Row("b", 2.0)]).splitlines()
    assert lines[:2] == [HEADER, RULE]
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| a", "| b"]
    assert all(line.count("|") == HEADER.count("|") for line in lines)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_slowdown_compares_latencies_and_is_zero_without_a_baseline() -> None:
    assert slowdown(2.0, 5.0) == 2.5
    assert slowdown(0.0, 5.0) == 0.0


def test_a_wrk_summary_becomes_a_rate_and_milliseconds() -> None:
    result = paths_wrk.parse(
        {
            "requests": 3000,
            "duration_us": 2_000_000,
            "errors": {"connect": 0, "read": 1, "write": 0, "status": 2, "timeout": 0},
            "p50_us": 1500,
            "p99_us": 9000,
            "mean_us": 2000.0,
        }
    )
    assert result.rate == 1500.0
    assert (result.p50_ms, result.p99_ms, result.errors) == (1.5, 9.0, 3)
    assert result.row("x").rate == 1500.0


def test_a_request_line_carries_its_headers_and_body_for_the_wrk_script() -> None:
    request = paths_wrk.HeaderRequest(
        "POST", "/mod/login", {"Cookie": "a=b; c=d", "Content-Type": "x"}, "email=e&password=p"
    )
    line = paths_wrk.request_line(request)
    method, path, headers, body = line.rstrip("\n").split("\t")
    assert (method, path, body) == ("POST", "/mod/login", "email=e&password=p")
    assert headers.split(paths_wrk.SEPARATOR) == ["Cookie: a=b; c=d", "Content-Type: x"]
    with pytest.raises(ValueError):
        paths_wrk.request_line(paths_wrk.HeaderRequest("GET", "/a\tb"))


def test_export_and_delivery_rows_summarise_their_runs() -> None:
    runs = [
        {"seconds": s, "cpu_seconds": c, "rss_growth_mb": r, "bytes": 2 * 2**20}
        for s, c, r in ((3.0, 2.0, 10.0), (5.0, 4.0, 30.0), (4.0, 3.0, 20.0))
    ]
    row = exports_bench.row("pdf", 10_000, runs)
    assert (row.p50_ms, row.worst_ms, row.rate) == (4000.0, 5000.0, None)
    assert row.note == "3 runs; CPU 3.0 s, peak RSS +30.0 MB, 2.0 MB out"
    delivered = new_paths.sse_row(SSEResult(1000, 300, 298, 0, 5.0, 40.0, 90.0, 12.0))
    assert (delivered.p50_ms, delivered.p99_ms, delivered.worst_ms) == (5.0, 40.0, 90.0)
    assert delivered.errors == 2
    assert delivered.note.startswith("298 of 300 delivered")


def test_a_path_that_fails_becomes_one_row_saying_so() -> None:
    def broken() -> list[Row]:
        raise RuntimeError("GET /mod answered 500")

    assert new_paths.attempt("staff queue", lambda: [Row("ok", 1.0)]) == [Row("ok", 1.0)]
    [failed] = new_paths.attempt("staff queue", broken)
    assert failed.errors == 1
    assert failed.note == "failed: RuntimeError: GET /mod answered 500"
