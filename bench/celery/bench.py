"""Celery side of the queue benchmark: enqueue N no-op tasks with no worker
running (one publish per task: Celery has no bulk publish), then start one
worker (thread pool, concurrency C) and time the drain. Prints one JSON line.

usage: python bench.py [JOBS] [CONCURRENCY]   (BENCH_REDIS_URL, default redis://127.0.0.1:6379)

Tasks are acknowledged late (after they run), so the queue is drained when
both the Redis list and the transport's unacked hash are empty. The drain is
timed from the moment the worker takes its first message, so the worker
process's start-up is not counted.
"""

import json
import os
import subprocess
import sys
import time

import redis
from celery import Celery

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE") or f"bench-celery-{os.getpid()}"

app = Celery("bench", broker=URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop(n):
    return None


def main():
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    r = redis.Redis.from_url(URL)
    r.delete(QUEUE, "unacked", "unacked_index")
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for n in range(jobs):
            noop.apply_async((n,), producer=producer)
    enqueue_secs = time.perf_counter() - started
    assert r.llen(QUEUE) == jobs, f"{r.llen(QUEUE)} of {jobs} tasks queued"

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench", "worker", "--pool", "threads",
         "-c", str(concurrency), "-Q", QUEUE, "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        env={**os.environ, "BENCH_CELERY_QUEUE": QUEUE},
        stdout=subprocess.DEVNULL,
    )
    try:
        while r.llen(QUEUE) == jobs:
            if worker.poll() is not None:
                raise SystemExit(f"celery worker exited with {worker.returncode}")
            time.sleep(0.001)
        started = time.perf_counter()
        while r.llen(QUEUE) > 0 or r.hlen("unacked") > 0:
            time.sleep(0.005)
        process_secs = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    r.delete(QUEUE)
    print(json.dumps({
        "system": "celery", "jobs": jobs, "concurrency": concurrency,
        "enqueue_secs": enqueue_secs, "enqueue_per_sec": jobs / enqueue_secs,
        "process_secs": process_secs, "process_per_sec": jobs / process_secs,
    }))


if __name__ == "__main__":
    main()
