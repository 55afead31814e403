"""``lvatool simulate --annotate``: the options, checked before the run, and one real run."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.sim.simrun import run


def test_annotate_writes_every_frame_sent(tmp_path: Path) -> None:
    video = tmp_path / "annotated.mp4"
    code, summary, output = run("--max-frames", "30", "--annotate", str(video))
    assert code == 0, output
    assert not summary["warnings"]
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
    assert frames == summary["frames_sent"] == 30
    assert (stream.width, stream.height, stream.average_rate) == (640, 360, 30)


def test_annotate_stream_picks_a_stream_of_the_run(tmp_path: Path) -> None:
    video = tmp_path / "stream1.mp4"
    code, _, output = run(
        "--max-frames", "12", "--streams", "2", "--annotate-stream", "1",
        "--annotate", str(video),
    )  # fmt: skip
    assert code == 0, output
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--annotate", "{tmp}/missing/out.mp4"],
            "--annotate {tmp}/missing/out.mp4: the directory",
        ),
        (["--annotate", "{tmp}"], "is a directory"),
        (["--annotate", "{tmp}/a.mp4", "--streams", "2", "--annotate-stream", "2"],
         "--annotate-stream 2: the run has 2 streams (0-1)"),
        (["--annotate-stream", "1", "--streams", "2"], "need --annotate"),
        (["--annotate-width", "640"], "need --annotate"),
        (["--annotate", "{tmp}/a.mp4", "--annotate-width", "1"], "--annotate-width"),
    ],
)  # fmt: skip
def test_annotate_mistakes_exit_2_before_the_run(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    code, summary, output = run(*(a.format(tmp=tmp_path) for a in arguments))
    assert code == 2, output
    assert message.format(tmp=tmp_path) in output
    assert not summary  # nothing ran
    assert not (tmp_path / "a.mp4").exists()
    assert "Traceback" not in output
