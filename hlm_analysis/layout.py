"""Where outputs live: the file names that render, email, the site and the CLI share.

`hlm-report render CONFIG` writes OUTPUT_ROOT/NAME/ (NAME: the config's file name without .yml;
OUTPUT_ROOT: `_output` under the directory hlm-report runs in, unless given).
"""

from __future__ import annotations

from pathlib import Path

from .results import RESULTS_FILE, SAMPLE_FILE

HTML = "report.html"
PDF = "report.pdf"
DOCX = "report.docx"
REPORT_FILES = (HTML, PDF, DOCX)
OUTPUTS = (*REPORT_FILES, RESULTS_FILE, SAMPLE_FILE)  # what a complete report folder holds
SEND_LOG = "sent.json"  # the email send log: outlives re-renders (exactly-once delivery)
OUTBOX = "outbox"  # email --dry-run writes .eml files here
ERROR_LOG = "error.log"  # the traceback of an internal error
DEFAULT_OUTPUT_ROOT = Path("_output")


def report_dir(output_root: Path, config: Path) -> Path:
    """The folder of one report: OUTPUT_ROOT/NAME, relative paths taken from the working
    directory."""
    return output_root.resolve() / Path(config).stem
