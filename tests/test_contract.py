"""The generated contract is fresh and wire-identical to protocol.md §1–2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lvatool.contract import METHOD_PATH, extension_pb2, inferencing_pb2, media_pb2

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "microsoft.azure.media.live_video_analytics.extensibility.grpc.v1"


def test_generated_code_is_fresh() -> None:
    """Regenerating from protos/ reproduces the committed lvatool/contract/ exactly."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_contract.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_method_path() -> None:
    expected = f"/{PACKAGE}.MediaGraphExtension/ProcessMediaStream"
    assert expected == METHOD_PATH


def _fields(message: type) -> dict[str, tuple[int, str | None]]:
    descriptor = message.DESCRIPTOR  # type: ignore[attr-defined]
    return {
        f.name: (f.number, f.containing_oneof.name if f.containing_oneof else None)
        for f in descriptor.fields
    }


def test_field_numbers_and_oneofs_match_the_contract() -> None:
    assert _fields(extension_pb2.MediaStreamMessage) == {
        "sequence_number": (1, None),
        "ack_sequence_number": (2, None),
        "media_stream_descriptor": (5, "payload"),
        "media_sample": (6, "payload"),
    }
    assert _fields(extension_pb2.MediaStreamDescriptor) == {
        "graph_identifier": (1, "stream_identifier"),
        "extension_identifier": (2, "stream_identifier"),
        "extension_configuration": (3, None),
        "media_descriptor": (5, None),
        "shared_memory_buffer_transfer_properties": (10, "data_transfer_properties"),
    }
    assert _fields(extension_pb2.MediaSample) == {
        "timestamp": (1, None),
        "content_bytes": (5, "content"),
        "content_reference": (6, "content"),
        "inferences": (10, None),
    }
    assert _fields(inferencing_pb2.Inference) == {
        "type": (1, None),
        "subtype": (2, None),
        "inference_id": (3, None),
        "related_inferences": (4, None),
        "sequence_id": (14, None),
        "classification": (5, "value"),
        "motion": (6, "value"),
        "entity": (7, "value"),
        "text": (8, "value"),
        "event": (9, "value"),
        "other": (13, "value"),
        "extensions": (15, None),
    }
    assert _fields(inferencing_pb2.Tag) == {"value": (2, None), "confidence": (3, None)}
    assert _fields(media_pb2.VideoFrameSampleFormat) == {
        "encoding": (1, None),
        "pixel_format": (2, None),
        "dimensions": (3, None),
        "stride_bytes": (4, None),
    }


def test_enums_match_the_contract() -> None:
    pixel = media_pb2.VideoFrameSampleFormat.PixelFormat
    assert dict(pixel.items()) == {
        "NONE": 0, "YUV420P": 20, "RGB565BE": 40, "RGB565LE": 41, "RGB555BE": 42,
        "RGB555LE": 43, "RGB24": 60, "BGR24": 61, "ARGB": 80, "RGBA": 81, "ABGR": 82, "BGRA": 83,
    }  # fmt: skip
    encoding = media_pb2.VideoFrameSampleFormat.Encoding
    assert dict(encoding.items()) == {"BMP": 0, "JPG": 1, "PNG": 2, "RAW": 3}
    kinds = inferencing_pb2.Inference.InferenceType
    assert dict(kinds.items()) == {
        "AUTO": 0, "CLASSIFICATION": 1, "MOTION": 2, "ENTITY": 3, "TEXT": 4, "EVENT": 5,
        "OTHER": 15,
    }  # fmt: skip
    assert extension_pb2.DESCRIPTOR.package == PACKAGE
