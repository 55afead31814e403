"""The public names of each package are pinned: changing them is a deliberate act."""

from __future__ import annotations

import importlib

import grpc
import pytest

from lvatool.protocol import Status

PUBLIC = {
    "lvatool.protocol": [
        "AUTH_HEADER", "basic_credentials", "parse_basic_credentials",
        "AckReceived", "ClientSession", "ClientState", "ContentReference", "DescriptorReceived",
        "LocalProtocolError", "ProtocolError", "RemoteProtocolError", "ReplyReceived",
        "SampleReceived", "ServerSession", "ServerState", "SharedMemoryTransfer", "Status",
        "StreamSpec", "describe_format", "descriptor_from_spec", "spec_from_descriptor",
        "validate_handle_name",
    ],
    "lvatool.server": [
        "DarkLightProcessor", "ExtensionServer", "Frame", "FunctionProcessor", "Inference",
        "InvalidFrameError", "Processor", "ProcessorLoadError", "ServerOptions",
        "ServerStartError", "SessionInfo", "SessionPolicy", "StopReport", "classification",
        "entity", "load_processor",
    ],
    "lvatool.shm": [
        "SHM_ROOT", "Leftover", "RegionAllocator", "SharedMemoryCreateError",
        "SharedMemoryError", "SharedMemoryReader", "SharedMemorySpaceError",
        "SharedMemoryWriter", "find_leftovers", "remove_leftovers",
    ],
    "lvatool.schemas": ["SCHEMA_NAMES", "load_schema"],
    "lvatool.conformance": [
        "CATALOGUE", "Check", "CheckResult", "CheckingExtension", "CheckingPolicy",
        "ConnectError", "Level", "ListenError", "Outcome", "RunOutcome", "Selection",
        "ServerSuiteOptions", "SuiteReport",
        "checks_of", "run_client_suite", "run_server_suite", "self_test",
    ],
    "lvatool.testing": [
        "FrameResult", "ImageLike", "ProcessorLike", "ProcessorMistake", "ProcessorSession",
        "ServeProcess", "ServeProcessError", "assert_conformant", "resolve_processor",
        "run_processor", "run_processor_on_video", "serve",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned(module: str) -> None:
    imported = importlib.import_module(module)
    assert sorted(imported.__all__) == sorted(PUBLIC[module])
    for name in imported.__all__:
        assert hasattr(imported, name), name


def test_every_status_maps_to_the_grpc_code_of_the_same_name() -> None:
    """The protocol core names statuses without grpc; the adapters map them by name."""
    for status in Status:
        code = grpc.StatusCode[status.name]
        assert code.value[0] == status.value
    assert {s.name for s in Status} == {c.name for c in grpc.StatusCode}
