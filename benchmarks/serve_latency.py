"""Latency of `chainrule serve`: p50 and p99 of /api/predict on one kept-alive connection,
with the server idle and while it trains a network in its worker thread.

    python benchmarks/serve_latency.py [--dataset digits] [--requests 300]

Starts a real server (`python -m chainrule serve --port 0`) on this machine's loopback,
sends a bounded number of requests one after the other (no load beyond one client), and
prints a small table. Never part of the test suite.
"""

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time


def start(dataset, folder):
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", "--port", "0", "--dataset", dataset,
                             "--models-dir", folder], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=folder)
    for line in proc.stdout:
        found = re.search(r"serving on http://([\d.]+):(\d+)", line)
        if found:
            return proc, found.group(1), int(found.group(2))
    raise SystemExit(f"the server did not start: {proc.wait()}")


def measure(conn, host, n):
    """Seconds of n POST /api/predict on the kept-alive connection (the first 10 dropped)."""
    body = json.dumps({"pixels": [0.0] * 300 + [1.0] * 60 + [0.0] * (784 - 360)})
    headers = {"content-type": "application/json", "host": host}
    times = []
    for _ in range(n + 10):
        start = time.perf_counter()
        conn.request("POST", "/api/predict", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"/api/predict answered {response.status}")
        times.append(time.perf_counter() - start)
    return sorted(times[10:])


def row(name, times):
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return f"| {name} | {len(times)} | {1000 * statistics.median(times):.1f} | {1000 * p99:.1f} |"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        proc, host, port = start(args.dataset, folder)
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            idle = measure(conn, host, args.requests)
            settings = {"hidden": [256, 128], "epochs": 1000, "batch_size": 32}
            conn.request("POST", "/api/train", body=json.dumps(settings),
                         headers={"content-type": "application/json", "host": host})
            response = conn.getresponse()
            response.read()
            training = measure(conn, host, args.requests)
            conn.request("POST", "/api/train/stop", body="{}",
                         headers={"content-type": "application/json", "host": host})
            conn.getresponse().read()
        finally:
            proc.terminate()
            proc.wait(10)
    print("| server | requests | p50 (ms) | p99 (ms) |\n|---|---:|---:|---:|")
    print(row("idle", idle))
    print(row(f"training ({response.status})", training))


if __name__ == "__main__":
    main()
