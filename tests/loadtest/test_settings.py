"""Camera settings: the ``--lva-*`` options over a user class's attributes, checked once."""

from __future__ import annotations

import argparse

import pytest

from lvatool.loadtest import CameraSettings, SettingsError
from lvatool.loadtest.options import OPTIONS, add_arguments, settings_from
from lvatool.media import Encoding, PixelFormat


class Attributes:
    """A user class's ``lva_*`` attributes, as :class:`CameraUser` declares them."""

    lva_video = "clip.mp4"
    lva_format = "jpeg"
    lva_pixel_format = "bgr24"
    lva_width = 416
    lva_height = 416
    lva_quality = 90
    lva_shm_mib = 0.0
    lva_fps = 15.0
    lva_max_in_flight = 8
    lva_ack_timeout_s = 10.0
    lva_connect_timeout_s = 10.0
    lva_reconnect_s = 1.0
    lva_username = None
    lva_password = None
    lva_extension_configuration = ""
    lva_max_frames = None
    lva_max_clip_mib = 512.0


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser, locust_parser=False)
    return parser.parse_args(args)


def test_the_command_line_wins_over_the_class_attributes() -> None:
    class RawCamera(Attributes):
        lva_format = "raw"
        lva_fps = 5.0

    got = settings_from(RawCamera, parse("--lva-fps", "30", "--lva-shm", "8"), "tcp://h:5001")
    assert (got.encoding, got.pixel_format, got.fps, got.shm_mib) == (
        Encoding.RAW, PixelFormat.BGR24, 30.0, 8.0,
    )  # fmt: skip
    assert got.request_name(416, 416) == "shm raw bgr24 416x416"


def test_zero_width_and_height_keep_the_video_size() -> None:
    got = settings_from(Attributes, parse("--lva-width", "0", "--lva-height", "0"), "h:1")
    assert (got.width, got.height) == (None, None)
    assert got.request_name(640, 360) == "embedded jpeg 640x360"


@pytest.mark.parametrize(
    ("args", "host", "sentence"),
    [
        ((), None, "no extension address: give Locust's --host"),
        ((), "localhost", "--host 'localhost' has no port"),
        (("--lva-format", "gif"), "h:1", "--lva-format 'gif': expected jpeg, png, bmp or raw"),
        (("--lva-pixel-format", "nv12"), "h:1", "--lva-pixel-format 'nv12' is not one of"),
        (("--lva-fps", "-1"), "h:1", "--lva-fps must be 0"),
        (("--lva-max-in-flight", "0"), "h:1", "--lva-max-in-flight must be at least 1"),
        (("--lva-username", "u"), "h:1", "--lva-username and --lva-password go together"),
        (("--lva-quality", "101"), "h:1", "JPEG quality must be 0-100"),
    ],
)
def test_a_bad_value_is_refused_in_one_sentence(
    args: tuple[str, ...], host: str | None, sentence: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from(Attributes, parse(*args), host)
    assert str(raised.value).startswith(sentence), str(raised.value)


def test_every_option_has_a_class_attribute_of_the_camera_user() -> None:
    attributes = {attribute for _, attribute, _, _ in OPTIONS}
    assert attributes == {name for name in vars(Attributes) if name.startswith("lva_")}
    assert CameraSettings(target="h:1", video="v").transfer == "embedded"
