"""A small HTTP server for the tests: serves a folder on 127.0.0.1 and honours ``Range: bytes=a-b``.

Python's ``http.server`` ignores Range headers (it always answers 200 with the whole file), which remote
HDF5 readers cannot work with. This handler answers a single byte range with 206 Partial Content,
``Content-Range`` and the exact bytes; a request without Range gets 200 and the whole file. Extra fixed
answers (``routes``: URL path -> (bytes, content type)) stand in for JSON APIs.
"""

from __future__ import annotations

import re
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeHandler(BaseHTTPRequestHandler):
    """GET and HEAD of files under ``root``, with single byte ranges."""

    def __init__(self, *args, root: Path, routes: dict, log: list, **kwargs):
        self.root, self.routes, self.log = root, routes, log
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # keep pytest output clean; requests are recorded in self.log
        pass

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        target = urlsplit(self.path)
        self.log.append((self.command, self.path, self.headers.get("Range")))
        route = self.routes.get(target.path + (f"?{target.query}" if target.query else "")) \
            or self.routes.get(target.path)
        if route is not None:
            data, content_type = route
        else:
            file = (self.root / unquote(target.path).lstrip("/")).resolve()
            if not file.is_file() or self.root not in file.parents:
                self.send_error(404, "Not Found")
                return
            data, content_type = file.read_bytes(), "application/octet-stream"
        status, start, stop = 200, 0, len(data)
        wanted = self.headers.get("Range")
        if wanted:
            match = _RANGE.match(wanted.strip())
            if not match or (not match[1] and not match[2]):
                self.send_error(416, "Range Not Satisfiable")
                return
            if match[1]:
                start = int(match[1])
                stop = min(int(match[2]) + 1, len(data)) if match[2] else len(data)
            else:  # the last N bytes
                start = max(len(data) - int(match[2]), 0)
            if start >= len(data) or stop <= start:
                self.send_error(416, "Range Not Satisfiable")
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(stop - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.end_headers()
        if body:
            try:
                self.wfile.write(data[start:stop])
            except (BrokenPipeError, ConnectionResetError):  # clients may stop reading (size probes)
                pass


class RangeServer:
    """Serve ``root`` on 127.0.0.1 (a free port) in a thread; use as a context manager.

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:PORT``.
    requests : list of (method, path, range header)
        Every request received, in order.
    """

    def __init__(self, root, routes: dict | None = None):
        self.requests: list = []
        self.routes = dict(routes or {})
        handler = partial(RangeHandler, root=Path(root).resolve(), routes=self.routes, log=self.requests)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="range-server", daemon=True)

    def __enter__(self) -> RangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
