"""Responses as LVA publishes them to IoT Hub (R3), for ``--output FILE.jsonl``.

Each response that carries inferences becomes one event: a body
``{"timestamp", "inferences"}`` with camelCase inference JSON (``type`` in lower case,
bytes in base64) and the application properties LVA sets.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import IO, Any

from google.protobuf.json_format import MessageToDict

from lvatool.contract import inferencing_pb2

LVA_EVENT_TYPE = "Microsoft.Media.Graph.Analytics.Inference"


def inference_json(inference: inferencing_pb2.Inference) -> dict[str, Any]:
    """One inference in the camelCase form of R3."""
    body = MessageToDict(inference, preserving_proto_field_name=False)
    body["type"] = str(body.get("type", "AUTO")).lower()
    if "subtype" in body:
        body["subtype"] = str(body["subtype"]).strip()
    return body


def iot_hub_event(
    timestamp: int,
    inferences: Sequence[inferencing_pb2.Inference],
    *,
    topic: str,
    subject: str,
    event_time: dt.datetime | None = None,
) -> dict[str, Any]:
    """The body and application properties of one published event."""
    when = event_time or dt.datetime.now(dt.UTC)
    return {
        "body": {
            "timestamp": timestamp,
            "inferences": [inference_json(i) for i in inferences],
        },
        "applicationProperties": {
            "topic": topic,
            "subject": subject,
            "eventType": LVA_EVENT_TYPE,
            "eventTime": when.isoformat().replace("+00:00", "Z"),
            "dataVersion": "1.0",
        },
    }


class EventWriter:
    """Appends one JSON line per published event to ``stream``; shared by all sessions."""

    def __init__(self, stream: IO[str], topic: str, subject: str) -> None:
        self.stream = stream
        self.topic = topic
        self.subject = subject

    def write(self, timestamp: int, inferences: Sequence[inferencing_pb2.Inference]) -> None:
        if not inferences:
            return  # LVA publishes no event for a response without inferences
        event = iot_hub_event(timestamp, inferences, topic=self.topic, subject=self.subject)
        self.stream.write(json.dumps(event) + "\n")
