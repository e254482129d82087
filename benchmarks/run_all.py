"""Run every Pharmos benchmark in turn (`make bench`). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/run_all.py

Each benchmark runs in its own interpreter so one's engines, pools and imports do not
colour the next one's figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["audit_verify.py", "audited_writes.py", "http_load.py", "materials_stock.py", "equipment_usability.py",
              "quality_lists.py", "quality_documents.py"]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(flush=True)
        code = subprocess.run([sys.executable, str(HERE / name)], check=False).returncode
        if code != 0:
            failed.append(f"{name} (exit {code})")
    if failed:
        print("\nbenchmarks that did not complete: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
