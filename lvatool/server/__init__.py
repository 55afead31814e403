"""The reference extension server and the public processor API.

Write a processor (see :mod:`lvatool.server.processor`), then serve it::

    lvatool serve --processor my_model:process
"""

from lvatool.server.darklight import DarkLightProcessor
from lvatool.server.loading import ProcessorLoadError, load_processor
from lvatool.server.processor import (
    Frame,
    FunctionProcessor,
    Inference,
    InvalidFrameError,
    Processor,
    SessionInfo,
    classification,
    entity,
)
from lvatool.server.runner import ExtensionServer, ServerOptions, ServerStartError, StopReport
from lvatool.server.servicer import SessionPolicy

__all__ = [
    "DarkLightProcessor",
    "ExtensionServer",
    "Frame",
    "FunctionProcessor",
    "Inference",
    "InvalidFrameError",
    "Processor",
    "ProcessorLoadError",
    "ServerOptions",
    "ServerStartError",
    "SessionInfo",
    "SessionPolicy",
    "StopReport",
    "classification",
    "entity",
    "load_processor",
]
