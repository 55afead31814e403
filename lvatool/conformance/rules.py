"""Every rule of the protocol as data: what it says, why it matters, how to fix a failure.

A conformance failure names rule IDs (``FAIL S06 (M1, M2, M3): …``). The person reading it
is an extension or client author who needs three things the check cannot say in one line:
what the rule asks, what goes wrong with a real LVA module when it is broken, and what to
change. This module holds those texts, written for that reader; ``lvatool conformance
--explain`` and ``docs/rules.md`` render them, so the terminal and the reference never
disagree.

The IDs are those of the project's protocol reference (``protocol.md``); a test pins the
full list. Texts use light Markdown (``code`` in backticks) because ``docs/rules.md`` is
Markdown and the console renders the same text with rich.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Source(enum.Enum):
    """Where a rule comes from, so a reader knows how much weight it carries."""

    SPEC = "spec"  # stated by Microsoft's contract files or documentation
    SAMPLE = "sample"  # what Microsoft's own samples do, never stated as a rule
    DECISION = "decision"  # the sources are silent or disagree; lvatool picks a behaviour


SOURCE_MEANINGS: dict[Source, str] = {
    Source.SPEC: "stated by Microsoft's LVA/AVA contract files or documentation",
    Source.SAMPLE: (
        "what Microsoft's own sample extensions or test client do; no document states it"
    ),
    Source.DECISION: (
        "the sources are silent or disagree, so lvatool picks a behaviour, which its own "
        "server and simulator follow"
    ),
}

_SHORT_MEANINGS: dict[Source, str] = {
    Source.SPEC: "stated by Microsoft's contract or documentation",
    Source.SAMPLE: "what Microsoft's samples do, not stated as a rule",
    Source.DECISION: "lvatool's decision where the sources are silent or disagree",
}


@dataclass(frozen=True)
class Rule:
    """One rule of the protocol, explained for the author of an extension or a client.

    ``source`` lists the markers of the protocol reference: the first is the rule's own,
    any further one marks a part of it (e.g. ``(SPEC, DECISION)``: the contract states the
    rule and lvatool decides a detail the contract leaves open).
    """

    id: str
    title: str
    rule: str
    why: str
    fix: str
    source: tuple[Source, ...]

    @property
    def source_label(self) -> str:
        """``spec``, ``sample`` or ``decision``, joined with ``+`` when parts differ."""
        return " + ".join(s.value for s in self.source)

    @property
    def source_note(self) -> str:
        """The source in words, for a reader who does not know the markers."""
        note = _SHORT_MEANINGS[self.source[0]]
        if Source.DECISION in self.source[1:]:
            note += "; lvatool decides the details left open"
        return note


#: The rule families, in the order of the protocol reference, by ID prefix.
GROUPS: dict[str, str] = {
    "H": "Session: handshake",
    "Q": "Session: sequencing and acknowledgements",
    "E": "Data transfer: embedded frames",
    "M": "Data transfer: shared memory",
    "F": "Media: how frames are prepared",
    "R": "Results: inferences",
    "A": "Security",
}

SPEC, SAMPLE, DECISION = Source.SPEC, Source.SAMPLE, Source.DECISION

_RULES: tuple[Rule, ...] = (
    # ---- H: handshake -------------------------------------------------------------------
    Rule(
        "H1",
        "One call carries one stream; sessions share nothing",
        "A `ProcessMediaStream` call is a session for exactly one media stream. Every camera, "
        "and every extension node a camera passes through, opens its own call, and these "
        "calls run at the same time. When LVA reconnects after an outage it opens a fresh "
        "session, so a server must not carry anything over from an earlier call. lvatool's "
        "reading for a full server: a call beyond the server's session limit is ended at "
        "once with `RESOURCE_EXHAUSTED`, never parked without a reply descriptor.",
        "One extension container usually serves every camera of an edge device. A server "
        "that handles calls one at a time stalls every camera behind the first; one that "
        "keeps per-stream state (tracker, last frame, counters) in globals mixes cameras' "
        "results; one that resumes old state after a reconnect acknowledges numbers the new "
        "session never sent. A call left waiting without its descriptor shows in LVA only "
        "as a graph that never produces anything.",
        "Create all per-stream state when the call starts and drop it when the call ends. "
        "Let the gRPC server run calls concurrently (a thread pool sized for cameras × "
        "extension nodes, or asyncio). If you cap sessions, refuse the extra call before "
        "reading from it: `context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, ...)`. "
        "Try it with `lvatool simulate --streams 4`.",
        (SPEC, DECISION),
    ),
    Rule(
        "H2",
        "Both directions open with a descriptor",
        "The first message the client sends is a `MediaStreamDescriptor`, and so is the "
        "first message the server sends back: no sample and no bare acknowledgement may "
        "come before it, in either direction.",
        "LVA holds its frames until the server's descriptor arrives (H5). A server that "
        "waits for a frame before replying, or answers with a `media_sample` first, leaves "
        "LVA with a session that never starts: the graph stays silent, no inference is ever "
        "published, and nothing in the logs says why.",
        'Server: read the first request, check `request.WhichOneof("payload") == '
        '"media_stream_descriptor"`, and yield your own descriptor before you handle any '
        "sample. Client: make the descriptor message 1, sent before anything else.",
        (SPEC,),
    ),
    Rule(
        "H3",
        "The client's descriptor declares everything it will send",
        "The client's descriptor identifies the stream (`graph_identifier`, or an "
        "`extension_identifier`), may pass `extension_configuration` (an opaque string from "
        "the topology, often JSON), describes the media in `media_descriptor` (the "
        "timescale and the video format: encoding, pixel format, dimensions, stride) and, "
        "when frames travel through shared memory, names the buffer in "
        "`shared_memory_buffer_transfer_properties`.",
        "The descriptor is the only place the format is stated; every later sample is read "
        "with it. A descriptor without dimensions or pixel format forces the server to "
        "guess, and a wrong guess on RAW frames gives skewed or wrongly coloured images and "
        "confidently wrong results, with no error anywhere. `extension_configuration` is how "
        "a topology picks a model or threshold per camera; ignoring it silently applies "
        "defaults to every camera.",
        "Client: fill in every field for the format you send; for RAW frames that means "
        "dimensions, pixel format and `stride_bytes`. Server: take the format from the "
        "descriptor, never from what you expect the topology to say, and refuse a "
        "configuration you cannot parse (H6) instead of falling back to defaults.",
        (SPEC,),
    ),
    Rule(
        "H4",
        "The server's reply descriptor acknowledges the handshake",
        "The server checks the client's descriptor, prepares the transfer (opens the shared "
        "memory, if any) and only then replies with its own descriptor, which doubles as the "
        "acknowledgement. The reply's `media_descriptor` has no video format, because the "
        "server sends back inferences, not frames. lvatool's reading: the reply has "
        "`sequence_number = 1`, `ack_sequence_number` equal to the client descriptor's "
        "sequence number, `extension_identifier` set to the server's name, and the client's "
        "`timescale`.",
        "LVA starts streaming as soon as the reply arrives. A server that replies before the "
        "shared buffer is really open gets references it cannot read on its first frames; a "
        "reply that acknowledges the wrong number or echoes a video format confuses stricter "
        "clients and makes logs misleading.",
        "Validate, open `/dev/shm/<handle_name>` if shared memory is declared, then yield "
        "`MediaStreamMessage(sequence_number=1, ack_sequence_number=request.sequence_number, "
        'media_stream_descriptor=MediaStreamDescriptor(extension_identifier="my-extension", '
        "media_descriptor=MediaDescriptor(timescale=<the client's timescale>)))`. Leave "
        "`video_frame_sample_format` unset.",
        (SPEC, DECISION),
    ),
    Rule(
        "H5",
        "No sample before the server's descriptor",
        "The client keeps every sample back until the server's descriptor has been received.",
        "The handshake is where the server decides whether it can serve the stream and sets "
        "up the shared buffer and the model. Frames sent early reference memory that is not "
        "mapped yet, or arrive at a server that is about to refuse the format. Real LVA "
        "waits, so a test client that does not can hide, or invent, handshake bugs in the "
        "extension it tests.",
        "Client: after sending the descriptor, read the response stream until the server's "
        "descriptor arrives (with a timeout), and only then start the thread or task that "
        "sends frames.",
        (SPEC,),
    ),
    Rule(
        "H6",
        "Refuse what you cannot serve, at once and with a named field",
        "When the server cannot serve a descriptor (an unsupported encoding or pixel format, "
        "zero dimensions, a stride shorter than a row, shared memory it cannot open, a "
        "malformed handle name) it ends the call immediately with a gRPC status whose "
        "message names the field: `INVALID_ARGUMENT` for malformed values, `UNIMPLEMENTED` "
        "for a valid format it does not support, `FAILED_PRECONDITION` for shared memory it "
        "cannot open. It never goes silent and never hangs. The checker's grading: refused "
        "at the descriptor with one of these statuses passes; a descriptor accepted and the "
        "first frame then refused with one of them is a warning (the format was promised and "
        "then not served); `UNKNOWN` or `INTERNAL` at any point fails, because that is a "
        "crash rather than a refusal; no answer fails; a server that accepts no encoding and "
        "no RAW format at all serves nothing and fails.",
        "LVA reports the status and its message in its diagnostics, so an operator reads "
        '"pixel_format BGRA is not supported" and fixes the topology in minutes. Silence '
        "shows only as a graph without results; an unhandled exception surfaces as `UNKNOWN`, "
        "looks like a crashing extension, and sends whoever debugs it to the wrong side.",
        "Validate the whole descriptor before you reply, and refuse with the precise status: "
        '`context.abort(grpc.StatusCode.UNIMPLEMENTED, "pixel_format BGRA is not supported; '
        'use RGB24 or BGR24")`. Map errors opening the shared memory to '
        "`FAILED_PRECONDITION`. Do not accept a format you will refuse on the first frame, "
        "and never let an exception escape the handler.",
        (DECISION,),
    ),
    # ---- Q: sequencing ------------------------------------------------------------------
    Rule(
        "Q1",
        "Each side numbers its own messages 1, 2, 3 …",
        "Client and server each keep their own counter: the first message of each side is "
        "number 1, and every further message is exactly one more, with no gap and no "
        "repeat. `ack_sequence_number` refers to a number the peer used; 0 means "
        '"acknowledges nothing", which is what the client\'s first message carries.',
        "Acknowledgements are matched to frames in flight by these numbers. Numbers that "
        "jump or repeat make a healthy stream look as if messages were lost or duplicated, "
        "and an ack naming a number the peer never sent can release the wrong frame, or the "
        "wrong shared-memory region, on the client's side.",
        "Keep one counter per call, per direction: the server's descriptor is 1 and every "
        "message you yield adds one. It is independent of the client's numbers (do not copy "
        "the request's number into your `sequence_number`; that belongs in "
        "`ack_sequence_number`). A client does the same and sends ack 0 on its first "
        "message.",
        (SPEC,),
    ),
    Rule(
        "Q2",
        "Every sample is acknowledged exactly once, after it is processed",
        "Each message carrying a sample gets one acknowledgement, sent only when the server "
        "has completely finished with that sample; the acknowledgement may travel on the "
        "message that carries the results. lvatool's reading: acknowledgements are never "
        "cumulative. Each response acknowledges exactly one sample and always carries a "
        "`media_sample` (with empty `inferences` when there is nothing to report) whose "
        "`timestamp` is copied from the sample it acknowledges.",
        "LVA bounds the frames in flight; every unacknowledged frame holds a slot and, with "
        "shared memory, a region of the buffer. A missing ack makes the buffer fill until "
        "LVA has to drop frames; a duplicate ack frees a region twice, so a frame still "
        "in use gets overwritten. Cumulative acks are not part of the contract, so a client "
        "may treat the frames they skip as never answered. Without the timestamp, results "
        "cannot be placed on the video timeline.",
        "For every request with a `media_sample`, yield exactly one response with "
        "`ack_sequence_number = request.sequence_number` and "
        "`media_sample = MediaSample(timestamp=request.media_sample.timestamp, "
        "inferences=[...])`, even when the list is empty. Do not skip frames without "
        "detections, and do not acknowledge a batch with one message.",
        (SPEC, DECISION),
    ),
    Rule(
        "Q3",
        "Results belong to the frame they were computed from",
        "The inferences on the response that acknowledges sample N were computed from sample "
        "N's pixels, not from a neighbour's. Batching changes nothing: every frame of a "
        "batch gets its own response carrying its own results.",
        "LVA publishes each result with the timestamp of the frame it acknowledges. Results "
        "shifted by a frame point at the wrong moment: boxes drawn on the wrong frame, event "
        "recordings triggered on the wrong segment, counts attributed to the wrong camera "
        'when sessions share state. Typical causes are answering with the "latest result" '
        "of a background worker, zipping batch results in the wrong order, and a buffer "
        "reused between calls.",
        "Carry `(sequence_number, timestamp)` with the frame through your whole pipeline and "
        "build the response from that same record. In a batch, keep the order and map "
        "results to frames index by index. Never answer from a cache of the last inference. "
        "A processor that keeps state across the frames of a session by design (motion "
        "detection, tracking) gives a frame other results after other frames: check it with "
        "`lvatool conformance server --stateful`, which compares each session with the same "
        "sequence of frames sent alone and skips S05.",
        (SPEC,),
    ),
    Rule(
        "Q4",
        "Pipelining is allowed: answers may lag and arrive out of order",
        "A server may answer some samples later than others and in a different order; a "
        "client has to accept that and must not wait for each ack before sending the next "
        "frame. lvatool's reading: a server may hold a sample and answer it when the next "
        "one arrives or at the half-close (Q6). The checker therefore sends its samples, "
        "half-closes, then collects, and calls an answer missing only after the half-close.",
        "GPU extensions batch frames and run several at once; a client that works in "
        "lock-step halves their throughput, and one that assumes in-order acks mismatches "
        "results or deadlocks. A server written for lock-step clients breaks under LVA, which "
        "sends several frames before the first ack returns.",
        "Client: keep a table of in-flight sequence numbers, accept acks in any order, and "
        "bound how many frames are in flight rather than their order. Server: read requests "
        "and write responses independently (e.g. a reader thread feeding a queue); answer "
        "each frame when it is ready.",
        (SPEC, DECISION),
    ),
    Rule(
        "Q5",
        "Sequence number 0 on replies is tolerated, with a warning",
        "Some of Microsoft's sample extensions put `sequence_number = 0` on every reply, "
        "and LVA accepts that. lvatool's checker reports it as a warning, not a failure.",
        "Nothing breaks with today's LVA, which is why it is only a warning. It is still not "
        "the numbering of Q1: other clients may reject it, and logs lose the order of the "
        "server's messages.",
        "Number replies as Q1 says. If your extension started from a Microsoft sample, find "
        "where it builds the response message and set `sequence_number` from a per-call "
        "counter.",
        (SAMPLE,),
    ),
    Rule(
        "Q6",
        "A half-close is answered, then the call ends with OK",
        "When the client closes its sending side, the server finishes whatever samples it "
        "holds, acknowledges each of them, and then ends the call with status `OK`.",
        "LVA closes its side when a graph is deactivated or a topology is replaced. A server "
        "that drops what it holds loses the last results; one that ends with an error turns "
        "every redeployment into an error in LVA's diagnostics; one that never ends the call "
        "keeps the session, and its shared memory, alive after the camera is gone.",
        "Server: when the request iterator is exhausted, flush your batch or pipeline, yield "
        "the remaining responses, then return from the handler normally (no `abort`). "
        "Client: close the request stream (`done_writing()`, or end the request iterator) "
        "and keep reading responses until the call completes.",
        (DECISION,),
    ),
    # ---- E: embedded ----------------------------------------------------------------------
    Rule(
        "E1",
        "No transfer properties means frames travel inside the messages",
        "A client descriptor without `data_transfer_properties` selects embedded transfer: "
        "the image bytes of each sample are in `content_bytes`.",
        "The transfer mode is declared once, at the start. A server that assumes shared "
        "memory, or a client that sends references without declaring a buffer, reads nothing "
        "or garbage. Embedded is the only mode that works between hosts (M6), so it is what "
        "an extension on another machine always sees.",
        'Server: branch on `descriptor.WhichOneof("data_transfer_properties")` and, per '
        'sample, on `sample.WhichOneof("content")`; refuse a sample whose content does not '
        "match the declared mode with `INVALID_ARGUMENT`. Client: without a shared buffer, "
        "put the encoded or RAW bytes in `content_bytes`, sized as the descriptor implies.",
        (SPEC,),
    ),
    Rule(
        "E2",
        "Raise gRPC's message size limits for large frames",
        "A raw 1080p frame is about 6.2 MB, more than gRPC's default 4 MiB receive limit, so "
        "both of lvatool's sides raise `grpc.max_receive_message_length` and "
        "`grpc.max_send_message_length` (64 MiB by default, configurable). A peer that "
        "refuses a large frame fails with `RESOURCE_EXHAUSTED`, which the checker reports as "
        "its own finding.",
        "Everything works in development with JPEG or small frames; then a topology switches "
        "`image.format` to raw at full HD and every call dies with `RESOURCE_EXHAUSTED: "
        "Received message larger than max`. It is a failure that appears only in production.",
        'Create the server with `options=[("grpc.max_receive_message_length", 64 << 20), '
        '("grpc.max_send_message_length", 64 << 20)]` (and the same on a client channel), '
        "or move RAW frames to shared memory.",
        (DECISION,),
    ),
    # ---- M: shared memory -----------------------------------------------------------------
    Rule(
        "M1",
        "The client creates the shared buffer; the server opens it as a file",
        "The client creates the buffer and names it in `handle_name`; on Linux the server "
        "opens `/dev/shm/<handle_name>` with an ordinary file open and maps it with `mmap`. "
        "Python's `multiprocessing.shared_memory` is not a safe way to attach, because the "
        "attaching process removes the file when it exits. `length_bytes` is the size of the "
        "whole buffer, i.e. the topology's `sharedMemorySizeMiB` × 2^20 (LVA allows 0–100 MiB).",
        "The file name is the only link between the two containers. An extension that "
        "attaches with `multiprocessing.shared_memory` deletes LVA's buffer when it restarts, "
        "and every later session fails to open it. Mapping fewer bytes than `length_bytes` "
        "makes valid references fall outside the map.",
        'Server: `fd = os.open(f"/dev/shm/{name}", os.O_RDONLY | os.O_NOFOLLOW)`, check '
        "with `os.fstat` that it is a regular file of at least `length_bytes`, then "
        "`mmap.mmap(fd, length_bytes, prot=mmap.PROT_READ)`. Client: create the file at the "
        "declared size before sending the descriptor, and remove it when the session ends.",
        (SPEC,),
    ),
    Rule(
        "M2",
        "Each sample points into the buffer",
        "With shared memory, every sample carries `content_reference { address_offset, "
        "length_bytes }`, counted from the first byte of the buffer file.",
        "An offset counted from anywhere else (the previous frame, the end of a header) makes "
        "the server read part of one frame and part of another: plausible pixels, wrong "
        "results, no error.",
        "Server: read `buffer[offset : offset + length]`. Client: record, for each frame, the "
        "offset at which you wrote it, relative to byte 0 of the file.",
        (SPEC,),
    ),
    Rule(
        "M3",
        "A region stays intact until acknowledged, and is not read after",
        "The buffer holds every frame in flight. The client leaves a referenced region "
        "untouched until that sample is acknowledged and may reuse it afterwards; so the "
        "server has to be finished with the pixels, or have copied them, before it sends the "
        "acknowledgement.",
        "This is the race that corrupts results silently and only under load: a server that "
        "acknowledges first and infers later, or keeps a zero-copy view in a batch queue "
        "after acknowledging, reads the pixels of a later frame; results then belong to the "
        "wrong frame, intermittently. A client that reuses regions early does the same from "
        "the other side.",
        "Server: acknowledge a frame only after the model has finished with it; if you must "
        "acknowledge earlier, copy the pixels first (`numpy.array(view, copy=True)`), and "
        "keep no view into the map past the ack. Client: free a region only when its ack "
        "arrives (see M5).",
        (SPEC,),
    ),
    Rule(
        "M4",
        "Every reference is checked before it is read",
        "The server validates each reference: `address_offset + length_bytes` within the "
        "buffer's `length_bytes`; for RAW frames, a length equal to what the declared format "
        "needs; and a handle name that is a bare file name (not empty, no `/`, no `..`). A "
        "bad reference ends the call with `INVALID_ARGUMENT`; it never crashes the server and "
        "never reads outside the buffer.",
        "A buggy or hostile client, or a topology whose buffer size changed, could otherwise "
        "make the extension read past its mapping: a `SIGBUS` or segmentation fault kills "
        "the container and every camera it serves. A handle name such as `../../etc/passwd` "
        "makes a careless server open files it should never touch.",
        "Before reading: `if offset + length > buffer_length: context.abort(INVALID_ARGUMENT, "
        '"content_reference ... lies outside the buffer")`; compute the expected RAW size '
        "from width, height, stride and pixel format and compare; accept a `handle_name` "
        "only if it is non-empty and contains neither `/` nor `..`.",
        (DECISION,),
    ),
    Rule(
        "M5",
        "Placing frames in the buffer: first fit, and wait or drop when full",
        "Microsoft's test client places each frame first-fit in the gaps between regions "
        "still in flight, frees a region when its ack arrives, and waits when the buffer is "
        "full. A live camera cannot wait, so `lvatool simulate` offers both: wait (the "
        "default for files) and drop (for live pacing), and it counts the frames it drops.",
        "With a live source, blocking on a full buffer lets frames pile up upstream and "
        "latency grow without bound; with a file, dropping loses test coverage. A client "
        "that hands out regions round-robin without tracking which are still in flight "
        "overwrites frames the server is reading (M3).",
        "Client: keep the list of regions in flight, allocate first-fit, free on ack; when "
        "nothing fits, drop and count the frame (live sources) or wait for an ack (files). "
        "Server: nothing to implement, but answer promptly; slow acks are what fills the "
        "buffer.",
        (SAMPLE, DECISION),
    ),
    Rule(
        "M6",
        "Shared memory needs one host and a shared IPC namespace",
        "For shared memory both containers must see the same IPC namespace: `IpcMode: "
        "shareable` on the LVA module and `container:<LVA module name>` on the extension, "
        "or `host` on both. It works only when both run on the same machine; embedded "
        "transfer works across the network.",
        "Without a shared namespace each container has its own `/dev/shm`, the extension "
        "cannot find the file, and every session fails at the handshake (with "
        "`FAILED_PRECONDITION` if the extension follows H6). An extension on another machine "
        "can never use shared memory.",
        "In the deployment manifest set `createOptions.HostConfig.IpcMode` to `shareable` on "
        "the LVA module and to `container:<LVA module name>` on the extension (or `host` on "
        "both). Use embedded transfer for remote extensions. Rehearse locally with "
        "`lvatool simulate --shm 20`.",
        (SPEC,),
    ),
    # ---- F: frames ------------------------------------------------------------------------
    Rule(
        "F1",
        "Frames arrive as the topology prepares them",
        "LVA scales and encodes every frame as the extension node says: `image.scale` (mode "
        "`preserveAspectRatio`, `pad` or `stretch`, plus width and height) and "
        "`image.format` (`jpeg` with a `quality` of 0–100, `bmp`, `png`, or `raw` with one "
        "of the protocol's pixel formats). Topologies spell values in mixed case "
        "(`Embedded`, `embedded`), so they are compared without regard to case.",
        "Extensions often assume one format, say 416×416 JPEG; when an operator switches the "
        "topology to raw `bgr24` or another size, the model is fed the wrong layout. Tools "
        "that match `embedded` but not `Embedded` silently fall back to a default mode.",
        "Server: decode by the declared encoding; for RAW, use the declared pixel format and "
        "stride; resize to your model's input yourself instead of assuming the topology "
        "did; refuse what you do not support (H6). Client: encode exactly what the "
        "descriptor declares, so each sample's size matches it, and read topology values "
        "case-insensitively.",
        (SPEC,),
    ),
    Rule(
        "F2",
        "Sampling options limit and filter the frames sent",
        "`samplingOptions.maximumSamplesPerSecond` (a decimal number written as a string) "
        "caps how many samples per second are sent; `skipSamplesWithoutAnnotation` "
        '("true"/"false") sends only frames that already carry upstream inferences, e.g. '
        "from motion detection. Those upstream inferences travel in the client's "
        "`MediaSample.inferences`.",
        "The rate cap is how operators bound the load, and the cost, of an extension; a "
        "client that ignores it floods the model. An extension that ignores the upstream "
        "inferences misses the motion regions it was placed behind to examine.",
        "Client: pace sending to at most the cap (parse it as a float) and forward upstream "
        "inferences in `MediaSample.inferences`. Server: read "
        "`request.media_sample.inferences` if your model uses hints, and expect bursty, "
        "gated traffic rather than a steady frame rate.",
        (SPEC,),
    ),
    Rule(
        "F3",
        "Timestamps are presentation times in timescale ticks",
        "`MediaSample.timestamp` is the frame's presentation time, in units of "
        "1/`timescale` seconds; every published example uses 90 000 ticks per second, "
        "counted from the Unix epoch.",
        "LVA publishes results at the timestamp on the response (Q2). A client that sends 0, "
        "a frame index or milliseconds under a 90 kHz timescale breaks event times and the "
        "link between inference events and recorded video.",
        "Client: `timestamp = int(unix_seconds * timescale)`, increasing from frame to "
        "frame. Server: copy the timestamp onto the response, never invent one; divide by "
        "the descriptor's timescale when you need seconds.",
        (SPEC,),
    ),
    Rule(
        "F4",
        "Scale modes, and which image boxes refer to",
        "`stretch` resizes to exactly width × height. `preserveAspectRatio` fits the frame "
        "inside width × height keeping its proportions, so one side comes out shorter. "
        "`pad` fits the same way and then adds centred black bars to reach exactly width × "
        "height. For padded frames, boxes are relative to the padded image; LVA maps them "
        "back to the original frame itself.",
        "A model that insists on 416×416 fails or mis-scales on a `preserveAspectRatio` "
        "frame of 416×234. An extension that removes the padding from its boxes itself gets "
        "them re-mapped a second time by LVA, so boxes shift and shrink on screen.",
        "Server: read the real dimensions from the descriptor, not from the topology you "
        "expect; report boxes in the coordinates of the image you received, bars included. "
        "Client: implement `pad` with centred black bars.",
        (SPEC,),
    ),
    # ---- R: results -----------------------------------------------------------------------
    Rule(
        "R1",
        "An inference's type matches its value",
        "Each `Inference`'s `type` names the member of its `value` that is set "
        "(`CLASSIFICATION` for `classification`, `ENTITY` for `entity`, and so on); `AUTO` "
        "asks LVA to fill the type in. lvatool's reading: its server always sets the type "
        "explicitly.",
        "Downstream code (IoT Hub routes, Stream Analytics queries, player overlays) filters "
        "on the type; a classification labelled as an entity is dropped or drawn wrong. An "
        "explicit type also keeps results readable wherever they are consumed outside LVA.",
        "Set the type with the value: `Inference(type=Inference.InferenceType.ENTITY, "
        "entity=Entity(...))`. Set exactly one value member per inference.",
        (SPEC, DECISION),
    ),
    Rule(
        "R2",
        "Confidences and rectangles are fractions between 0 and 1",
        "Every confidence, and each of a rectangle's `l`, `t`, `w`, `h`, lies between 0.0 "
        "and 1.0; rectangles are fractions of the image as it was sent.",
        "Viewers and LVA treat boxes as fractions of the image: pixel coordinates (`l = 120`) "
        "place boxes far off screen, and confidences given as percentages (87) break every "
        "threshold in the rules downstream.",
        "Divide box coordinates by the width and height of the image you received (the "
        "padded image in `pad` mode, F4), clamp to [0, 1], and report confidence as a "
        "probability.",
        (SPEC,),
    ),
    Rule(
        "R3",
        "How LVA publishes results, and what that asks of an inference",
        "LVA turns each response that has inferences into an IoT Hub event: the body is "
        '`{"timestamp": <ticks>, "inferences": [...]}`, with the application properties '
        "`topic`, `subject`, `eventType` (`Microsoft.Media.Graph.Analytics.Inference`, or "
        "`Microsoft.VideoAnalyzer.Analytics.Inference` with AVA), `eventTime` (ISO-8601) and "
        '`dataVersion` "1.0". Each inference becomes camelCase JSON: a lower-case `type`, '
        "an optional `subtype` without surrounding white space, `inferenceId`, "
        "`relatedInferences`, exactly one value object (`classification`, `entity`, "
        "`motion`, `text`, `event` or `other`, whose `contentBytes` are base64) and optional "
        "`extensions`. Responses with no inferences are not published.",
        "This JSON is what your users' cloud code parses. A subtype with a trailing space, a "
        "missing value object, or two values set produce events that fail schema checks or "
        "quietly match no query. Knowing that empty responses are not published also tells "
        "you that acknowledging a frame without results costs nothing downstream (Q2).",
        "Set exactly one value per inference, strip `subtype`, and link entities and "
        "classifications with `inference_id` and `related_inferences`. See your results "
        "exactly as LVA would publish them with `lvatool simulate --output results.jsonl`.",
        (SPEC,),
    ),
    Rule(
        "R4",
        "The reference dark/light classifier",
        "The model of `lvatool serve`: convert the frame to grayscale and average it; a mean "
        "below 127 is `dark`, anything else `light`, with confidence 1.0, reported as one "
        "`CLASSIFICATION` inference whose `tag.value` is the label. lvatool's reading: "
        "grayscale is BT.601 luma (0.299 R + 0.587 G + 0.114 B on 0–255), and for YUV420P "
        "frames the Y plane is used as is.",
        "It is the model that `--profile darklight` checks: deterministic, with a known right "
        "answer for every frame, so a test can tell results sent to the wrong frame (Q3) "
        "from model noise. Implementations that use another luma formula (BT.709, a plain "
        "mean of R, G and B) disagree on frames near the threshold.",
        "This only matters if you implement the reference model, e.g. to validate your own "
        "pipeline with `--profile darklight`: use the BT.601 weights, the Y plane for "
        "YUV420P, and a strict `< 127` for `dark`. For any other model, do not pass "
        "`--profile darklight`.",
        (SPEC, DECISION),
    ),
    # ---- A: security ----------------------------------------------------------------------
    Rule(
        "A1",
        "Credentials arrive as request metadata; the server checks them",
        "When the topology gives the extension endpoint a user name and password, LVA sends "
        "them with every call as the metadata `x-ms-authentication: Basic "
        "<base64(username:password)>`. Checking them is the server's job: a server "
        "configured with credentials ends a call whose header is wrong or missing with "
        "`UNAUTHENTICATED`, before it reads any frame.",
        "Extensions often listen on the host network; without the check, anything that "
        "reaches the port can stream to your model and read its results. Checking after the "
        "first frames wastes work and leaks results, and another status (`PERMISSION_DENIED`, "
        "`INTERNAL`) hides the cause in LVA's diagnostics.",
        "Server: at the start of the handler (or in an interceptor) read "
        '`dict(context.invocation_metadata()).get("x-ms-authentication")`, compare it with '
        "`hmac.compare_digest`, and `context.abort(grpc.StatusCode.UNAUTHENTICATED, ...)` "
        "before reading a request. Client: send exactly `Basic ` followed by "
        "base64 of `username:password`, on every call.",
        (SPEC,),
    ),
    Rule(
        "A2",
        "TLS, with a strictly checked host name",
        "The connection may use TLS, and LVA then checks that the server certificate names "
        "the host exactly as the topology's endpoint URL does.",
        "A certificate issued for `localhost`, for an IP address, or for another name fails "
        "the TLS handshake, and LVA reports only connection errors, so the cause is easy to "
        "miss.",
        "Issue the server certificate with a subject alternative name equal to the host of "
        "the endpoint URL (`tls://myextension:5001` needs `DNS:myextension`). Rehearse with "
        "`lvatool serve --tls-cert cert.pem --tls-key key.pem` and "
        "`lvatool simulate --target myextension:5001 --tls-ca ca.pem`.",
        (SPEC,),
    ),
    Rule(
        "A3",
        "Nothing a peer sends can break the server",
        "Whatever arrives, lvatool's server never reads outside the shared buffer, never "
        "opens a file outside `/dev/shm`, never allocates without bound and never crashes; "
        "the worst a peer can do is end its own call with a clear status. That covers a "
        "shared-memory file that shrinks or is not a regular file, and an encoded image "
        "whose header claims enormous dimensions. A peer that stops answering HTTP/2 pings "
        "loses its session; a live peer that merely sends nothing keeps it (a motion-gated "
        "LVA session can be quiet for hours) unless the operator sets an idle timeout.",
        "One extension serves every camera: one malformed frame that crashes it, or one "
        "decompression-bomb JPEG that allocates gigabytes, takes all cameras down while the "
        "module restarts. Touching a mapping whose file has shrunk raises `SIGBUS`, which "
        "Python cannot catch. Closing quiet sessions breaks motion-gated topologies, which "
        "legitimately send nothing for long periods.",
        "Open shared memory with `O_NOFOLLOW`, check with `os.fstat` that it is a regular "
        "file at least as long as declared, and bounds-check every reference (M4). Compare "
        "an encoded image's header dimensions with the descriptor before decoding (Pillow's "
        "`Image.open` reads only the header; check `image.size` before `load()`). Turn "
        "every error in a call into a status for that call. Detect dead peers with gRPC "
        "keepalive pings (`grpc.keepalive_time_ms`), not with idle timeouts.",
        (DECISION,),
    ),
)

#: Every rule by ID, in the order of the protocol reference.
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def group_of(rule_id: str) -> str:
    """The family heading of a rule ID (``Q2`` → sequencing), by its letter."""
    return GROUPS[rule_id[:1]]
