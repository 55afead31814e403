"""``assert_conformant``: the conformance server suite as an assertion.

It passes against the reference server (served in-process from a processor, or by
address) and fails, naming each failing check's ID, title and message, against a tiny
broken extension written here: one whose responses are numbered wrongly (Q1), and a
processor whose boxes leave the frame (R2).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from lvatool.contract import extension_pb2, extension_pb2_grpc
from lvatool.server import DarkLightProcessor, Frame, Inference, classification, entity
from lvatool.testing import assert_conformant, serve

Message = extension_pb2.MediaStreamMessage


def test_the_reference_server_is_conformant() -> None:
    report = assert_conformant(DarkLightProcessor(), profile="darklight")
    assert not report.failed
    assert {result.id for result in report.results} >= {"S01", "S05", "S16", "S17"}
    assert report.properties["probe_format"] != "none"


def test_by_address_with_a_selection_and_credentials() -> None:
    with serve(credentials=("user", "secret")) as address:
        report = assert_conformant(
            address, checks=["S01", "S02", "S13"], username="user", password="secret"
        )
    assert [result.id for result in report.results] == ["S01", "S02", "S13"]


class SkipsNumbers(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    """A broken extension: its responses are numbered 1, 3, 5 … instead of 1, 2, 3 (Q1)."""

    def ProcessMediaStream(
        self, requests: Iterator[Message], context: grpc.ServicerContext
    ) -> Iterator[Message]:
        sequence = 1
        for request in requests:
            reply = Message(sequence_number=sequence, ack_sequence_number=request.sequence_number)
            if request.HasField("media_stream_descriptor"):
                reply.media_stream_descriptor.extension_identifier = "broken"
                reply.media_stream_descriptor.media_descriptor.timescale = 90_000
            else:
                reply.media_sample.timestamp = request.media_sample.timestamp
                reply.media_sample.inferences.append(classification("dark"))
            yield reply
            sequence += 2


def test_a_broken_extension_fails_naming_each_failing_check() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=24))
    extension_pb2_grpc.add_MediaGraphExtensionServicer_to_server(SkipsNumbers(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(AssertionError) as raised:
            assert_conformant(f"127.0.0.1:{port}", checks=["S01", "S02", "S03"])
    finally:
        server.stop(0)
    message = str(raised.value)
    assert "1 of 3 server checks failed" in message
    assert "S02 Responses are numbered from 1, increasing by exactly 1 (Q1" in message
    assert "S01" not in message and "S03" not in message


def boxes_outside_the_frame(frame: Frame) -> list[Inference]:
    return [entity("car", (0.5, 0.5, 0.9, 0.9))]


def test_a_processor_breaking_r2_fails_s16() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_conformant(boxes_outside_the_frame, checks=["S16"])
    message = str(raised.value)
    assert "S16 Inferences are valid" in message and "outside 0–1 (R2)" in message


def test_nobody_listening_is_an_assertion_naming_the_address() -> None:
    with serve() as address:
        pass  # stopped: its port is free again
    with pytest.raises(AssertionError, match=f"cannot connect to {address}"):
        assert_conformant(address, checks=["S01"], connect_timeout_s=1)


def test_unknown_check_ids_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="S99"):
        assert_conformant(DarkLightProcessor(), checks=["S99"])
