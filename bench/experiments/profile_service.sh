#!/bin/bash
# py-spy profile of the running service while one client posts PHOTO repeatedly.
set -e
cd "$(dirname "$0")/../.."
PHOTO=${1:-../shared/data/photos/pexels/pexels-andrea-piacquadio-774909.jpg}
OUT=${2:-bench/experiments/profile.txt}
PORT=$(.venv/bin/python -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
AGE_LOG_LEVEL=warning nice -n 5 .venv/bin/python -m inference_service --port $PORT > /tmp/svc.log 2>&1 &
SVC=$!
for i in $(seq 120); do curl -sf http://127.0.0.1:$PORT/ready >/dev/null && break; sleep 1; done
for i in 1 2 3; do curl -s -o /dev/null -F file=@$PHOTO http://127.0.0.1:$PORT/predict; done
( for i in $(seq 40); do curl -s -o /dev/null -F file=@$PHOTO http://127.0.0.1:$PORT/predict; done ) &
CL=$!
.venv/bin/py-spy record -p $SVC -d 20 -r 200 --format raw --threads -o /tmp/prof.raw --nonblocking >/dev/null 2>&1 || true
kill $CL 2>/dev/null || true
curl -s -F file=@$PHOTO http://127.0.0.1:$PORT/predict | head -c 600; echo
kill -INT $SVC; wait $SVC 2>/dev/null || true
.venv/bin/python - <<'PY' > $OUT
import collections
self_t = collections.Counter(); total = collections.Counter(); n = 0
for line in open("/tmp/prof.raw"):
    stack, _, count = line.rstrip().rpartition(" ")
    count = int(count); frames = stack.split(";")
    if "inference" not in frames[0] and "anyio" not in stack and "decode" not in stack: pass
    n += count
    self_t[frames[-1]] += count
    for f in set(frames): total[f] += count
print("samples", n)
print("== self"); [print(v, k) for k, v in self_t.most_common(25)]
print("== inclusive"); [print(v, k) for k, v in total.most_common(40)]
PY
