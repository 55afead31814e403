"""The wire contract: code generated from ``protos/`` by ``scripts/generate_contract.py``.

Nothing here is written by hand except this file, which names the generated message
modules so the rest of the package imports the contract from one place.

The gRPC stubs (``extension_pb2_grpc`` …) are not imported here: they need grpc, and
the sans-I/O protocol core, which needs only the messages, must load without it. The
gRPC adapters import them by name (``from lvatool.contract import extension_pb2_grpc``),
which loads the submodule on first use.
"""

from lvatool.contract import extension_pb2, inferencing_pb2, media_pb2

SERVICE_NAME = extension_pb2.DESCRIPTOR.services_by_name["MediaGraphExtension"].full_name
METHOD_PATH = f"/{SERVICE_NAME}/ProcessMediaStream"

__all__ = ["METHOD_PATH", "SERVICE_NAME", "extension_pb2", "inferencing_pb2", "media_pb2"]
