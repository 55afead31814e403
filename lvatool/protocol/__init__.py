"""The sans-I/O protocol core: session state machines for both sides of a call.

Nothing here opens a socket or imports grpc. The server (``lvatool.server``), the
simulator (``lvatool.sim``) and the conformance checker drive these machines by
feeding them the messages they receive and sending the messages they return.
"""

from lvatool.protocol.auth import AUTH_HEADER, basic_credentials, parse_basic_credentials
from lvatool.protocol.client import ClientSession, ClientState
from lvatool.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError, Status
from lvatool.protocol.events import (
    AckReceived,
    ContentReference,
    DescriptorReceived,
    ReplyReceived,
    SampleReceived,
)
from lvatool.protocol.server import ServerSession, ServerState
from lvatool.protocol.stream_spec import (
    SharedMemoryTransfer,
    StreamSpec,
    describe_format,
    descriptor_from_spec,
    spec_from_descriptor,
    validate_handle_name,
)

__all__ = [
    "AUTH_HEADER",
    "AckReceived",
    "ClientSession",
    "ClientState",
    "ContentReference",
    "DescriptorReceived",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "ReplyReceived",
    "SampleReceived",
    "ServerSession",
    "ServerState",
    "SharedMemoryTransfer",
    "Status",
    "StreamSpec",
    "basic_credentials",
    "describe_format",
    "descriptor_from_spec",
    "parse_basic_credentials",
    "spec_from_descriptor",
    "validate_handle_name",
]
