"""The Locust user: one user is one camera, one session with the extension.

Each user opens one ``ProcessMediaStream`` call (reported as a ``handshake`` request) and
then sends the shared clip's frames, looping, paced by its ``wait_time`` (``--lva-fps`` on
an absolute schedule, or as fast as acknowledged). Every frame's round trip, from its send
to its acknowledgement's arrival, is one Locust request of type ``grpc`` named after
transfer, format and size (``embedded jpeg 416x234``); an error status, a protocol
violation or an ack timeout is a failure whose message names the status or the rule. So
Locust's statistics, charts, CSV and HTML reports, ``--master``/``--worker`` and
``--processes`` all work as for HTTP users. A session that fails or ends is opened again
after ``--lva-reconnect`` seconds, as LVA reconnects.

gRPC under gevent: Locust runs users as greenlets in a monkey-patched process. gRPC's
gevent integration (``grpc.experimental.gevent.init_gevent``) is switched on here, at
import, right after Locust has patched and before any channel exists; measured to carry
32 bidirectional streams reliably against ``lvatool serve`` in its own process (see the
package's README section). The extension under test must run in *another* process: in a
monkey-patched process that also serves, every call hangs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent  # type: ignore[import-untyped]
import locust
from grpc.experimental import gevent as grpc_gevent
from locust import User, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from lvatool.loadtest.camera import HANDSHAKE, CameraSession, FrameFailed
from lvatool.loadtest.clip import ClipCache, SharedClip
from lvatool.loadtest.options import add_arguments, settings_from
from lvatool.loadtest.settings import CameraSettings, SettingsError
from lvatool.sim.source import SourceError, VideoSource

assert locust  # imported first: Locust monkey-patches the standard library on import
grpc_gevent.init_gevent()

_MIB = 1 << 20
EXIT_USAGE = 2


def _in_native_thread(work: Callable[[], SharedClip]) -> SharedClip:
    """Run ``work`` on a real thread, the hub serving other greenlets meanwhile."""
    result: SharedClip = gevent.get_hub().threadpool.apply(work)
    return result


#: The decode-once frame source of this process, shared by all its camera users.
CLIPS = ClipCache(_in_native_thread)


class CameraUser(User):
    """A camera streaming to the gRPC extension at ``host`` (Locust's ``--host``).

    Subclass it in a locustfile and set any ``lva_*`` attribute (the defaults are below);
    ``--lva-*`` options on Locust's command line override them. ``abstract``: Locust runs
    only concrete subclasses, such as the one in :mod:`lvatool.loadtest.locustfile`.
    """

    abstract = True
    # The defaults are CameraSettings' own, so a camera run from Python and one run by
    # Locust behave alike; formats are named as on the command line.
    lva_video: str | None = None  # None: the bundled clip
    lva_format: str = "jpeg"
    lva_pixel_format: str = "bgr24"
    lva_width: int | None = CameraSettings.width
    lva_height: int | None = CameraSettings.height
    lva_quality: int = CameraSettings.quality
    lva_shm_mib: float = CameraSettings.shm_mib
    lva_fps: float = CameraSettings.fps
    lva_max_in_flight: int = CameraSettings.max_in_flight
    lva_ack_timeout_s: float = CameraSettings.ack_timeout_s
    lva_connect_timeout_s: float = CameraSettings.connect_timeout_s
    lva_reconnect_s: float = CameraSettings.reconnect_s
    lva_username: str | None = CameraSettings.username
    lva_password: str | None = CameraSettings.password
    lva_extension_configuration: str = CameraSettings.extension_configuration
    lva_max_frames: int | None = CameraSettings.max_frames
    lva_max_clip_mib: float = CameraSettings.max_clip_mib

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.settings: CameraSettings | None = None
        self.session: CameraSession | None = None
        self._clip: SharedClip | None = None
        self._retry_at = 0.0
        self._due: float | None = None

    def on_start(self) -> None:
        try:
            self.settings = settings_from(type(self), self.environment.parsed_options, self.host)
        except SettingsError as error:
            self.environment.events.request.fire(
                request_type=HANDSHAKE,
                name="camera settings",
                response_time=0.0,
                response_length=0,
                exception=FrameFailed(str(error)),
                context={},
            )
            raise StopUser() from None

    def wait_time(self) -> float:
        """Seconds until the next frame is due: an absolute schedule at ``lva_fps``.

        A camera that fell more than a frame behind (a slow extension holding it at its
        in-flight limit) restarts its schedule rather than sending a burst to catch up.
        """
        settings = self.settings
        if settings is None or not settings.fps:
            return 0.0
        interval = 1.0 / settings.fps
        now = time.monotonic()
        if self._due is None or self._due + interval < now:
            self._due = now
        self._due += interval
        return max(0.0, self._due - now)

    @task
    def send_frame(self) -> None:
        """Send the next frame, opening a session first when there is none."""
        if self.session is None or self.session.ended.is_set():
            self._start_session()
            return
        if not self.session.send_next():
            self._retry_at = time.monotonic() + self._reconnect_s

    def on_stop(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    # -- sessions ------------------------------------------------------------------------
    @property
    def _reconnect_s(self) -> float:
        return self.settings.reconnect_s if self.settings else 1.0

    def _start_session(self) -> None:
        settings = self.settings
        assert settings is not None
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            gevent.sleep(wait)
        if self.session is not None:
            self.session.close(wait_s=0)
            self.session = None
        clip = self._shared_clip(settings)
        if clip is None:
            self._retry_at = time.monotonic() + settings.reconnect_s
            return
        session = CameraSession(settings, clip, self._report)
        if session.open():
            self.session = session
            self._due = None
        else:
            self._retry_at = time.monotonic() + settings.reconnect_s

    def _shared_clip(self, settings: CameraSettings) -> SharedClip | None:
        try:
            return CLIPS.get(
                settings.video,
                settings.image(),
                settings.max_frames,
                int(settings.max_clip_mib * _MIB),
            )
        except SourceError as error:
            self._report(HANDSHAKE, settings.video, 0.0, 0, FrameFailed(str(error)))
            return None

    def _report(
        self, kind: str, name: str, ms: float, length: int, error: BaseException | None
    ) -> None:
        self.environment.events.request.fire(
            request_type="grpc" if kind != HANDSHAKE else HANDSHAKE,
            name=name,
            response_time=ms,
            response_length=length,
            exception=error,
            context={},
        )


# -- Locust hooks: the options, and a check before any user starts ------------------------
def _add_options(parser: argparse.ArgumentParser, **_: Any) -> None:
    add_arguments(parser)


def _check_settings(environment: Environment, **_: Any) -> None:
    """Refuse bad ``--lva-*`` values before the run, in one sentence, exit 2 (usage).

    Workers take their options from the master, which checked them. The video is opened
    here only where cameras run in this process (not on a master, whose workers may keep
    it elsewhere); with the web UI, ``--host`` may still be typed in the browser.
    """
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    headless = bool(getattr(options, "headless", False))
    for user_class in environment.user_classes:
        if not issubclass(user_class, CameraUser):
            continue
        host = user_class.host or environment.host or (None if headless else "localhost:5001")
        try:
            settings = settings_from(user_class, options, host)
            if not isinstance(environment.runner, MasterRunner):
                VideoSource(settings.video)
        except (SettingsError, SourceError) as error:
            print(f"lvatool locust: {error}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None


events.init_command_line_parser.add_listener(_add_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_check_settings)  # type: ignore[no-untyped-call]
