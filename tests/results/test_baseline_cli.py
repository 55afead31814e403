"""``--baseline``, ``--max-changed-frames``, ``--min-accuracy``: real runs of the bundled clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.sim.samples import sample_path
from lvatool.testing import serve
from tests.results.processors import Detector, FlipEveryTenth
from tests.sim.simrun import run

FRAMES = "100"


@pytest.fixture(scope="module")
def reference_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 frames of the bundled clip through the reference classifier."""
    path = tmp_path_factory.mktemp("baseline") / "reference.jsonl"
    code, _, output = run("--max-frames", FRAMES, "--results", str(path))
    assert code == 0, output
    return path


def test_a_baseline_compared_with_itself_shows_no_change(reference_baseline: Path) -> None:
    code, summary, output = run("--max-frames", FRAMES, "--baseline", str(reference_baseline))
    assert code == 0, output
    diff = summary["baseline"]
    assert (diff["frames_compared"], diff["frames_changed"]) == (100, 0)
    assert set(diff["changes"].values()) == {0}
    assert diff["changed_frames"] == [] and diff["warnings"] == []


def test_flipped_labels_are_reported_frame_by_frame(reference_baseline: Path) -> None:
    """Frames 0, 10, … 90 flipped: exactly those, as label changes; 10 % over the 0 % default."""
    with serve(FlipEveryTenth()) as address:
        common = (
            "--target",
            address,
            "--max-frames",
            FRAMES,
            "--baseline",
            str(reference_baseline),
        )
        code, summary, output = run(*common)
        assert code == 1
        assert "10 of 100 frames (10.0 %) changed from the baseline, more than " \
            "--max-changed-frames 0 %" in output  # fmt: skip
        diff = summary["baseline"]
        assert diff["changed_frames"] == [[0, index] for index in range(0, 100, 10)]
        assert diff["changes"]["label"] == 10 and sum(diff["changes"].values()) == 10
        assert [frame["index"] for frame in diff["worst"]] == list(range(0, 100, 10))
        assert diff["worst"][0]["changes"][0]["kind"] == "label"

        code, _, output = run(*common, "--max-changed-frames", "10")
        assert code == 0, output
        code, _, output = run(*common, "--max-changed-frames", "9.5")
        assert code == 1, output
        # The flipped frames miss the ground truth too: 90 % accuracy.
        code, _, output = run(*common, "--max-changed-frames", "10", "--min-accuracy", "90")
        assert code == 0, output
        code, _, output = run(*common, "--max-changed-frames", "10", "--min-accuracy", "95")
        assert code == 1
        assert (
            "90 of 100 results match the ground truth (90.0 %), below --min-accuracy 95 %" in output
        )


def test_the_printed_diff_names_counts_worst_frames_and_latency(reference_baseline: Path) -> None:
    with serve(FlipEveryTenth()) as address:
        result = CliRunner().invoke(app, [
            "simulate", "--target", address, "--max-frames", "30",
            "--baseline", str(reference_baseline), "--max-changed-frames", "50",
        ])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.output
    assert "baseline: 3 of 30 frames changed (10.0 %): label 3" in text
    assert "changed frames: 0, 10, 20" in text
    assert "latency p50 " in text
    assert "70 frames of the baseline have no counterpart in this run" in text


def test_boxes_that_moved_and_confidences_that_moved(tmp_path: Path) -> None:
    baseline = tmp_path / "cars.jsonl"
    with serve(Detector()) as address:
        code, _, output = run("--target", address, "--max-frames", "20", "--results", str(baseline))
        assert code == 0, output
    changed = Detector(moved={3}, less_sure={5}, extra={7}, missing={9})
    with serve(changed) as address:
        common = ("--target", address, "--max-frames", "20", "--baseline", str(baseline))
        code, summary, output = run(*common)
        assert code == 1, output
        diff = summary["baseline"]
        assert diff["changed_frames"] == [[0, 3], [0, 5], [0, 7], [0, 9]]
        kinds = {frame["index"]: frame["changes"][0]["kind"] for frame in diff["worst"]}
        assert kinds == {3: "moved", 5: "confidence", 7: "appeared", 9: "vanished"}
        assert diff["changes"] == {"status": 0, "label": 0, "appeared": 1, "vanished": 1,
                                   "moved": 1, "confidence": 1}  # fmt: skip
        # The thresholds decide: IoU 1/3 passes 0.3; a 0.3 confidence move passes 0.5.
        code, summary, _ = run(*common, "--baseline-iou", "0.3", "--baseline-confidence", "0.5")
        assert summary["baseline"]["changed_frames"] == [[0, 7], [0, 9]]
        assert summary["baseline"]["thresholds"] == {"iou": 0.3, "confidence": 0.5}


def test_a_single_stream_baseline_checks_every_stream(reference_baseline: Path) -> None:
    code, summary, output = run(
        "--streams", "2", "--max-frames", "50", "--baseline", str(reference_baseline)
    )
    assert code == 0, output
    diff = summary["baseline"]
    assert (diff["frames_compared"], diff["frames_changed"], diff["only_in_baseline"]) == (
        100,
        0,
        50,
    )


def test_another_format_is_compared_with_a_warning(reference_baseline: Path) -> None:
    code, summary, output = run(
        "--max-frames", "20", "--format", "raw", "--baseline", str(reference_baseline),
        "--max-changed-frames", "100",
    )  # fmt: skip
    assert code == 0, output
    assert summary["baseline"]["warnings"][0] == (
        "the baseline's frames were JPG 640x360, this run's RAW BGR24 640x360: "
        "some changes may come from the format alone"
    )


def test_min_accuracy_passes_on_the_reference() -> None:
    code, summary, output = run("--max-frames", "30", "--min-accuracy", "100")
    assert code == 0, output
    assert summary["truth"]["accuracy"] == 1.0


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def bad_options(tmp: Path, baseline: Path) -> dict[str, tuple[list[str], str]]:
    """Each mistake: its options and the sentence it gets."""
    other_clip = str(sample_path("bars1080.mp4"))
    not_results, broken = tmp / "summary.jsonl", tmp / "broken.jsonl"
    return {
        "results not jsonl or csv": (["--results", str(tmp / "r.txt")],
                                     "must end in .jsonl (JSON lines) or .csv"),
        "results in a missing folder": (["--results", str(tmp / "no" / "r.jsonl")],
                                        "does not exist"),
        "baseline missing": (["--baseline", str(tmp / "missing.jsonl")], "cannot be read"),
        "baseline a CSV": (["--baseline", str(tmp / "b.csv")], "is a CSV file"),
        "baseline not a results file": (["--baseline", str(not_results)],
                                        "is not a results file"),
        "baseline with a broken line": (["--baseline", str(broken)], "line 2 is not JSON"),
        "baseline of another clip": (["--video", other_clip, "--baseline", str(baseline)],
                                     "was recorded from another clip, daynight.mp4"),
        "same file twice": (["--results", str(baseline), "--baseline", str(baseline)],
                            "would overwrite its own baseline"),
        "threshold without baseline": (["--max-changed-frames", "5"],
                                       "--max-changed-frames needs --baseline FILE"),
        "iou without baseline": (["--baseline-iou", "0.4"], "--baseline-iou needs --baseline"),
        "accuracy without truth": (["--video", str(sample_path()), "--min-accuracy", "90"],
                                   "--min-accuracy needs a ground truth"),
        "with the capacity search": (["--results", str(tmp / "r.jsonl"), "--find-capacity"],
                                     "--results does not apply to --find-capacity"),
        "iou above 1": (["--baseline", str(baseline), "--baseline-iou", "1.5"], "baseline-iou"),
    }  # fmt: skip


@pytest.mark.parametrize("mistake", list(bad_options(Path("/tmp"), Path("/tmp/b.jsonl"))))
def test_bad_options_exit_2_with_one_sentence(
    mistake: str, tmp_path: Path, reference_baseline: Path
) -> None:
    args, sentence = bad_options(tmp_path, reference_baseline)[mistake]
    _write(tmp_path / "b.csv", "stream,index\n")
    _write(tmp_path / "summary.jsonl", '{"frames_sent": 3}\n')
    header = reference_baseline.read_text().splitlines()[0]
    _write(tmp_path / "broken.jsonl", header + "\n{oops\n")
    result = CliRunner().invoke(app, ["simulate", "--quiet", "--max-frames", "5", *args])
    assert result.exit_code == 2, result.output
    assert sentence in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.jsonl").exists()  # nothing made for a run that never ran
    assert json.loads(reference_baseline.read_text().splitlines()[0])["kind"] == "run"
