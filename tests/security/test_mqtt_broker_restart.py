"""Fault: the MQTT broker killed (SIGKILL) mid-run, kept down 3 s, started again on the same port,
while a kfarm job (real Slurm, 2 worker ranks with the tuner on --mqtt, the twospeed test
adapter) serves a continuous load and kfarm-learner is learning from the workers. Checked:
 - requests unaffected: every request answered exactly once with "ok", none lost, none failed,
   and no request waits for the broker (latency while it is down stays far below the 3 s
   connect time-out a blocking publish would show; figures printed);
 - learning resumes: the learner was still learning when the broker died, it finishes after the
   restart from new observations (the broker's log shows each worker publishing observations to
   it after the restart), and every worker acknowledges (PUBACK) the learner's knowledge
   broadcast after the restart, and then serves with the variant that knowledge ranks first.
Real components throughout: mosquitto, Slurm, kfarm, kfarm-learner."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from kfarm_harness import (BUILD, SOURCE, Job, check, publish_accel_state,  # noqa: E402
                           stand_in_bdf, start_mosquitto, stats, wait_until)

DOWN_S = 3.0             # how long the broker stays away
LATENCY_BOUND_S = 1.0    # a publish blocking on the broker would cost >= paho's 3 s connect time-out
OBSERVATIONS = 2500      # per configuration: learning lasts several seconds, across the outage
APP = "kfarm.work"

tmp = tempfile.mkdtemp(prefix="kfarm-mqtt-fault-")
mqtt_dir = os.path.join(tmp, "mqtt")
harness = os.path.join(SOURCE, "tests", "harness", "mosquitto")
henv = dict(os.environ, MOSQUITTO_LOG_DEBUG="1")
port = start_mosquitto(mqtt_dir, env=henv)
broker = "tcp://127.0.0.1:%s" % port
broker_log = os.path.join(mqtt_dir, "mosquitto.log")
state_path = os.path.join(tmp, "learner.json")
learner_log = os.path.join(tmp, "learner.log")
bdf = stand_in_bdf()


class Load(threading.Thread):
    """Requests with `inflight` outstanding until stopped; records each request's send and reply
    time and checks that every id is answered once with "ok"."""

    def __init__(self, endpoint, inflight=4):
        super().__init__(daemon=True)
        self.endpoint, self.inflight = endpoint, inflight
        self.stop_flag = threading.Event()
        self.sent, self.done = {}, {}
        self.problems = []

    def run(self):
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        nxt = 0
        last_reply = time.monotonic()
        while True:
            outstanding = len(self.sent) - len(self.done)
            if self.stop_flag.is_set() and outstanding == 0:
                break
            if time.monotonic() - last_reply > 10:
                self.problems.append("no reply for 10 s with %d outstanding" % outstanding)
                break
            while not self.stop_flag.is_set() and len(self.sent) - len(self.done) < self.inflight:
                rid = str(nxt).encode()
                self.sent[nxt] = time.monotonic()
                s.send_multipart([rid, b"work", b"x"])
                nxt += 1
            if not s.poll(100):
                continue
            msg = s.recv_multipart()
            now = last_reply = time.monotonic()
            try:
                i = int(msg[0])
            except ValueError:
                self.problems.append("reply with a bad id %r" % msg[:1])
                continue
            if i not in self.sent:
                self.problems.append("reply to unknown request %d" % i)
            elif i in self.done:
                self.problems.append("duplicated reply to request %d" % i)
            elif len(msg) != 3 or msg[1] != b"ok":
                self.problems.append("request %d failed: %r" % (i, msg[1:]))
                self.done[i] = now
            else:
                self.done[i] = now
        s.close()
        ctx.term()

    def latencies(self, t0=None, t1=None):
        """Latencies of the requests sent in [t0, t1), sorted."""
        return sorted(self.done[i] - t for i, t in self.sent.items()
                      if i in self.done and (t0 is None or t >= t0) and (t1 is None or t < t1))


def learner_app():
    try:
        with open(state_path) as f:
            return json.load(f)["apps"].get(APP)
    except (OSError, ValueError, KeyError):
        return None


def log_from(offset):
    with open(broker_log, errors="replace") as f:
        f.seek(offset)
        return f.read()


def fmt(lat):
    if not lat:
        return "no requests"
    return "%d requests, p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
        len(lat), 1e3 * lat[len(lat) // 2], 1e3 * lat[int(0.99 * (len(lat) - 1))], 1e3 * lat[-1])


learner = None
try:
    publish_accel_state(port, bdf, "active")
    learner = subprocess.Popen([os.path.join(BUILD, "src", "tuner", "kfarm-learner"), "--broker",
                                broker, "--state", state_path, "--knowledge-dir", tmp,
                                "--observations", str(OBSERVATIONS)],
                               stderr=open(learner_log, "w"))
    so = os.path.join(BUILD, "tests", "tuner", "adapters", "twospeed.so")
    with Job(3, ["--adapter", so, "--mqtt", broker, "--accel-bdf", bdf]) as job:
        load = Load(job.endpoint)
        load.start()
        wait_until(lambda: (learner_app() or {}).get("clients", []).__len__() == 2, 60,
                   "the learner to hear both workers' welcome")
        app = learner_app()
        workers = sorted(app["clients"])
        time.sleep(0.5)  # some observations before the fault
        app = learner_app()
        check(app["state"] == "learning" and app["complete"] < app["configurations"],
              "learning finished before the fault (raise OBSERVATIONS): %r" % app)
        print("before the fault: learner %s, %d/%d configurations complete, workers %s" %
              (app["state"], app["complete"], app["configurations"], workers))

        # --- the fault: broker killed, down DOWN_S seconds, started again on the same port ---
        with open(os.path.join(mqtt_dir, "mosquitto.pid")) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        t_down = time.monotonic()
        time.sleep(DOWN_S)
        log_offset = os.path.getsize(broker_log)
        subprocess.run([harness, "restart", mqtt_dir], check=True, env=henv)
        t_up = time.monotonic()
        print("broker down for %.1f s" % (t_up - t_down))
        check(load.is_alive() and not load.problems, "load during the outage: %r" % load.problems)

        # --- learning resumes ---
        wait_until(lambda: (learner_app() or {}).get("state") == "learned", 90,
                   "the learner to finish learning after the restart")
        knowledge = os.path.join(tmp, APP + ".json")
        ksize = os.path.getsize(knowledge)
        pred_topic = "margot/%s/prediction" % APP

        def acked_by_all():
            log = log_from(log_offset)
            for cid in workers:
                ms = re.findall(r"Sending PUBLISH to %s \(d\d, q1, r0, m(\d+), '%s', \.\.\. "
                                r"\((\d+) bytes\)\)" % (re.escape(cid), re.escape(pred_topic)), log)
                if not any(int(n) == ksize and "Received PUBACK from %s (Mid: %s" % (cid, m) in log
                           for m, n in ms):
                    return False
            return True
        wait_until(acked_by_all, 30, "every worker to acknowledge the knowledge broadcast")
        log = log_from(log_offset)
        for cid in workers:
            check("Received PUBLISH from %s (d0, q0, r0, m0, 'margot/%s/observation/%s'" %
                  (cid, APP, cid) in log,
                  "worker %s published no observation after the restart" % cid)
        check(re.search(r"Sending PUBLISH to kfarm-learner-\d+ \(d0, q0, r0, m0, "
                        r"'margot/%s/observation/" % re.escape(APP), log),
              "the learner got no observation after the restart")
        with open(learner_log) as f:
            connects = f.read().count("kfarm-learner: connected")
        check(connects >= 2, "the learner did not reconnect (%d connects)" % connects)
        print("after the restart: workers published observations, the learner finished "
              "(%d configurations), broadcast %d bytes of knowledge; PUBACK from %s" %
              (learner_app()["configurations"], ksize, ", ".join(workers)))

        # and they act on it: the accelerator variant, 4x faster in the knowledge, everywhere
        def workers_exploit_accel():
            return all(w["variant"] == "accel" and w["why"] == "exploiting"
                       for w in stats(job.endpoint)["workers"])
        wait_until(workers_exploit_accel, 30, "every worker to exploit the learned knowledge")

        load.stop_flag.set()
        load.join(30)
        check(not load.is_alive(), "the load client did not finish")
        check(not load.problems, "requests affected: %r" % load.problems[:5])
        missing = [i for i in load.sent if i not in load.done]
        check(not missing, "%d requests never answered" % len(missing))
        during = load.latencies(t_down, t_up + 2.0)  # outage plus the reconnect
        print("latency before the fault: %s" % fmt(load.latencies(None, t_down)))
        print("latency while the broker was down or reconnecting: %s" % fmt(during))
        print("latency after: %s" % fmt(load.latencies(t_up + 2.0)))
        check(len(during) > 100, "too few requests during the outage to judge: %d" % len(during))
        check(during[-1] < LATENCY_BOUND_S,
              "a request waited %.2f s while the broker was down" % during[-1])
        status = job.stop()
        check(status == 0, "kfarm exited %s after SIGTERM" % status)
        print("all %d requests answered once with ok, none lost or failed" % len(load.sent))
finally:
    if learner:
        learner.terminate()
        try:
            learner.wait(10)
        except subprocess.TimeoutExpired:
            learner.kill()
            learner.wait()
    subprocess.run([harness, "stop", mqtt_dir])
with open(learner_log) as f:
    llog = f.read()
check(learner.returncode == 0, "kfarm-learner exited %s on SIGTERM:\n%s" % (learner.returncode, llog))
check("Sanitizer" not in llog and "runtime error" not in llog, "kfarm-learner:\n%s" % llog)
shutil.rmtree(tmp)  # kept (with the broker's and learner's logs) when the test failed
print("ok: broker restart: requests unaffected, learning resumed")
