#!/usr/bin/env python3
"""End to end through `tandem serve` (CTest serve_end_to_end_*, run by serve_end_to_end.sh).

A service written in Python (standard library only, clients/python/tandem_client.py) reads and
writes users through the gateway while the admin API walks all 7 steps, with the backfill and
verify run as admin jobs. Every write is made under its key's stripe lock, so the model of
acknowledged writes is exact and every read is checked against it. At the end new is read back
twice, through the gateway and with the mariadb client (independent SQL), and compared with the
model: lost writes (an acknowledged write that is not there) and zombies (a deleted record that
is) must both be 0. /metrics is scraped and parsed during the run and must show the counters
moving. Bad input is tried first: each must be a clear 4xx with nothing written.
"""
import argparse
import decimal
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from tandem_client import Client, ConnectionLost, TandemError  # noqa: E402

STRIPES = 64
FAILURES = []


def fail(message):
    FAILURES.append(message)
    print("FAIL:", message, flush=True)


def user(i, rng, version):
    return {"email": f"user{i}.{version}@example.com", "name": rng.choice(["Ada", "Zoë", "李", "O'Neil", None]),
            "age": rng.randrange(0, 120), "balance": f"{rng.randrange(0, 10**8)}.{rng.randrange(0, 100):02d}"}


def same(record, fields):
    """Whether a record read back holds fields (decimals compared as numbers)."""
    for k, v in fields.items():
        got = record.get(k)
        if k == "balance" and v is not None and got is not None:
            if decimal.Decimal(got) != decimal.Decimal(v):
                return False
        elif got != v:
            return False
    return True


class Model:
    """Per key: a list of the states it may be in (several only after a write of unknown outcome).
    A state is None (absent) or a dict of fields."""

    def __init__(self, keys):
        self.states = {k: [None] for k in range(1, keys + 1)}
        self.locks = [threading.Lock() for _ in range(STRIPES)]

    def lock(self, key):
        return self.locks[key % STRIPES]


class Workload:
    def __init__(self, args, model):
        self.args, self.model = args, model
        self.stop = threading.Event()
        self.counts = {"ops": 0, "reads": 0, "writes": 0, "unknown": 0, "retryable": 0, "lost": 0, "zombies": 0}
        self.counts_lock = threading.Lock()
        self.version = 0

    def count(self, **kw):
        with self.counts_lock:
            for k, v in kw.items():
                self.counts[k] += v

    def check_read(self, key, got):
        states = self.model.states[key]
        for s in states:
            if (s is None and got is None) or (s is not None and got is not None and same(got, s)):
                self.model.states[key] = [s]
                return
        if got is not None and all(s is None for s in states):
            self.count(zombies=1)
            fail(f"zombie: key {key} read {got} but the model says deleted or never written")
        else:
            self.count(lost=1)
            fail(f"lost write: key {key} read {got}, the model says one of {states}")

    def one(self, users, rng, key):
        states = self.model.states[key]
        op = rng.random()
        try:
            if op < 0.45:
                self.check_read(key, users.get({"id": key}))
                self.count(reads=1)
            elif op < 0.75:
                with self.counts_lock:
                    self.version += 1
                    v = self.version
                fields = user(key, rng, v)
                try:
                    users.put({"id": key}, fields)
                    self.model.states[key] = [fields]
                except TandemError as e:
                    self.after_error(key, e, states + [fields])
                self.count(writes=1)
            elif op < 0.9:
                fields = {"age": rng.randrange(0, 120)}
                try:
                    users.patch({"id": key}, fields)
                    present = [s for s in states if s is not None]
                    if not present:
                        fail(f"patch of key {key} succeeded but the model says it is absent")
                    self.model.states[key] = [dict(s, **fields) for s in present] or states
                except TandemError as e:
                    if e.status == 404:
                        if all(s is not None for s in states):
                            self.count(lost=1)
                            fail(f"lost write: patch of key {key} found no record; the model says {states}")
                        self.model.states[key] = [None]
                    else:
                        self.after_error(key, e, states + [dict(s, **fields) for s in states if s is not None])
                self.count(writes=1)
            else:
                try:
                    users.delete({"id": key})
                    self.model.states[key] = [None]
                except TandemError as e:
                    self.after_error(key, e, states + [None])
                self.count(writes=1)
        except TandemError as e:  # a read's error
            if not e.retryable:
                fail(f"read of key {key}: {e}")
            self.count(retryable=1)
        self.count(ops=1)

    def after_error(self, key, e, possible):
        if e.outcome_unknown:
            self.model.states[key] = possible
            self.count(unknown=1)
        elif e.retryable:
            self.count(retryable=1)  # nothing was changed
        else:
            fail(f"write of key {key}: {e}")

    def run(self, seed):
        rng = random.Random(seed)
        users = Client(self.args.url).collection("users")
        while not self.stop.is_set():
            key = rng.randrange(1, self.args.keys + 1)
            with self.model.lock(key):
                self.one(users, rng, key)


def bad_input(url, token):
    """Each bad request: a 4xx with a JSON error naming what is wrong, and nothing written."""
    c = Client(url)
    users = c.collection("users")
    probe = {"id": 999999}
    cases = [
        ("PUT", "/v1/collections/users/records/999999", b"{not json", 400, "not valid JSON"),
        ("PUT", "/v1/collections/users/records/999999", b'{"email":"a@b","age":"old"}', 400, "'age'"),
        ("PUT", "/v1/collections/users/records/999999", b'{"email":"a@b","age":1.5}', 400, "'age'"),
        ("PUT", "/v1/collections/users/records/999999", b'{"email":"a@b","shoe":1}', 400, "'shoe'"),
        ("PUT", "/v1/collections/users/records/999999", b'{"email":null}', 400, "'email'"),
        ("PUT", "/v1/collections/users/records/999999", b'{"id":5,"email":"a@b"}', 400, "'id'"),
        ("PUT", "/v1/collections/users/records/999999", b'[1,2]', 400, "not a JSON object"),
        ("PUT", "/v1/collections/users/records/999999", b'{"email":"a@b","email":"c@d"}', 400, "twice"),
        ("PUT", "/v1/collections/nope/records/1", b'{}', 404, "no collection 'nope'"),
        ("PUT", "/v1/collections/users/records/999999", b" " * (2 << 20), 413, "larger than the limit"),
        ("GET", "/v1/collections/users/records/1%2F2", None, 400, "'id'"),
        ("GET", "/v1/collections/users/records/1/2", None, 400, "'/'"),
        ("GET", "/v1/collections/users/records/%00", None, 400, "'id'"),
        ("GET", "/v1/collections/users/records/1,2", None, 400, "1 key column"),
        ("GET", "/v1/collections/users/records/%zz", None, 400, "percent escape"),
        ("GET", "/v1/collections/users/records/" + "9" * 10000, None, 414, "8 kB"),
        ("GET", "/admin/v1/status", None, 401, "Authorization"),
    ]
    for method, path, body, status, words in cases:
        conn = http.client.HTTPConnection(c._host, c._port, timeout=30)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        conn.close()
        if r.status != status or words not in text:
            fail(f"{method} {path[:60]} ({(body or b'')[:30]!r}): expected {status} naming {words!r}, got {r.status} {text[:200]}")
        elif r.status >= 400 and token in text:
            fail(f"{method} {path[:60]}: the answer holds the admin token")
    wrong = Client(url, admin_token="not-" + token)
    try:
        wrong.admin("GET", "status")
        fail("a wrong admin token was accepted")
    except TandemError as e:
        if e.status != 401 or token in e.message:
            fail(f"wrong token: expected 401 without the token, got {e}")
    if users.get(probe) is not None:
        fail("a refused request wrote key 999999")
    print("bad input: %d cases, each a clear 4xx, nothing written" % (len(cases) + 1), flush=True)


def metric_sum(metrics, name, **labels):
    return sum(v for (n, ls), v in metrics.items() if n == name and all((k, w) in ls for k, w in labels.items()))


class Walker:
    def __init__(self, admin, workload):
        self.admin, self.workload = admin, workload
        self.scrapes = []

    def scrape(self, label):
        m = self.admin.metrics()
        self.scrapes.append((label, m))
        return m

    def move_next(self, expect):
        deadline = time.time() + 90
        while True:
            try:
                out = self.admin.admin("POST", "step", {"action": "next", "reason": f"serve end to end: to {expect}"})
                print(f"step {out['step']['number']} ({out['step']['name']}): {out['step']['roles']}", flush=True)
                if out["step"]["number"] != expect:
                    fail(f"moved to step {out['step']['number']}, expected {expect}")
                break
            except TandemError as e:
                if e.status != 409 or time.time() > deadline:
                    raise
                if "repair" in e.message:
                    self.admin.admin("POST", "repair", {"limit": 10000})
                time.sleep(0.3)
        time.sleep(self.workload.args.seconds_per_step)
        if self.scrape(f"step {expect}")[("tandem_step", frozenset())] != expect:
            fail(f"/metrics does not show step {expect}")

    def wait_job(self, command, what):
        deadline = time.time() + 300
        while True:
            job = self.admin.admin("GET", command)
            if not job["running"]:
                return job
            if time.time() > deadline:
                raise RuntimeError(f"{what} did not end in 300 s: {job}")
            time.sleep(0.2)

    def backfill(self):
        self.admin.admin("POST", "backfill", {"action": "start", "workers": 2})
        job = self.wait_job("backfill", "backfill")
        if job["error"] or not job["complete"]:
            fail(f"backfill job: {job}")
        c = job["collections"].get("users", {})
        print(f"  backfill: {c.get('counts')}", flush=True)

    def verify(self, when):
        for attempt in range(5):
            self.admin.admin("POST", "repair", {"limit": 10000})
            self.admin.admin("POST", "verify", {})
            job = self.wait_job("verify", "verify")
            if job["error"]:
                fail(f"verify job {when}: {job['error']}")
                return
            r = job["results"][0]
            print(f"  verify {when}: {r['records']} records, clean: {r['clean']} "
                  f"({r['missing']} missing, {r['extra']} extra, {r['different']} different)", flush=True)
            if job["clean"]:
                return
        fail(f"verify {when} not clean after 5 attempts")


def independent_check(args, model):
    """new's table read with the mariadb client, compared with the model."""
    cmd = args.mariadb_cmd.split() + ["-N", "-B", "-e", "SELECT id, email, name, age, balance FROM users"]
    rows = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    found = {}
    for line in rows:
        i, email, name, age, balance = line.split("\t")
        unnull = lambda v: None if v == "NULL" else v  # noqa: E731
        found[int(i)] = {"email": email, "name": unnull(name), "age": None if age == "NULL" else int(age),
                         "balance": unnull(balance)}
    lost = zombies = 0
    for key, states in model.states.items():
        got = found.get(key)
        if not any((s is None and got is None) or (s is not None and got is not None and same(got, s)) for s in states):
            if got is not None and all(s is None for s in states):
                zombies += 1
            else:
                lost += 1
            if lost + zombies <= 5:
                fail(f"new (read with the mariadb client) has key {key} = {got}; the model says one of {states}")
    extra = [k for k in found if k not in model.states]
    if extra:
        fail(f"new holds keys the service never wrote: {extra[:5]}")
    return lost, zombies, len(found)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--mariadb-cmd", required=True, help="the mariadb client with options, on new's database")
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds-per-step", type=float, default=1.0)
    args = ap.parse_args()
    token = open(args.token_file).read().strip()
    admin = Client(args.url, admin_token=token)
    bad_input(args.url, token)

    model = Model(args.keys)
    workload = Workload(args, model)
    # Old's existing data: written through the gateway at step 1 (old only).
    seed_users = Client(args.url).collection("users")
    rng = random.Random(7)
    for key in range(1, args.keys + 1):
        if rng.random() < 0.8:
            fields = user(key, rng, 0)
            seed_users.put({"id": key}, fields)
            model.states[key] = [fields]
    print(f"seeded old through the gateway at step 1: {sum(1 for s in model.states.values() if s[0])} users", flush=True)

    walker = Walker(admin, workload)
    first = walker.scrape("start")
    threads = [threading.Thread(target=workload.run, args=(100 + t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    try:
        time.sleep(args.seconds_per_step)
        walker.move_next(2)
        walker.backfill()
        walker.move_next(3)
        walker.verify("at step 3")
        walker.move_next(4)
        walker.move_next(5)
        walker.verify("at step 5")
        walker.move_next(6)
        walker.move_next(7)
    finally:
        workload.stop.set()
        for t in threads:
            t.join()
    last = walker.scrape("end")

    # The counters moved: the gateway's requests, the router's operations, the backfill's rows.
    for name, labels in [("tandem_gateway_requests_total", {"outcome": "ok"}),
                         ("tandem_router_operations_total", {"kind": "read"}),
                         ("tandem_router_operations_total", {"kind": "write"}),
                         ("tandem_backfill_rows_total", {"outcome": "scanned"})]:
        before, after = metric_sum(first, name, **labels), metric_sum(last, name, **labels)
        print(f"metrics: {name}{labels} {before:.0f} -> {after:.0f}", flush=True)
        if after <= before:
            fail(f"/metrics: {name}{labels} did not move ({before} -> {after})")
    if metric_sum(last, "tandem_gateway_request_duration_seconds_count", operation="get") < 1:
        fail("/metrics: no latency observed for get")

    # Final check: every key through the gateway (step 7: new only), then new with independent SQL.
    users = Client(args.url).collection("users")
    for key in model.states:
        workload.check_read(key, users.get({"id": key}))
    scanned = {r["id"]: r for r in users.scan(limit=300)}
    for key, states in model.states.items():
        got = scanned.get(key)
        if not any((st is None and got is None) or (st is not None and got is not None and same(got, st))
                   for st in states):
            fail(f"the range scan has key {key} = {got}; the model says one of {states}")
    print(f"range scan through the gateway: {len(scanned)} users in pages of 300, as the model says", flush=True)
    lost, zombies, rows = independent_check(args, model)
    c = workload.counts
    print(f"workload: {c['ops']} operations ({c['reads']} reads, {c['writes']} writes), {c['unknown']} of unknown "
          f"outcome, {c['retryable']} retryable refusals", flush=True)
    print(f"final check: new holds {rows} users; through the gateway: lost writes {c['lost']}, zombies {c['zombies']}; "
          f"with the mariadb client: lost writes {lost}, zombies {zombies}", flush=True)
    if c["ops"] < 100:
        fail(f"only {c['ops']} operations ran")
    if FAILURES:
        print(f"CHECK FAILED: {len(FAILURES)} problem(s)", flush=True)
        return 1
    print("CHECK PASSED: lost writes 0, zombies 0", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
