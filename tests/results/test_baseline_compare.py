"""The baseline comparison (lvatool.results.baseline), fed records by hand: no run, no files."""

from __future__ import annotations

import copy

import pytest

from lvatool.results.baseline import (
    CHANGED_FRAMES_KEPT,
    WORST_FRAMES,
    BaselineComparer,
    Thresholds,
    compare_frames,
    format_warning,
    iou,
)
from lvatool.results.judge import accuracy_verdict, baseline_verdict, diff_lines
from tests.results.builders import classified, detected, frame

DEFAULT = Thresholds()
CAR = (0.1, 0.1, 0.2, 0.2)


def kinds(changes: tuple[object, ...]) -> list[str]:
    return sorted(change.kind for change in changes)  # type: ignore[attr-defined]


def test_iou() -> None:
    assert iou(CAR, CAR) == pytest.approx(1.0)
    assert iou(CAR, (0.2, 0.1, 0.2, 0.2)) == pytest.approx(1 / 3)  # half overlaps
    assert iou(CAR, (0.5, 0.5, 0.1, 0.1)) == 0.0
    assert iou(CAR, (0.1, 0.1, 0.0, 0.0)) == 0.0  # an empty box overlaps nothing


def test_identical_frames_have_no_change() -> None:
    same = frame(3, classified("dark"), detected("car", CAR))
    assert compare_frames(same, same, DEFAULT) == ()


def test_a_flipped_classification_is_one_label_change() -> None:
    changes = compare_frames(frame(1, classified("dark")), frame(1, classified("light")), DEFAULT)
    assert kinds(changes) == ["label"]
    assert changes[0].detail == "dark → light"


def test_a_box_that_moved_under_the_iou_threshold() -> None:
    moved = (0.2, 0.1, 0.2, 0.2)  # IoU 1/3
    changes = compare_frames(
        frame(1, detected("car", CAR)), frame(1, detected("car", moved)), DEFAULT
    )
    assert kinds(changes) == ["moved"]
    assert "IoU 0.33" in changes[0].detail
    lenient = Thresholds(iou=0.3)
    assert (
        compare_frames(frame(1, detected("car", CAR)), frame(1, detected("car", moved)), lenient)
        == ()
    )


def test_confidence_moves_over_the_threshold_only() -> None:
    base = frame(1, detected("car", CAR, 0.9))
    assert compare_frames(base, frame(1, detected("car", CAR, 0.85)), DEFAULT) == ()
    changes = compare_frames(base, frame(1, detected("car", CAR, 0.6)), DEFAULT)
    assert kinds(changes) == ["confidence"]
    assert changes[0].detail == "car confidence 0.90 → 0.60"


def test_entities_appearing_and_vanishing() -> None:
    base = frame(1, detected("car", CAR), detected("person", (0.6, 0.6, 0.1, 0.3)))
    now = frame(1, detected("car", CAR), detected("dog", (0.0, 0.7, 0.1, 0.1)))
    assert kinds(compare_frames(base, now, DEFAULT)) == ["appeared", "vanished"]


def test_a_retagged_box_in_place_is_a_label_change() -> None:
    changes = compare_frames(
        frame(1, detected("car", CAR)), frame(1, detected("truck", CAR)), DEFAULT
    )
    assert kinds(changes) == ["label"]
    assert changes[0].detail.startswith("car @[0.10,0.10,0.20,0.20] → truck")


def test_boxes_pair_by_best_overlap_whatever_their_order() -> None:
    left, right = (0.0, 0.0, 0.2, 0.2), (0.7, 0.7, 0.2, 0.2)
    base = frame(1, detected("car", left), detected("car", right))
    assert (
        compare_frames(base, frame(1, detected("car", right), detected("car", left)), DEFAULT) == ()
    )


def test_a_status_change_is_reported_instead_of_its_inferences() -> None:
    changes = compare_frames(frame(1, classified("dark")), frame(1, status="dropped"), DEFAULT)
    assert [(c.kind, c.detail) for c in changes] == [("status", "acked → dropped")]
    assert compare_frames(frame(1, status="dropped"), frame(1, status="dropped"), DEFAULT) == ()


def test_comparer_counts_and_names_exactly_the_changed_frames() -> None:
    baseline = [frame(i, classified("dark")) for i in range(100)]
    comparer = BaselineComparer(baseline, DEFAULT)
    for i in range(100):
        comparer.add(frame(i, classified("light" if i % 10 == 0 else "dark")))
    diff = comparer.diff()
    assert (diff.frames_compared, diff.frames_changed) == (100, 10)
    assert diff.changed_pct == pytest.approx(10.0)
    assert diff.kinds["label"] == 10 and sum(diff.kinds.values()) == 10
    assert diff.changed_frames == [(0, i) for i in range(0, 100, 10)]
    assert [f.index for f in diff.worst] == list(range(0, 100, 10))  # equal: earliest first
    assert baseline_verdict(diff, 10.0) is None
    assert baseline_verdict(diff, 9.9) == (
        "10 of 100 frames (10.0 %) changed from the baseline, more than --max-changed-frames 9.9 %"
    )
    text = "\n".join(diff_lines(diff))
    assert "10 of 100 frames changed (10.0 %): label 10" in text
    assert "changed frames: 0, 10, 20, 30, 40, 50, 60, 70, 80, 90" in text


def test_worst_frames_are_the_most_severe_and_bounded() -> None:
    baseline = [frame(i, classified("dark", 0.9)) for i in range(50)]
    comparer = BaselineComparer(baseline, DEFAULT)
    for i in range(50):
        now = frame(i, classified("dark", 0.5)) if i != 33 else frame(i, status="timed_out")
        comparer.add(now)
    diff = comparer.diff()
    assert len(diff.worst) == WORST_FRAMES
    assert diff.worst[0].index == 33 and diff.worst[0].changes[0].kind == "status"


def test_changed_frames_list_is_capped() -> None:
    count = CHANGED_FRAMES_KEPT + 5
    comparer = BaselineComparer([frame(i, classified("a")) for i in range(count)], DEFAULT)
    for i in range(count):
        comparer.add(frame(i, classified("b")))
    diff = comparer.diff()
    assert diff.frames_changed == count
    assert len(diff.changed_frames) == CHANGED_FRAMES_KEPT and diff.changed_frames_truncated
    assert diff_lines(diff)[-1].endswith(", 19 and 985 more")  # 20 listed


def test_a_single_stream_baseline_is_every_streams_reference() -> None:
    comparer = BaselineComparer([frame(i, classified("dark")) for i in range(10)], DEFAULT)
    for stream in range(3):
        for i in range(10):
            flipped = stream == 2 and i == 4
            comparer.add(frame(i, classified("light" if flipped else "dark"), stream=stream))
    diff = comparer.diff()
    assert (diff.frames_compared, diff.only_in_run, diff.only_in_baseline) == (30, 0, 0)
    assert diff.changed_frames == [(2, 4)]
    assert "stream 2 frame 4: label dark → light" in "\n".join(diff_lines(diff))


def test_frames_on_one_side_only_are_counted_not_judged() -> None:
    baseline = [frame(i, classified("dark"), stream=s) for s in (0, 1) for i in range(20)]
    comparer = BaselineComparer(baseline, DEFAULT)
    for s in (0, 1, 2):  # one stream more, and fewer frames
        for i in range(10):
            comparer.add(frame(i, classified("dark"), stream=s))
    diff = comparer.diff()
    assert (diff.frames_compared, diff.frames_changed) == (20, 0)
    assert (diff.only_in_baseline, diff.only_in_run) == (20, 10)
    assert len(diff.warnings) == 2
    assert baseline_verdict(diff, 0.0) is None


def test_nothing_compared_fails() -> None:
    empty = BaselineComparer([], DEFAULT)
    empty.add(frame(0, classified("dark")))
    verdict = baseline_verdict(empty.diff(), 100.0)
    assert verdict is not None and "nothing was compared" in verdict


def test_latency_percentiles_of_both_runs() -> None:
    comparer = BaselineComparer([frame(i, latency_ms=10.0) for i in range(100)], DEFAULT)
    for i in range(100):
        comparer.add(frame(i, latency_ms=20.0))
    diff = comparer.diff()
    assert diff.latency_baseline["p50"] == pytest.approx(10.0, rel=0.02)
    assert diff.latency_run["p99"] == pytest.approx(20.0, rel=0.02)
    assert "latency p50 10.00 → 20.00 ms" in diff_lines(diff)[0]


def test_format_warning() -> None:
    jpeg = {"encoding": "JPG", "pixel_format": None, "width": 640, "height": 360}
    raw = {"encoding": "RAW", "pixel_format": "BGR24", "width": 640, "height": 360}
    assert format_warning(jpeg, dict(jpeg)) is None
    assert format_warning(jpeg, raw) == (
        "the baseline's frames were JPG 640x360, this run's RAW BGR24 640x360: "
        "some changes may come from the format alone"
    )


def test_accuracy_verdict() -> None:
    assert accuracy_verdict(99, 100, 99.0) is None
    assert accuracy_verdict(98, 100, 99.0) == (
        "98 of 100 results match the ground truth (98.0 %), below --min-accuracy 99 %"
    )
    assert accuracy_verdict(0, 0, 1.0) is not None  # nothing answered: no accuracy


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="IoU"):
        Thresholds(iou=1.5)
    with pytest.raises(ValueError, match="confidence"):
        Thresholds(confidence=-0.1)


def test_the_diff_in_the_summary_schema() -> None:
    """The ``baseline`` object of ``--json``: valid as built, invalid when broken."""
    from tests.schemas import assert_valid, schema_errors
    from tests.test_schemas import summary

    comparer = BaselineComparer([frame(i, classified("dark")) for i in range(5)], DEFAULT)
    for i in range(6):
        comparer.add(frame(i, classified("light" if i == 2 else "dark")))
    document = dict(summary("embedded"), baseline=comparer.diff().as_dict())
    assert_valid(document, "simulate-summary")
    for mistake in ("a kind missing", "a percentage over 100", "an unknown change kind"):
        broken = copy.deepcopy(document)
        if mistake == "a kind missing":
            broken["baseline"]["changes"].pop("label")
        elif mistake == "a percentage over 100":
            broken["baseline"]["changed_pct"] = 150
        else:
            broken["baseline"]["worst"][0]["changes"][0]["kind"] = "renamed"
        assert schema_errors(broken, "simulate-summary"), mistake
