"""The report's aggregation (lvatool.html_report.timeline, .picker): fed records, no run."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvatool.html_report.picker import EvenPicker
from lvatool.html_report.timeline import LatencyBins, Timeline
from lvatool.sim.observe import FrameRecord, FrameStatus, RunSample


def _record(
    status: FrameStatus = "acked",
    *,
    sent_s: float | None = 0.0,
    acked_s: float | None = None,
    latency_ms: float | None = None,
    index: int = 0,
) -> FrameRecord:
    return FrameRecord(
        stream=0,
        index=index,
        time_s=0.0,
        timestamp=0,
        sequence=None if sent_s is None else index + 1,
        sent_s=sent_s,
        acked_s=acked_s,
        latency_ms=latency_ms,
        service_ms=latency_ms,
        status=status,
    )


def _exact(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile, the definition LatencyBins approximates."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@given(
    st.lists(st.floats(min_value=0.002, max_value=600_000.0), min_size=1, max_size=400),
    st.sampled_from([0.5, 0.9, 0.99, 1.0]),
)
def test_a_percentile_from_the_bins_is_within_one_percent_of_the_exact_one(
    values: list[float], fraction: float
) -> None:
    bins = LatencyBins()
    for value in values:
        bins.add(value)
    found = bins.percentile(fraction)
    assert found is not None
    exact = _exact(values, fraction)
    assert exact / 1.0101 <= found <= exact * 1.0101
    assert bins.percentile(1.0) == max(values)


def test_bins_stay_few_however_many_latencies_are_counted() -> None:
    bins = LatencyBins()
    for i in range(200_000):
        bins.add(5 + (i % 1000) / 10)  # 5 to 105 ms, evenly
    assert bins.count == 200_000
    assert bins.distinct_bins <= math.ceil(math.log(105 / 5) / math.log(1.02)) + 1
    assert sum(count for _, _, count in bins.bars()) == 200_000
    assert LatencyBins().percentile(0.5) is None


def test_each_second_has_its_own_throughput_and_percentiles() -> None:
    timeline = Timeline()
    # Second 0: 10 frames at 10 ms; second 1: 99 frames at 20 ms and one at 500 ms.
    for i in range(10):
        timeline.record(_record(sent_s=0.05 * i, acked_s=0.05 * i + 0.01, latency_ms=10), 0.5)
    for i in range(100):
        latency = 500.0 if i == 99 else 20.0
        timeline.record(
            _record(sent_s=1 + 0.009 * i, acked_s=1.001 + 0.009 * i, latency_ms=latency), 1.5
        )
    series = timeline.series()
    assert series.width_s == 1.0
    assert series.start_s == [0.0, 1.0]
    assert series.p50_ms[0] == pytest.approx(10, rel=0.01)
    assert series.p50_ms[1] == pytest.approx(20, rel=0.01)
    assert series.p99_ms[1] == pytest.approx(20, rel=0.01)  # the 99th of 100 is still 20 ms
    assert timeline.latency.percentile(1.0) == 500.0
    # Rates are over the part of each second the run covered (0.0 to 1.892 s here).
    assert series.acked_per_s[0] == pytest.approx(10 / 1.0)
    assert series.acked_per_s[1] == pytest.approx(100 / (1.892 - 1.0))
    assert series.mid_s[1] == pytest.approx((1.0 + 1.892) / 2)


def test_drops_and_timeouts_are_placed_when_the_stream_gave_up_on_them() -> None:
    timeline = Timeline()
    timeline.record(_record(sent_s=0.2, acked_s=0.3, latency_ms=100), 0.3)
    timeline.record(_record("dropped", sent_s=None), 2.5)
    timeline.record(_record("dropped", sent_s=None), 2.7)
    timeline.record(_record("timed_out", sent_s=0.4), 3.4)
    timeline.record(_record("interrupted", sent_s=0.5), 4.1)
    series = timeline.series()
    assert series.dropped == [0, 0, 2, 0, 0]
    assert series.timed_out == [0, 0, 0, 1, 0]
    assert series.interrupted == [0, 0, 0, 0, 1]
    assert sum(series.sent_per_s[:1]) == pytest.approx(3 / (1.0 - 0.2))  # sent in second 0
    assert series.p50_ms[1:] == [None] * 4  # nothing acknowledged after second 0


def test_samples_keep_the_highest_in_flight_and_memory_of_each_second() -> None:
    timeline = Timeline()
    for t, in_flight, used in ((0.1, 3, 100), (0.3, 8, 900), (0.5, 5, 400), (2.2, 1, 50)):
        timeline.sample(RunSample(t, 0, 0, in_flight, used, 1000))
    series = timeline.series()
    assert series.in_flight_max == [8, None, 1]
    assert series.shm_bytes_max == [900, None, 50]


def test_a_long_run_merges_neighbouring_buckets_and_loses_no_frame() -> None:
    timeline = Timeline(max_buckets=10)
    for i in range(1000):  # 100 s at 10 frames/s
        t = i / 10
        timeline.record(_record(sent_s=t, acked_s=t + 0.01, latency_ms=1 + i % 7, index=i), t)
        timeline.sample(RunSample(t, i, i, i % 5, 0, 0))
    assert timeline.bucket_count <= 10
    series = timeline.series()
    assert series.width_s == 16.0  # 1 → 2 → 4 → 8 → 16 s: 100 s in 7 buckets
    assert len(series.start_s) == 7
    assert sum(b.acked for b in timeline._buckets.values()) == 1000
    assert timeline.latency.count == 1000
    assert max(v for v in series.in_flight_max if v is not None) == 4


@given(st.integers(min_value=2, max_value=40), st.integers(min_value=0, max_value=3000))
def test_the_picker_keeps_evenly_spaced_items_and_never_more_than_its_capacity(
    capacity: int, offered: int
) -> None:
    picker: EvenPicker[int] = EvenPicker(capacity)
    for item in range(offered):
        picker.offer(item)
    kept = picker.items()
    assert len(kept) <= capacity
    assert kept == picker.positions() == list(range(0, offered, picker.step))
    if offered >= capacity:
        assert len(kept) >= capacity // 2
    else:
        assert kept == list(range(offered))


def test_offer_says_whether_the_item_is_kept_for_now() -> None:
    picker: EvenPicker[str] = EvenPicker(4)
    answers = [picker.offer(name) for name in "abcdefghi"]
    assert answers == [True, True, True, True, True, False, True, False, True]
    assert picker.items() == ["a", "e", "i"]  # "i" made five: every other one was let go
    assert picker.step == 4
