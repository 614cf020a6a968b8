"""``dskata compare``: the committee's table, its warnings and refusals, its three files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import golden, make_report, with_statuses

from dskata.report import write_all
from dskata.report.compare import (
    MixedExercises,
    build,
    compare_csv,
    render_compare_html,
    render_compare_md,
)
from dskata.results import Report


def trio() -> list[tuple[Path, Report]]:
    """Three candidates of one exercise: carol best, alice worst."""
    alice = make_report()
    bob = with_statuses(make_report(submission="bob"), RL_REDIS_CUT="passed")
    carol = with_statuses(make_report(submission="carol"), RL_THREADS="passed", RL_TESTS="passed")
    return [(Path(f"reports/{r.submission}/report.json"), r) for r in (alice, bob, carol)]


def test_rows_are_sorted_by_score_and_nothing_is_warned() -> None:
    comparison = build(trio())
    assert [r.label for r in comparison.rows] == ["carol", "bob", "alice"]
    assert comparison.warnings == []
    assert comparison.check_ids == [
        "RL-BURST",
        "RL-REFILL",
        "RL-THREADS",
        "RL-REDIS-CUT",
        "RL-TESTS",
    ]
    assert comparison.dimensions == ["correctness", "concurrency", "resilience", "testing"]


def test_markdown_matches_golden() -> None:
    golden("compare.md", render_compare_md(build(trio())))


def test_csv_matches_golden() -> None:
    golden("compare.csv", compare_csv(build(trio())))


def test_csv_has_one_row_per_candidate() -> None:
    rows = list(csv.DictReader(io.StringIO(compare_csv(build(trio())))))
    assert [r["candidate"] for r in rows] == ["carol", "bob", "alice"]
    assert rows[2]["RL-THREADS"] == "failed" and rows[0]["RL-THREADS"] == "passed"
    assert rows[2]["concurrency points"] == "0" and rows[2]["concurrency max"] == "5"


def test_csv_quotes_a_label_a_spreadsheet_would_run() -> None:
    evil = make_report(submission="=HYPERLINK(1)")
    rows = list(csv.reader(io.StringIO(compare_csv(build([(Path("x/report.json"), evil)])))))
    assert rows[1][1] == "'=HYPERLINK(1)"


def test_differences_are_warned_loudly() -> None:
    loaded = trio()
    loaded[1][1].kit_version = "0.2.0"
    loaded[2][1].parts = [1]
    loaded[2][1].seed_profile = "cycle-2026q4"
    comparison = build(loaded)
    text = " ".join(comparison.warnings)
    assert "kit version — 0.1.0: alice; 0.2.0: bob" in text.replace("carol, ", "")
    assert "parts" in text and "seed profile" in text
    html = render_compare_html(comparison)
    assert 'class="banner" role="alert"' in html and "differ in kit version" in html
    assert "⚠ These reports are not all comparable" in render_compare_md(comparison)


def test_different_exercises_are_refused_unless_forced() -> None:
    loaded = trio()
    loaded[0][1].exercise = "idempotency"
    with pytest.raises(MixedExercises, match="--force"):
        build(loaded)
    forced = build(loaded, force=True)
    assert "different exercises" in forced.warnings[0]


def test_same_labels_are_told_apart() -> None:
    a, b = make_report(), make_report()
    comparison = build(
        [(Path("cycle1/alice/report.json"), a), (Path("cycle2/alice/report.json"), b)]
    )
    assert sorted(r.label for r in comparison.rows) == ["alice (alice)", "alice (alice)′"]


def test_an_incomplete_grading_is_flagged() -> None:
    loaded = trio()
    loaded[0][1].infra_error = "redis-server would not start"
    comparison = build(loaded)
    assert any("Incomplete gradings" in w and "alice" in w for w in comparison.warnings)


# --- the command ------------------------------------------------------------------------


def dskata(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dskata", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def written(tmp_path: Path, loaded: list[tuple[Path, Report]]) -> list[Path]:
    paths = []
    for _, report in loaded:
        out = tmp_path / "reports" / report.submission
        write_all(report, out)
        paths.append(out / "report.json")
    return paths


def test_compare_writes_three_files_and_links_each_report(tmp_path: Path) -> None:
    paths = written(tmp_path, trio())
    done = dskata("compare", *paths, "--out", tmp_path / "committee")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "committee"
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.html", "compare.md"]
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert 'href="../reports/carol/report.html"' in html
    assert "WARNING" not in done.stderr


def test_compare_warns_but_exits_0_when_reports_differ(tmp_path: Path) -> None:
    loaded = trio()
    loaded[1][1].seed_profile_sha256 = "ab" * 32
    done = dskata("compare", *written(tmp_path, loaded), "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "WARNING" in done.stderr and "seed profile" in done.stderr


def test_compare_refuses_different_exercises_with_exit_2(tmp_path: Path) -> None:
    loaded = trio()
    loaded[0][1].exercise = "idempotency"
    paths = written(tmp_path, loaded)
    done = dskata("compare", *paths, "--out", tmp_path / "c")
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and "--force" in done.stderr
    assert not (tmp_path / "c").exists()
    assert dskata("compare", *paths, "--out", tmp_path / "c", "--force").returncode == 0


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read report"),
        ("{not json", "is not a JSON report"),
        ('{"hello": "world"}', "is not a dskata report"),
        ("newer", "newer dskata"),
    ],
    ids=["missing", "not-json", "not-a-report", "newer-schema"],
)
def test_compare_refuses_what_it_cannot_read_with_exit_2(
    tmp_path: Path, content: str | None, words: str
) -> None:
    good = written(tmp_path, trio()[:1])[0]
    bad = tmp_path / "bad.json"
    if content == "newer":
        data = json.loads(good.read_text(encoding="utf-8"))
        data["schema_version"] = 2
        content = json.dumps(data)
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    done = dskata("compare", good, bad, "--out", tmp_path / "c")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and words in done.stderr and str(bad) in done.stderr
    assert "Traceback" not in done.stderr
