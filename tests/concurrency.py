"""Run the same work on several threads released at once (races against the real database)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def all_at_once(workers: int, work: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``work`` on ``workers`` threads released together; what each returned or raised."""
    gate = threading.Barrier(workers)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        gate.wait()
        try:
            outcome = work()
        except BaseException as error:  # every outcome is collected and asserted on
            with lock:
                errors.append(error)
        else:
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors
