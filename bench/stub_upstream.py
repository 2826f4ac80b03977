"""A deliberately minimal HTTP/1.1 backend for benchmarks: fixed answers, keep-alive, uvloop.

POST/GET anything   a small OpenAI-style JSON completion, with its usage
GET /sse?n=N        N server-sent events, 1 ms apart
POST ...?n=N with a body saying "stream":true
                    N OpenAI chat-completion chunks, 1 ms apart, then the usage chunk
                    when the body asks for it (stream_options.include_usage), then [DONE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Callable

import uvloop

BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "stub",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }
).encode()
CHUNK = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"stub",'
    b'"choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]}\n\n'
)
USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"stub",'
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d}}\n\n'
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class Stub(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            target = head.split(" ", 2)[1]
            assert self.transport is not None
            count = int(target.partition("n=")[2] or 100)
            if "/sse" in target:
                self._stream_events(count, lambda index: b'data: {"i": %d}\n\n' % index, b"")
            elif b'"stream":true' in body.replace(b" ", b""):
                usage = USAGE_CHUNK % (count, count + 12) if b"include_usage" in body else b""
                self._stream_events(count, lambda _index: CHUNK, usage + b"data: [DONE]\n\n")
            else:
                self.transport.write(RESPONSE)

    def _stream_events(self, count: int, event_of: Callable[[int], bytes], ending: bytes) -> None:
        """One chunk per event, 1 ms apart: how an LLM streams tokens."""
        assert self.transport is not None
        transport = self.transport
        transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        loop = asyncio.get_running_loop()

        def send(index: int) -> None:
            if transport.is_closing():
                return
            if index == count:
                if ending:
                    transport.write(b"%x\r\n%s\r\n" % (len(ending), ending))
                transport.write(b"0\r\n\r\n")
                return
            event = event_of(index)
            transport.write(b"%x\r\n%s\r\n" % (len(event), event))
            loop.call_later(0.001, send, index + 1)

        send(0)


async def main(port: int, ready_file: str) -> None:
    server = await asyncio.get_running_loop().create_server(Stub, "127.0.0.1", port, backlog=1024)
    with open(ready_file + ".tmp", "w") as handle:  # noqa: ASYNC230 - once, at start
        json.dump({"port": server.sockets[0].getsockname()[1], "pid": os.getpid()}, handle)
    os.replace(ready_file + ".tmp", ready_file)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True)
    args = parser.parse_args()
    uvloop.run(main(args.port, args.ready_file))
