"""CLI tables read by a script or a pager: one line per row, not folded at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_piped_table_is_as_wide_as_its_rows() -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    code = "from cli.output import table; table(None, ['NAME', 'TARGETS'], [('x' * 70, 'y' * 70)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=30, check=True).stdout  # fmt: skip
    lines = out.splitlines()
    assert len(lines) == 5 and max(map(len, lines)) > 140, out  # borders, header, one row
    assert any("x" * 70 in line and "y" * 70 in line for line in lines)
