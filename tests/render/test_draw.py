"""draw_inferences: boxes where the inference put them, labels and captions, peer text safe."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lvatool.contract import inferencing_pb2
from lvatool.render.draw import (
    MOTION_COLOUR,
    draw_inferences,
    line_width,
    tag_colour,
)
from lvatool.server import classification, entity

GREY = (90, 90, 90)


def _grey(width: int = 640, height: int = 360) -> Image.Image:
    return Image.new("RGB", (width, height), GREY)


def _motion(box: tuple[float, float, float, float]) -> inferencing_pb2.Inference:
    left, top, width, height = box
    return inferencing_pb2.Inference(
        type=inferencing_pb2.Inference.InferenceType.MOTION,
        motion=inferencing_pb2.Motion(
            box=inferencing_pb2.Rectangle(l=left, t=top, w=width, h=height)
        ),
    )


def test_an_entity_box_is_drawn_where_the_inference_placed_it() -> None:
    image = _grey()
    out = np.asarray(draw_inferences(image, [entity("person", (0.25, 0.5, 0.5, 0.25), 0.8)]))
    colour = tag_colour("person")
    half = line_width(640, 360) // 2
    left, top, right, bottom = 160, 180, 480, 270
    for y in range(top + 10, bottom - 10, 7):  # left and right edges
        assert tuple(out[y, left + half]) == colour
        assert tuple(out[y, right - half]) == colour
    for x in range(left + 60, right - 10, 13):  # top (under the label) and bottom edges
        assert tuple(out[top + half, x]) == colour
        assert tuple(out[bottom - half, x]) == colour
    assert (out[top + 20 : bottom - 20, left + 20 : right - 20] == GREY).all()
    # Its label sits above the box, in the box's colour; the image given is untouched.
    assert (out[top - 10, left + 2 : left + 10] != GREY).any()
    assert (np.asarray(image) == GREY).all()


def test_motion_boxes_have_their_own_colour_and_tags_keep_theirs() -> None:
    out = np.asarray(draw_inferences(_grey(), [_motion((0.5, 0.5, 0.25, 0.25))]))
    assert tuple(out[220, 320 + line_width(640, 360) // 2]) == MOTION_COLOUR
    assert tag_colour("car") == tag_colour("car")
    assert len({tag_colour(tag) for tag in ("person", "car", "dog", "bike", "bus")}) > 1


def test_classifications_and_the_caption_go_in_the_corners() -> None:
    plain = np.asarray(draw_inferences(_grey(), []))
    assert (plain == GREY).all()
    out = np.asarray(draw_inferences(_grey(), [classification("dark", 0.9)], caption="#12 · 34 ms"))
    assert (out[:30, :60] != GREY).any(), "the classification in the top-left corner"
    assert (out[-30:, :60] != GREY).any(), "the caption in the bottom-left corner"
    assert (out[100:260, 200:600] == GREY).all()


def test_an_alert_caption_is_red() -> None:
    out = np.asarray(draw_inferences(_grey(), [], caption="#3 · timed out", alert=True))
    reds = out[-30:, :200]
    assert ((reds[..., 0] > 200) & (reds[..., 1] < 100)).any()


def test_peer_text_and_boxes_out_of_range_do_not_break_the_drawing() -> None:
    hostile = [
        entity("\x1b[2J" + "x" * 500, (-0.5, 0.9, 2.0, 0.5), 1.0, id="\n"),
        entity("", (0.0, 0.0, 0.0, 0.0)),
        classification("[bold red]\u202e\x00", 0.5),
        inferencing_pb2.Inference(text=inferencing_pb2.Text(value="\r\n" * 50)),
    ] + [classification(f"tag{n}") for n in range(30)]
    out = draw_inferences(_grey(64, 36), hostile, caption="#0")
    assert out.size == (64, 36) and out.mode == "RGB"


def test_any_image_mode_comes_back_as_a_new_rgb_image() -> None:
    out = draw_inferences(Image.new("L", (50, 40), 7), [classification("a")])
    assert out.mode == "RGB" and out.size == (50, 40)
