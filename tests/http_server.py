"""A small HTTP file server on 127.0.0.1 for download tests, with faults on demand.

It serves the files of one folder, honours ``Range: bytes=N-`` (unless told not to), and can
cut a response short after a number of bytes to imitate a dropped connection. Hostile servers
on demand: a malformed ``Content-Length``, no ``Content-Length`` and a body without end, a body
trickled a byte at a time. Those bodies end when the client goes away, when the server shuts
down, or after ``stream_limit`` seconds at most, so a test of a broken client still ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ServerState:
    root: Path
    support_range: bool = True
    drop_after: int | None = None  # cut the next `drops` responses after this many body bytes
    drops: int = 0
    status_override: int | None = None  # answer every request with this status (e.g. 403)
    content_length: str | None = None  # send this Content-Length value instead of the true one
    endless: bool = False  # no Content-Length, and after the file keep sending bytes
    trickle: float | None = None  # send the body one byte every `trickle` seconds
    stream_limit: float = 5.0  # seconds after which an endless or trickled body stops anyway
    requests: list = field(default_factory=list)  # (path, Range header or None)
    stopping: threading.Event = field(default_factory=threading.Event)


def _handler(state: ServerState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):  # noqa: N802 - http.server's naming
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            if state.status_override:
                self.send_error(state.status_override)
                return
            path = state.root / self.path.lstrip("/").split("?", 1)[0]
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start = 0
            if rng and state.support_range and rng.startswith("bytes="):
                start = int(rng[len("bytes="):].split("-", 1)[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            if state.support_range:
                self.send_header("Accept-Ranges", "bytes")
            body = data[start:]
            if state.content_length is not None:
                self.send_header("Content-Length", state.content_length)
            elif not state.endless:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.endless or state.trickle is not None:
                self._stream(body)
                return
            if state.drops > 0 and state.drop_after is not None:
                state.drops -= 1
                self.wfile.write(body[: state.drop_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _stream(self, body: bytes) -> None:
            """Trickle ``body`` and/or follow it with filler, until told or timed to stop."""
            end = time.monotonic() + state.stream_limit
            pieces = ([body[i:i + 1] for i in range(len(body))] if state.trickle is not None
                      else [body])
            try:
                for piece in pieces:
                    if state.stopping.is_set() or time.monotonic() > end:
                        return
                    self.wfile.write(piece)
                    self.wfile.flush()
                    if state.trickle is not None:
                        state.stopping.wait(state.trickle)
                while state.endless and not state.stopping.is_set() and time.monotonic() < end:
                    self.wfile.write(b"\0" * 65536)
            except OSError:  # the client went away
                pass
            finally:
                self.close_connection = True

    return Handler


class LocalServer:
    """Context manager: ``with LocalServer(folder) as srv: srv.url("file.tar")``."""

    def __init__(self, root: Path, **options):
        self.state = ServerState(root=Path(root), **options)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
