"""What one simulated camera does, as plain values: no Locust, no gRPC, no I/O.

The Locust user reads these from Locust's command line (``--lva-*``, see
:mod:`lvatool.loadtest.options`) or from class attributes of a subclass; tests and other
drivers build them directly. Validation lives here, once, so a bad value is refused with a
sentence before any camera starts instead of failing inside every user.
"""

from __future__ import annotations

from dataclasses import dataclass

from lvatool.addresses import AddressError, parse_target
from lvatool.media import Encoding, PixelFormat
from lvatool.sim.call import ConnectOptions
from lvatool.sim.prepare import ImageOptions

#: ``--lva-format`` spellings, as ``lvatool simulate --format`` takes them.
FORMATS = {"jpeg": Encoding.JPG, "jpg": Encoding.JPG, "png": Encoding.PNG,
           "bmp": Encoding.BMP, "raw": Encoding.RAW}  # fmt: skip
_FORMAT_NAMES = {Encoding.JPG: "jpeg", Encoding.PNG: "png", Encoding.BMP: "bmp"}


class SettingsError(ValueError):
    """A setting no camera can run with; ``str()`` is the sentence for the user."""


@dataclass(frozen=True)
class CameraSettings:
    """One camera session's settings (every Locust user of a run shares them).

    ``fps`` 0 sends as fast as the extension acknowledges (at most ``max_in_flight``
    unacknowledged); otherwise frames go on an absolute schedule of ``fps`` per second.
    ``shm_mib`` 0 embeds frames in the messages (works from any machine); above 0 each
    camera makes its own ``/dev/shm`` buffer of that size, which only an extension on
    *this* host can open (M6).
    """

    target: str
    video: str
    encoding: Encoding = Encoding.JPG
    pixel_format: PixelFormat = PixelFormat.BGR24
    width: int | None = 416
    height: int | None = 416
    quality: int = 90
    shm_mib: float = 0.0
    fps: float = 15.0
    max_in_flight: int = 8
    ack_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    reconnect_s: float = 1.0
    username: str | None = None
    password: str | None = None
    extension_configuration: str = ""
    max_frames: int | None = None
    max_clip_mib: float = 512.0

    def __post_init__(self) -> None:
        if not self.target:
            raise SettingsError(
                "no extension address: give Locust's --host HOST:PORT (or tcp://HOST:PORT)"
            )
        try:
            parse_target(self.target)
        except AddressError as error:
            raise SettingsError(f"--host {error}") from None
        checks = (
            (self.fps >= 0, f"--lva-fps must be 0 (as fast as acked) or more, not {self.fps:g}"),
            (self.shm_mib >= 0, f"--lva-shm must be 0 (embedded) or more, not {self.shm_mib:g}"),
            (self.max_in_flight >= 1, "--lva-max-in-flight must be at least 1"),
            (self.ack_timeout_s > 0, "--lva-ack-timeout must be positive"),
            (self.connect_timeout_s > 0, "--lva-connect-timeout must be positive"),
            (self.reconnect_s >= 0, "--lva-reconnect must be 0 or more seconds"),
            (self.max_frames is None or self.max_frames >= 1, "--lva-max-frames must be >= 1"),
            (self.max_clip_mib > 0, "--lva-max-clip-mib must be positive"),
            (self.encoding is not Encoding.RAW or self.pixel_format is not PixelFormat.NONE,
             "--lva-pixel-format none is not a RAW layout"),
            ((self.username is None) == (self.password is None),
             "--lva-username and --lva-password go together"),
        )  # fmt: skip
        for holds, sentence in checks:
            if not holds:
                raise SettingsError(sentence)
        try:
            self.image()
        except ValueError as error:
            raise SettingsError(str(error)) from None

    def image(self) -> ImageOptions:
        """The frames' ``image.scale`` and ``image.format`` (F1, F4)."""
        return ImageOptions(
            width=self.width,
            height=self.height,
            encoding=self.encoding,
            quality=self.quality,
            pixel_format=self.pixel_format,
        )

    def connect(self) -> ConnectOptions:
        return ConnectOptions(
            target=self.target,
            connect_timeout_s=self.connect_timeout_s,
            username=self.username,
            password=self.password,
        )

    @property
    def transfer(self) -> str:
        return "shm" if self.shm_mib else "embedded"

    def request_name(self, width: int, height: int) -> str:
        """The name Locust files each frame under: transfer, format and size.

        For example ``embedded jpeg 416x234`` or ``shm raw bgr24 1920x1080``; the size is
        the frame's as sent (``preserveAspectRatio`` may shrink one side).
        """
        if self.encoding is Encoding.RAW:
            kind = f"raw {self.pixel_format.name.lower()}"
        else:
            kind = _FORMAT_NAMES[self.encoding]
        return f"{self.transfer} {kind} {width}x{height}"
