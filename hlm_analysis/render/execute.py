"""Run a parsed .qmd's cells in one Jupyter kernel, as Quarto's Jupyter engine does.

Parameters are injected in a cell right after the one tagged `parameters` (papermill's rule), so
the defaults in the document stay readable and the values given on the command line win.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .. import atomic
from ..errors import ToolError
from .errors import cell_failure
from .qmd import Document

# Figures at print quality, PNG only (one format every output can embed).
_SETUP = """\
import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
from matplotlib_inline.backend_inline import set_matplotlib_formats
set_matplotlib_formats("png")
matplotlib.rcParams["figure.dpi"] = 144
matplotlib.rcParams["savefig.bbox"] = "tight"
"""


def build_notebook(doc: Document, parameters: dict) -> tuple[nbformat.NotebookNode, list[int]]:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(_SETUP, metadata={"tags": ["engine-setup"]}))
    positions = []  # notebook index of each document cell
    injected = False
    for cell in doc.cells:
        positions.append(len(nb.cells))
        nb.cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": cell.tags}))
        if "parameters" in cell.tags and not injected:
            lines = [f"{key} = {value!r}" for key, value in parameters.items()]
            nb.cells.append(
                nbformat.v4.new_code_cell(
                    "\n".join(lines), metadata={"tags": ["injected-parameters"]}
                )
            )
            injected = True
    if parameters and not injected:
        lines = [f"{key} = {value!r}" for key, value in parameters.items()]
        nb.cells.insert(
            1,
            nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]}),
        )
        positions = [p + 1 for p in positions]
    return nb, positions


# A unix socket's path must fit sockaddr_un.sun_path: 108 bytes on Linux, 104 on macOS, with the
# closing NUL. Jupyter names the sockets IP-1 ... IP-5.
_SOCKET_PATH_MAX = 103
_SOCKET_SUFFIX = len("-99")
_KERNEL_PREFIX = "hlm-kernel-"
_LEGACY_AGE = 24 * 3600.0  # seconds: no render runs this long


def _short_tmp() -> Path:
    return Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())


def socket_dir(workdir: Path) -> Path:
    """A new folder for the kernel's sockets and connection file.

    Inside `workdir` (the render's scratch folder), so it goes with it even after `kill -9`; when
    that path is too long for a socket, a short folder in /tmp named after this process
    (`hlm-kernel-<pid>-<host>-...`), which a later run removes once the process is gone.
    """
    tmp = _short_tmp()
    atomic.remove_stale(tmp, _KERNEL_PREFIX)
    atomic.remove_legacy(tmp, _KERNEL_PREFIX, _LEGACY_AGE)  # from versions without the PID
    inside = Path(os.path.abspath(workdir)) / "kernel"
    if len(os.fsencode(inside / "kernel")) + _SOCKET_SUFFIX <= _SOCKET_PATH_MAX:
        inside.mkdir(parents=True)
        return inside
    return atomic.owned_tempdir(tmp, _KERNEL_PREFIX)


def execute(doc: Document, parameters: dict, workdir: Path, timeout: int = 1800) -> list[list]:
    """Execute all cells; returns each document cell's outputs, in document order."""
    nb, positions = build_notebook(doc, parameters)
    allow_errors = {
        pos for pos, cell in zip(positions, doc.cells, strict=True) if cell.options.get("error")
    }
    # IPC transport: no TCP ports, and no "running over TCP without encryption" noise.
    # The socket path must be absolute: the kernel runs in `workdir`, the client wherever the user is.
    sockets = socket_dir(workdir)
    manager = KernelManager(
        kernel_name="python3",
        transport="ipc",
        ip=str(sockets / "kernel"),
        connection_file=str(sockets / "kernel.json"),  # not in Jupyter's runtime folder
    )
    client = NotebookClient(
        nb,
        km=manager,
        timeout=timeout,
        resources={"metadata": {"path": str(workdir)}},
        allow_errors=bool(allow_errors),
    )
    try:
        client.execute(cleanup_kc=True)  # we own the manager: close the client's sockets too
    except CellExecutionError as exc:
        failing = next(
            (c for c in doc.cells if c.source.strip() and c.source.strip() in str(exc)), None
        )
        label = failing.label if failing else None
        raise cell_failure(
            label, getattr(exc, "ename", None), getattr(exc, "evalue", None), str(exc)
        ) from None
    except RuntimeError as exc:  # nbclient's word for a kernel that did not start or answer
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ToolError(f"Jupyter kernel: the report's kernel failed: {first}") from None
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
        shutil.rmtree(sockets, ignore_errors=True)
    return [nb.cells[pos].get("outputs", []) for pos in positions]
