"""Asks a running Prometheus whether it scrapes the age service the way the deployment intends.

Waits (up to --timeout seconds) until its query API shows --targets healthy age-estimator targets
and the POST /predict requests they counted add up to exactly --predictions. Standard library only.

    python3 deploy/containers/prometheus_probe.py http://localhost:9090 --targets 2 --predictions 2
"""

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request

JOB = "age-estimator"
QUERIES = {
    "targets": f'count(up{{job="{JOB}"}} == 1)',
    "predictions": f'sum(age_http_requests_total{{job="{JOB}",route="/predict",method="POST"}})',
}


def query(base: str, promql: str) -> float | None:
    """The single value of an instant query, or None while Prometheus has no answer yet."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
    except OSError:
        return None
    result = body.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--targets", type=int, required=True, help="API replicas that must be up")
    parser.add_argument("--predictions", type=int, required=True, help="POST /predict sent so far")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    want = {"targets": args.targets, "predictions": args.predictions}
    deadline = time.monotonic() + args.timeout
    while True:
        seen = {name: query(args.base_url.rstrip("/"), promql) for name, promql in QUERIES.items()}
        if all(seen[name] == want[name] for name in want):
            targets, predictions = seen["targets"], seen["predictions"]
            print(f"prometheus: {targets:.0f} targets up, {predictions:.0f} POST /predict counted")
            return 0
        if time.monotonic() > deadline:
            print(f"prometheus: wanted {want}, last saw {seen}", file=sys.stderr)
            return 1
        time.sleep(3)


if __name__ == "__main__":
    sys.exit(main())
