#!/usr/bin/python3
"""What a Python user would pick instead of kfarm: Dask distributed (Debian python3-distributed),
a LocalCluster with the same number of worker processes (one thread each) serving no-op tasks on
the same payload. Prints one line, "tasks_per_s p50_us p99_us", like bench/gateway/run's measure.

Kept honest, on Dask's documented fast paths: tasks are submitted with Client.map in batches
(the best-practices page: "use map for many tasks"; pure=False so identical payloads are not
deduplicated into one task), with two batches in flight so the scheduler never idles between
them; latency is one Client.submit(...).result() at a time, after a warm-up.

    dask_baseline.py WORKERS TASKS LATENCY_TASKS PAYLOAD_BYTES [BATCH]"""
import statistics
import sys
import time


def noop(payload):
    return payload


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    workers, tasks, lat_tasks, size = (int(a) for a in sys.argv[1:5])
    batch = int(sys.argv[5]) if len(sys.argv) == 6 else 1000
    import logging
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    payload = b"x" * size
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1", silence_logs=logging.ERROR) as cl, \
            Client(cl) as client:
        client.wait_for_workers(workers)
        for _ in range(200):  # warm-up: imports, connections, the scheduler's first tasks
            client.submit(noop, payload, pure=False).result()
        done, inflight = 0, []
        t0 = time.perf_counter()
        sent = 0
        while done < tasks:
            while sent < tasks and len(inflight) < 2:
                n = min(batch, tasks - sent)
                inflight.append(client.map(noop, [payload] * n, pure=False))
                sent += n
            futs = inflight.pop(0)
            results = client.gather(futs)
            assert len(results) == len(futs) and results[0] == payload
            done += len(futs)
        rate = tasks / (time.perf_counter() - t0)
        lat = []
        for _ in range(lat_tasks):
            t = time.perf_counter()
            client.submit(noop, payload, pure=False).result()
            lat.append((time.perf_counter() - t) * 1e6)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        print(f"{rate:.0f} {statistics.median(lat):.1f} {p99:.1f}")


if __name__ == "__main__":
    main()
