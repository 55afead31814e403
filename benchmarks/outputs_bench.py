"""What simulate's outputs cost a run: frames/s with and without each, 1080p through shm.

The case is the heaviest the README measures: the 1080p H.264 clip looped to
``--frames`` frames, RAW BGR24 through a 32 MiB shared buffer, against ``lvatool serve``
in its own process. Each output is one row of ``OUTPUTS`` (the options it adds; ``{dir}``
is a fresh directory per run); runs alternate between rows, ``--repeat`` times, and the
median is kept, because the machine is shared and noisy and drift hits every row alike.

Reported per output: frames/s (from ``--json``), its cost against no output, the whole
process's wall time (an output may finish its file after the run), simulate's CPU per
frame over the whole process (finishing included; less sensitive to a loaded machine
than frames/s), peak RSS, and the
warnings the run printed (``--annotate`` warns of frames it left out) and the frames in
the video an output wrote.

Usage: python benchmarks/outputs_bench.py [--frames 600] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import av
from _common import report, run_simulate, serve_in_process_of_its_own

CLIP = Path(__file__).resolve().parent.parent / "samples" / "videos" / "bars1080.mp4"
CASE = ["--format", "raw", "--pixel-format", "bgr24", "--shm", "32"]

#: Each output measured, and the options that turn it on.
OUTPUTS: dict[str, list[str]] = {
    "none": [],
    "annotate": ["--annotate", "{dir}/annotated.mp4"],
    "report": ["--report", "{dir}/report.html"],
    "results": ["--results", "{dir}/results.jsonl"],
}


def run_once(target: str, frames: int, options: list[str]) -> dict[str, float]:
    """One ``lvatool simulate`` process: frames/s, wall time, peak RSS, warnings."""
    with tempfile.TemporaryDirectory() as folder:
        args = ["--max-frames", str(frames), *CASE, *(o.format(dir=folder) for o in options)]
        run = run_simulate(target, CLIP, args, Path(folder))
        if run.exit_code != 0 or run.summary is None:
            raise SystemExit(f"simulate failed ({run.exit_code}): {' '.join(args)}")
        summary = run.summary
        video_frames = sum(frames_in(video) for video in Path(folder).glob("*.mp4"))
    return {
        "fps": float(summary["fps"]),
        "wall_s": run.wall_s,
        "cpu_ms_per_frame": 1000 * run.cpu_s / frames,
        "peak_rss_mib": run.peak_rss_mib,
        "warnings": float(len(summary.get("warnings", []))),
        "video_frames": float(video_frames),
    }


def frames_in(video: Path) -> int:
    """Frames in a video file an output wrote (its container's count)."""
    with av.open(str(video)) as container:
        return container.streams.video[0].frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in OUTPUTS}
    with serve_in_process_of_its_own() as (target, _):
        for _ in range(args.repeat):
            for name, options in OUTPUTS.items():
                runs[name].append(run_once(target, args.frames, options))
    results: dict[str, dict[str, float]] = {}
    baseline = statistics.median(r["fps"] for r in runs["none"])
    for name, figures in runs.items():
        fps = statistics.median(r["fps"] for r in figures)
        results[name] = {
            "fps": fps,
            "cost_pct": 100 * (1 - fps / baseline),
            "fps_min": min(r["fps"] for r in figures),
            "fps_max": max(r["fps"] for r in figures),
            "wall_s": statistics.median(r["wall_s"] for r in figures),
            "cpu_ms_per_frame": statistics.median(r["cpu_ms_per_frame"] for r in figures),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in figures),
            "warnings": max(r["warnings"] for r in figures),
            "video_frames": statistics.median(r["video_frames"] for r in figures),
        }
    report(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
