"""Test helpers for processors: run one on images or a video, serve it, check conformance.

Usable from any test framework (pytest is not needed except for the fixtures)::

    from lvatool.testing import assert_conformant, run_processor, run_processor_on_video, serve

    def test_dark_frame_is_dark():
        (inferences,) = run_processor("processor.py:process", [np.zeros((120, 160, 3), np.uint8)])
        assert inferences[0].classification.tag.value == "dark"

    def test_every_frame_of_the_clip():
        for result in run_processor_on_video(MyProcessor(), "clip.mp4", max_frames=30):
            assert result.inferences, f"nothing for frame {result.index}"

    def test_conformant():
        assert_conformant("processor.py:process")   # served in-process for the run

- :func:`run_processor` / :func:`run_processor_on_video`: in-process, no gRPC; the frames
  and session the server would build, the server's checks on what comes back.
- :func:`serve`: a real server in this process, on a free port, as a context manager.
- :class:`ServeProcess`: ``lvatool serve`` in a process of its own (what the pytest
  fixtures ``lvatool_server`` and ``lvatool_address`` use).
- :func:`assert_conformant`: the conformance server suite as an assertion.
"""

from lvatool.server.processor_output import ProcessorMistake
from lvatool.testing.conformance import assert_conformant
from lvatool.testing.inprocess import (
    FrameResult,
    ImageLike,
    ProcessorSession,
    run_processor,
    run_processor_on_video,
)
from lvatool.testing.process import ServeProcess, ServeProcessError
from lvatool.testing.processors import ProcessorLike, resolve_processor
from lvatool.testing.server import serve

__all__ = [
    "FrameResult",
    "ImageLike",
    "ProcessorLike",
    "ProcessorMistake",
    "ProcessorSession",
    "ServeProcess",
    "ServeProcessError",
    "assert_conformant",
    "resolve_processor",
    "run_processor",
    "run_processor_on_video",
    "serve",
]
