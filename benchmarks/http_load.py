"""Authenticated GET requests per second: 4 uvicorn workers on PostgreSQL, wrk on loopback.

Target (issue): >= 1,500 req/s on a 2-core machine.

    .venv/bin/python benchmarks/http_load.py [--workers 4] [--connections 64] [--duration 20]

Creates a throwaway PostgreSQL database with one QA user, gets a bearer token from
POST /api/v1/auth/token, and loads GET /api/v1/auth/me (session resolution, permissions,
JSON rendering) from wrk, a separate process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import banner, load_average, migrate, pg_database, postgres_missing

TARGET = 1_500
USERNAME, PASSWORD = "qa.li", "qa.li-pass1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provision_user() -> None:
    from pharmos.auth.service import create_user, ensure_builtin_roles
    from pharmos.core.actor import Actor

    system = Actor.system("bench")
    ensure_builtin_roles(actor=system)
    create_user(actor=system, username=USERNAME, full_name="李质量", password=PASSWORD, roles=["qa_specialist"])


def wait_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError("uvicorn did not become healthy in time")


def bearer_token(base: str) -> str:
    body = json.dumps({"username": USERNAME, "password": PASSWORD}).encode()
    req = urllib.request.Request(f"{base}/api/v1/auth/token", data=body,  # noqa: S310 - loopback
                                 headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        return str(json.loads(resp.read())["access_token"])


def process_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given live processes, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def serving_pids(server: subprocess.Popen[bytes], url: str) -> list[int]:
    """The uvicorn supervisor and workers, and the PostgreSQL backends serving this database."""
    import psycopg

    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    pids = [server.pid] + [int(p) for p in children.read_text().split()] if children.exists() else [server.pid]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres") as conn:
        pids += [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]
    return pids


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20, help="seconds")
    parser.add_argument("--path", default="/api/v1/auth/me", help="e.g. /version for the framework floor")
    args = parser.parse_args(argv)
    banner("authenticated GET throughput (uvicorn + PostgreSQL)")
    wrk = shutil.which("wrk")
    if wrk is None:
        print("skipped: wrk is not installed (apt-get install wrk)")
        return 0
    if postgres_missing():
        return 0
    with pg_database() as url:
        migrate(url)
        provision_user()
        from pharmos.core.db import get_database

        get_database().dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PHARMOS_DATABASE_URL": url}
        uvicorn = [str(Path(sys.executable).with_name("uvicorn")), "--factory", "pharmos.app:create_app",
                   "--workers", str(args.workers), "--host", "127.0.0.1", "--port", str(port),
                   "--no-access-log", "--log-level", "warning"]
        print(f"server  : {' '.join(uvicorn)}")
        server = subprocess.Popen(uvicorn, env=env)
        try:
            wait_healthy(base, server)
            token = bearer_token(base)
            load = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
                    "-H", f"Authorization: Bearer {token}", f"{base}{args.path}"]
            print(f"load    : {' '.join(load).replace(token, '<token>')}")
            print(f"load average before timing: {load_average()}")
            subprocess.run([*load[:3], "-d2s", *load[4:]], capture_output=True, timeout=60, check=True)  # warm-up
            pids = serving_pids(server, url)
            cpu_before = process_cpu_seconds(pids)
            out = subprocess.run(load, capture_output=True, text=True, timeout=args.duration + 60, check=True).stdout
            server_cpu = process_cpu_seconds(pids) - cpu_before
        finally:
            stop(server)
    print(out.rstrip())
    rate_match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    rate = float(rate_match.group(1)) if rate_match else 0.0
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if errors:
        print(f"WARNING : {errors.group(1)} responses were not 2xx/3xx; the figure is not valid")
    verdict = "meets" if rate >= TARGET and not errors else "MISSES"
    print(f"result  : {rate:,.0f} req/s ({verdict} target {TARGET:,} req/s)")
    total = rate * args.duration
    if total:
        per_request = server_cpu / total * 1e3
        cores = os.cpu_count() or 1
        # What the serving side alone would sustain if it had every core (wrk excluded).
        print(f"cpu     : uvicorn workers + PostgreSQL backends used {server_cpu:.1f} CPU-s = {per_request:.2f} "
              f"CPU-ms/request -> at most {cores * 1e3 / per_request:,.0f} req/s on {cores} idle cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
