"""The capacity search's plan and verdicts (lvatool.sim.capacity), on plain numbers.

The plan is a pure function of the steps judged so far, so it is driven here by an
oracle that passes every count up to a chosen capacity: whatever the capacity and the
limit, the search must find it, never try a count twice, and stay within its bound.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvatool.sim.capacity import (
    Criteria,
    Outcome,
    StepFigures,
    StepResult,
    camera_rate,
    conclude,
    default_warmup_s,
    judge,
    next_streams,
    plan_length_bound,
)

CRITERIA = Criteria(slo_p99_ms=200.0, max_in_flight=8)


def figures(streams: int = 4, **changes: object) -> StepFigures:
    """A healthy step of ``streams`` cameras at 10 frames/s over a 10 s window."""
    values: dict[str, object] = dict(
        streams=streams,
        camera_fps=10.0,
        window_s=10.0,
        frames_sent=100 * streams,
        frames_acked=100 * streams,
        p50_ms=20.0,
        p99_ms=80.0,
        mean_in_flight=0.5 * streams,
        cpu_s=2.0,
        usable_cores=2,
    )
    values.update(changes)
    return StepFigures(**values)  # type: ignore[arg-type]


def passing(streams: int) -> StepResult:
    return StepResult(figures(streams))


def failing(streams: int, bottleneck: str | None = None) -> StepResult:
    return StepResult(figures(streams), ("p99 900 ms over the 200 ms SLO",), bottleneck)


def search(
    max_streams: int, verdict: Callable[[int], StepResult]
) -> tuple[list[int], list[StepResult]]:
    """Run the plan against an oracle; the counts it tried, in order, and the results."""
    results: list[StepResult] = []
    tried: list[int] = []
    while (streams := next_streams(max_streams, results)) is not None:
        tried.append(streams)
        results.append(verdict(streams))
        assert len(tried) <= plan_length_bound(max_streams), tried
    return tried, results


# -- the plan ----------------------------------------------------------------------------


def test_ramps_by_doubling_then_bisects_between_last_pass_and_first_fail() -> None:
    tried, results = search(256, lambda n: passing(n) if n <= 23 else failing(n))
    assert tried == [1, 2, 4, 8, 16, 32, 24, 20, 22, 23]
    answer = conclude(results)
    assert (answer.outcome, answer.cameras) == (Outcome.CAPACITY, 23)
    assert answer.passed is not None and answer.passed.streams == 23
    assert answer.failed is not None and answer.failed.streams == 24


def test_the_ramp_stops_at_max_streams_and_says_at_least() -> None:
    tried, results = search(12, passing)
    assert tried == [1, 2, 4, 8, 12]
    answer = conclude(results)
    assert (answer.outcome, answer.cameras, answer.failed) == (Outcome.AT_LEAST, 12, None)


def test_a_failure_at_max_streams_is_bisected_below_it() -> None:
    tried, results = search(12, lambda n: passing(n) if n <= 9 else failing(n))
    assert tried == [1, 2, 4, 8, 12, 10, 9]
    assert conclude(results).cameras == 9


def test_one_camera_failing_ends_the_search_with_none() -> None:
    tried, results = search(256, failing)
    assert tried == [1]
    answer = conclude(results)
    assert (answer.outcome, answer.cameras, answer.passed) == (Outcome.NONE, 0, None)


def test_capacity_bounded_by_a_simulator_limited_failure_is_not_reported() -> None:
    def verdict(n: int) -> StepResult:
        return passing(n) if n <= 5 else failing(n, bottleneck="simulate used 2.00 of 2 cores")

    _, results = search(8, verdict)
    answer = conclude(results)
    assert answer.outcome is Outcome.SIMULATOR_LIMITED
    assert answer.cameras == 5  # still a valid lower bound
    assert answer.failed is not None and answer.failed.streams == 6


def test_a_simulator_limited_failure_above_an_extension_failure_does_not_matter() -> None:
    results = [passing(1), passing(2), passing(4), failing(8, "simulate used 1.9 of 2 cores")]
    results += [failing(6), passing(5)]
    assert next_streams(256, results) is None
    answer = conclude(results)
    assert (answer.outcome, answer.cameras) == (Outcome.CAPACITY, 5)


def test_max_streams_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_streams"):
        next_streams(0, [])


@given(max_streams=st.integers(1, 300), data=st.data())
def test_any_capacity_is_found_exactly_without_repeating_a_step(
    max_streams: int, data: st.DataObject
) -> None:
    capacity = data.draw(st.integers(0, max_streams), label="capacity")
    tried, results = search(max_streams, lambda n: passing(n) if n <= capacity else failing(n))
    assert len(set(tried)) == len(tried)
    assert all(1 <= n <= max_streams for n in tried)
    answer = conclude(results)
    assert answer.cameras == capacity
    if capacity == max_streams:
        assert answer.outcome is Outcome.AT_LEAST
    elif capacity == 0:
        assert answer.outcome is Outcome.NONE
    else:
        assert answer.outcome is Outcome.CAPACITY
        assert answer.failed is not None and answer.failed.streams == capacity + 1


# -- the verdict ---------------------------------------------------------------------------


def test_a_healthy_step_passes() -> None:
    result = judge(figures(), CRITERIA)
    assert result.passed and result.reasons == () and result.simulator_bottleneck is None


def test_one_frame_per_camera_of_slack_for_where_the_window_falls() -> None:
    expected = 4 * 10 * 10  # 4 cameras, 10 frames/s, 10 s
    edge = int(0.95 * expected) - 4
    assert judge(figures(frames_acked=edge), CRITERIA).passed
    assert not judge(figures(frames_acked=edge - 1), CRITERIA).passed


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"frames_acked": 300}, "acked 30.0 of 40.0 frames/s"),
        ({"p99_ms": 201.0}, "p99 201 ms over the 200 ms SLO"),
        ({"frames_dropped": 3}, "3 frames dropped"),
        ({"frames_timed_out": 2}, "2 frames timed out"),
        ({"error": "the extension ended the call: RESOURCE_EXHAUSTED"}, "a stream ended early"),
        ({"window_s": 0.0, "frames_sent": 0, "frames_acked": 0}, "no steady window"),
    ],
)
def test_each_criterion_fails_a_step_with_its_reason(
    changes: dict[str, object], reason: str
) -> None:
    result = judge(figures(**changes), CRITERIA)
    assert not result.passed
    assert any(reason in text for text in result.reasons), result.reasons


def test_one_starving_camera_fails_a_step_whose_total_keeps_up() -> None:
    """64 cameras at 10 frames/s for 10 s: one camera with nothing acknowledged is 1.6 %
    of the total, well inside its 5 %; judged per camera, the step fails and names it."""
    starving = figures(64, frames_acked=63 * 100, slowest_camera=(17, 0))
    result = judge(starving, CRITERIA)
    assert not result.passed
    assert result.reasons == ("camera 17 acked 0.0 of 10.0 frames/s",), result.reasons


def test_a_camera_at_its_own_slack_passes() -> None:
    """One frame of slack per camera, as for the total: 95 of 100 less one frame passes."""
    assert judge(figures(slowest_camera=(2, 94)), CRITERIA).passed
    assert not judge(figures(slowest_camera=(2, 93)), CRITERIA).passed


def test_every_reason_is_given_not_just_the_first() -> None:
    result = judge(figures(frames_acked=100, p99_ms=900.0, frames_dropped=1), CRITERIA)
    assert len(result.reasons) == 3


def test_a_saturated_simulator_is_blamed() -> None:
    result = judge(figures(p99_ms=900.0, cpu_s=18.5), CRITERIA)  # 1.85 of 2 cores
    assert result.simulator_bottleneck is not None
    assert "1.85 of the 2 cores" in result.simulator_bottleneck


def test_a_sender_behind_schedule_while_the_extension_kept_up_is_blamed() -> None:
    behind = figures(frames_sent=250, frames_acked=250, mean_in_flight=1.0)
    result = judge(behind, CRITERIA)
    assert not result.passed
    assert result.simulator_bottleneck is not None
    assert "25.0 of 40.0 frames/s on schedule" in result.simulator_bottleneck


def test_a_sender_held_back_by_a_full_window_blames_the_extension() -> None:
    held_back = figures(frames_sent=250, frames_acked=250, mean_in_flight=30.0)  # 32 allowed
    result = judge(held_back, CRITERIA)
    assert not result.passed and result.simulator_bottleneck is None


def test_a_passing_step_never_blames_the_simulator() -> None:
    assert judge(figures(cpu_s=19.9), CRITERIA).simulator_bottleneck is None


def test_criteria_refuse_values_that_make_no_sense() -> None:
    with pytest.raises(ValueError, match="slo_p99_ms"):
        Criteria(slo_p99_ms=0)
    with pytest.raises(ValueError, match="rate_fraction"):
        Criteria(slo_p99_ms=100, rate_fraction=1.5)


def test_camera_rate_and_warmup() -> None:
    assert camera_rate(30.0, None) == 30.0
    assert camera_rate(30.0, 10.0) == 10.0
    assert camera_rate(25.0, 60.0) == 25.0
    assert default_warmup_s(10.0) == 5.0
    assert default_warmup_s(2.0) == 1.0
    assert default_warmup_s(60.0) == 5.0
