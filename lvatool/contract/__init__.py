"""The wire contract: code generated from ``protos/`` by ``scripts/generate_contract.py``.

Nothing here is written by hand except this file, which names the generated modules
so the rest of the package imports the contract from one place.
"""

from lvatool.contract import extension_pb2, extension_pb2_grpc, inferencing_pb2, media_pb2

SERVICE_NAME = extension_pb2.DESCRIPTOR.services_by_name["MediaGraphExtension"].full_name
METHOD_PATH = f"/{SERVICE_NAME}/ProcessMediaStream"

__all__ = ["METHOD_PATH", "SERVICE_NAME", "extension_pb2", "extension_pb2_grpc", "inferencing_pb2", "media_pb2"]
