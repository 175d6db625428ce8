"""`hlm-report preview CONFIG`: the HTML report on 127.0.0.1, rendered again on every save.

One render of the HTML alone (`render --to html`, which reuses the fit while the config and
data are unchanged), then a loop that polls the config's and the data files' size and
modification time (no file-watching library: polling works the same on every platform and
network drive) and renders again when one changes. The page is served with a few lines of
script added (not written into the report) that ask `/__version` once a second and reload when
a new render has finished. A render that fails on the user's input prints its one line and the
last good report stays on screen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import layout
from .errors import InputError, ToolError

VERSION_PATH = "/__version"
RELOAD_SCRIPT = (
    "<script>(function(){var seen=null;setInterval(function(){"
    f"fetch('{VERSION_PATH}',{{cache:'no-store'}}).then(function(r){{return r.text()}})"
    ".then(function(v){if(seen===null){seen=v}else if(v!==seen){location.reload()}})"
    ".catch(function(){})},1000)})();</script>"
)


class State:
    """What the server shows: the report folder and how many renders have finished."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.version = 0
        self.lock = threading.Lock()

    def bump(self) -> None:
        with self.lock:
            self.version += 1


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, *args, state: State, **kwargs):
        self.state = state
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass  # one line per request would bury the render messages

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - the stdlib's name
        if self.path == VERSION_PATH:
            self._send(200, str(self.state.version).encode(), "text/plain; charset=utf-8")
            return
        if self.path.split("?")[0] not in ("/", "/" + layout.HTML):
            self._send(404, b"not found", "text/plain; charset=utf-8")
            return
        try:
            html = (self.state.folder / layout.HTML).read_text(encoding="utf-8")
        except OSError:
            self._send(503, b"no report yet", "text/plain; charset=utf-8")
            return
        # The report is self-contained: only the reload script is added, before </body>.
        at = html.rfind("</body>")
        html = html[:at] + RELOAD_SCRIPT + html[at:] if at >= 0 else html + RELOAD_SCRIPT
        self._send(200, html.encode("utf-8"), "text/html; charset=utf-8")


def start_server(state: State, port: int) -> ThreadingHTTPServer:
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Handler, state=state))
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen on 127.0.0.1: {exc.strerror}") from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def watched_files(config: Path) -> list[Path]:
    """The config and the data files it names now (a config that does not load: itself)."""
    from .data.source import discover
    from .spec import load_spec

    try:
        return [config, *discover(load_spec(config).data).files]
    except InputError:
        return [config]


def fingerprint(paths: list[Path]) -> tuple:
    out = []
    for path in paths:
        try:
            info = path.stat()
            out.append((str(path), info.st_size, info.st_mtime_ns))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


def watch(
    config: Path,
    render: Callable[[], object],
    state: State,
    progress: Callable[[str], None],
    interval: float = 0.5,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Render whenever the config or its data change, until `stop()` says so."""
    seen = fingerprint(watched_files(config))
    while not stop():
        time.sleep(interval)
        now = fingerprint(watched_files(config))
        if now == seen:
            continue
        seen = now
        progress(f"hlm-report: preview: {config} or its data changed; rendering")
        try:
            render()
        except (InputError, ToolError) as exc:
            progress(f"hlm-report: preview: {exc} (showing the last good report)")
            continue
        state.bump()
        # the render may have changed which files the config names
        seen = fingerprint(watched_files(config))


def preview(
    config: Path,
    output_root: Path = layout.DEFAULT_OUTPUT_ROOT,
    port: int = 4848,
    progress: Callable[[str], None] = print,
    interval: float = 0.5,
    stop: Callable[[], bool] = lambda: False,
    render: Callable[..., object] | None = None,
) -> None:
    if render is None:
        from .render import render_report as render
    if not 0 <= port <= 65535:
        raise InputError(f"--port {port}: a port is 0 to 65535")
    folder = layout.report_dir(output_root, config)

    def once():
        return render(config, output_root=output_root, progress=progress, formats=["html"])

    state = State(folder)
    server = start_server(state, port)  # a busy port stops here, before a render's wait
    try:
        once()  # the first render's input errors stop here: exit 2, one line
        state.bump()
        host, bound = server.server_address[:2]
        progress(f"hlm-report: preview of {config} at http://{host}:{bound}/ (Ctrl-C stops)")
        watch(config, once, state, progress, interval, stop)
    finally:
        server.shutdown()
        server.server_close()
