"""The ``--lva-*`` options Locust takes for camera users, and how they become settings.

Every option defaults to ``None`` on the command line, so "not given" can be told from a
value: a value given on the command line (or as ``LOCUST_LVA_*`` in the environment, or
in a Locust config file) wins, otherwise the user class's ``lva_*`` attribute applies.
That keeps subclassing simple: a locustfile sets ``lva_format = "raw"`` on its own class,
and an operator can still override it for one run.

In a distributed run Locust sends the master's custom options to every worker, so they
are given once, to the master; a video path must exist on every worker's machine.
"""

from __future__ import annotations

import argparse
from typing import Any

from lvatool.loadtest.settings import FORMATS, CameraSettings, SettingsError
from lvatool.media import PixelFormat
from lvatool.sim.samples import sample_path

_PIXEL_FORMATS = [p.name.lower() for p in PixelFormat if p is not PixelFormat.NONE]

#: (option, attribute, type, help); the attribute's value on the user class is the default.
OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("--lva-video", "lva_video", str,
     "Video file or live URL each camera streams, looped (default: the bundled clip). "
     "Decoded and prepared once per Locust process, shared by all its users."),
    ("--lva-format", "lva_format", str, "jpeg, png, bmp or raw (default jpeg)."),
    ("--lva-pixel-format", "lva_pixel_format", str,
     f"RAW layout with --lva-format raw: {', '.join(_PIXEL_FORMATS)} (default bgr24)."),
    ("--lva-width", "lva_width", int, "Frame width sent; 0 keeps the video's (default 416)."),
    ("--lva-height", "lva_height", int, "Frame height sent; 0 keeps the video's (default 416)."),
    ("--lva-quality", "lva_quality", int, "JPEG quality 0-100 (default 90)."),
    ("--lva-shm", "lva_shm_mib", float,
     "Send through a shared-memory buffer of this many MiB per camera instead of embedding "
     "frames (0, the default). Only when the extension runs on the same host as the "
     "Locust worker: it opens the buffer by name in /dev/shm."),
    ("--lva-fps", "lva_fps", float,
     "Frames per second per camera, on an absolute schedule; 0 sends as fast as the "
     "extension acknowledges (default 15)."),
    ("--lva-max-in-flight", "lva_max_in_flight", int,
     "Unacknowledged frames allowed per camera (default 8)."),
    ("--lva-ack-timeout", "lva_ack_timeout_s", float,
     "Seconds before a frame without an acknowledgement is a failure (default 10)."),
    ("--lva-connect-timeout", "lva_connect_timeout_s", float,
     "Seconds to connect and receive the extension's descriptor (default 10)."),
    ("--lva-reconnect", "lva_reconnect_s", float,
     "Seconds a camera waits before a new session after one failed or ended (default 1)."),
    ("--lva-username", "lva_username", str, "Username for the x-ms-authentication header (A1)."),
    ("--lva-password", "lva_password", str, "Password for the x-ms-authentication header (A1)."),
    ("--lva-extension-config", "lva_extension_configuration", str,
     "extension_configuration sent in every descriptor."),
    ("--lva-max-frames", "lva_max_frames", int, "Use at most this many frames of the video."),
    ("--lva-max-clip-mib", "lva_max_clip_mib", float,
     "Memory for the prepared frames per Locust process (default 512); a longer clip is "
     "cut there and looped."),
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser, *, locust_parser: bool = True) -> None:
    """Register the ``--lva-*`` options on Locust's parser (also shown in its web UI).

    ``locust_parser`` False for a plain ``argparse`` parser, which lacks Locust's
    ``is_secret`` (the web UI masks the password).
    """
    for option, _, kind, text in OPTIONS:
        extra: dict[str, Any] = {}
        if option == "--lva-password" and locust_parser:
            extra["is_secret"] = True
        parser.add_argument(option, type=kind, default=None, help=text, **extra)


def settings_from(
    user_class: type, options: argparse.Namespace | None, host: str | None
) -> CameraSettings:
    """The settings of ``user_class``'s cameras: the command line first, then attributes.

    Raises :class:`SettingsError` with a sentence naming the option at fault.
    """

    def pick(option: str, attribute: str) -> Any:
        given = getattr(options, option[2:].replace("-", "_"), None) if options else None
        return given if given is not None else getattr(user_class, attribute, None)

    values = {attribute: pick(option, attribute) for option, attribute, _, _ in OPTIONS}
    format_name = str(values["lva_format"] or "jpeg").lower()
    if format_name not in FORMATS:
        raise SettingsError(f"--lva-format {format_name!r}: expected jpeg, png, bmp or raw")
    pixel_name = str(values["lva_pixel_format"] or "bgr24").lower()
    if pixel_name not in _PIXEL_FORMATS:
        raise SettingsError(f"--lva-pixel-format {pixel_name!r} is not one of the RAW layouts")
    video = values["lva_video"] or str(sample_path())
    return CameraSettings(
        target=host or "",
        video=video,
        encoding=FORMATS[format_name],
        pixel_format=PixelFormat[pixel_name.upper()],
        width=values["lva_width"] or None,
        height=values["lva_height"] or None,
        quality=values["lva_quality"],
        shm_mib=values["lva_shm_mib"],
        fps=values["lva_fps"],
        max_in_flight=values["lva_max_in_flight"],
        ack_timeout_s=values["lva_ack_timeout_s"],
        connect_timeout_s=values["lva_connect_timeout_s"],
        reconnect_s=values["lva_reconnect_s"],
        username=values["lva_username"],
        password=values["lva_password"],
        extension_configuration=values["lva_extension_configuration"] or "",
        max_frames=values["lva_max_frames"],
        max_clip_mib=values["lva_max_clip_mib"],
    )


__all__ = ["OPTIONS", "SettingsError", "add_arguments", "settings_from"]
