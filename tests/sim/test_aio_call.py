"""The asyncio call's edges that a whole run does not reach on purpose.

A frame published just as the run ends wakes a stream whose loop has already closed:
the publisher's thread must not fail on it (it would end the run's other streams with
"cannot share frames"). A call to nowhere ends as an event, never as an exception.
"""

from __future__ import annotations

import asyncio

import grpc.aio

from lvatool.media import Encoding, FrameFormat
from lvatool.protocol import StreamSpec
from lvatool.sim.aio_call import AsyncExtensionCall
from lvatool.sim.call import CallEnded, ConnectOptions
from tests.serveproc import free_port

SPEC = StreamSpec(FrameFormat(Encoding.JPG))


def test_a_call_to_nowhere_ends_as_an_event_and_waking_it_after_its_loop_is_harmless() -> None:
    target = f"127.0.0.1:{free_port()}"  # nothing listens there

    async def call_nowhere() -> tuple[AsyncExtensionCall, object]:
        channel = grpc.aio.insecure_channel(target)
        call = AsyncExtensionCall(channel, SPEC, ConnectOptions(target))
        event = await call.next_event(10.0)
        await call.finished()
        await channel.close()
        return call, event

    call, event = asyncio.run(call_nowhere())
    assert isinstance(event, CallEnded) and event.code == "UNAVAILABLE", event
    call.wake()  # the loop is closed: nothing to wake, and no error
