"""Motion detection by frame differencing on the luma: the example to read and copy.

Serve it as it is::

    lvatool serve --processor examples/processors/motion.py:process
    lvatool serve --processor lvatool.examples.motion:process   # the same, from the package

The code lives in lvatool/examples/motion.py (installed with lvatool, so that the second
form works without this checkout); this file is where the examples are, and re-exports
it. To make your own detector, copy that module here, rename it and change it: the
docstring at its top explains each step, and its tests (tests/examples/) show how to
check the boxes against a clip whose motion is known.

Session configuration (the topology's ``extensionConfiguration``): ``{"sensitivity": 0.5}``,
0 for strong changes only, 1 for the faintest.
"""

from lvatool.examples.motion import (
    MotionProcessor,
    MotionSettings,
    motion_boxes,
    process,
    working_luma,
)

__all__ = ["MotionProcessor", "MotionSettings", "motion_boxes", "process", "working_luma"]
