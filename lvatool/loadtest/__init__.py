"""Load tests past one machine: lvatool's camera as a Locust user.

``pip install "lvatool[locust]"``, then ``lvatool-locust --host HOST:PORT`` runs Locust
with the packaged locustfile (one user = one camera session); ``from lvatool.loadtest
import CameraUser`` to write your own.

:class:`CameraUser` is loaded on first use, not with the package: loading it imports
Locust, which monkey-patches the standard library for gevent, and that must happen only in
a Locust process. The session, settings and frame source load without Locust, so they
can be driven (and tested) from plain Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lvatool.loadtest.camera import CameraSession, FrameFailed
from lvatool.loadtest.clip import SharedClip, prepare_clip
from lvatool.loadtest.settings import CameraSettings, SettingsError

if TYPE_CHECKING:
    from lvatool.loadtest.user import CameraUser

__all__ = [
    "CameraSession",
    "CameraSettings",
    "CameraUser",
    "FrameFailed",
    "SettingsError",
    "SharedClip",
    "prepare_clip",
]


def __getattr__(name: str) -> Any:
    if name != "CameraUser":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from lvatool.loadtest.user import CameraUser
    except ModuleNotFoundError as error:
        if error.name not in ("locust", "gevent"):
            raise
        raise ModuleNotFoundError(
            'lvatool.loadtest.CameraUser needs Locust: pip install "lvatool[locust]"',
            name=error.name,
        ) from None
    return CameraUser
