#!/usr/bin/env python3
"""Load for vcluster-nodesim: creates N pods already bound to the simulated nodes (spec.nodeName set, so
neither the scheduler's nor the controller manager's client rate limits are measured), waits until every
one is Running, then deletes them all gracefully and waits until they are gone. Prints the time of each
phase and nodesim's counters and RSS from its --status-address.

Usage: bench_pods.py --env BED_ENV_FILE --status http://127.0.0.1:PORT [--pods 10000] [--nodes 10]
                     [--prefix sim-node-] [--namespace bench] [--threads 16] [--timeout 600]

Python standard library only; requests go over --threads keep-alive HTTPS connections with the bed's
admin token.
"""
import argparse
import http.client
import json
import queue
import ssl
import sys
import threading
import time
import urllib.request


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                env[k] = v.strip("'\"")
    return env


class Api:
    def __init__(self, server, ca, token):
        self.host, _, port = server[len("https://"):].partition(":")
        self.port = int(port)
        self.ctx = ssl.create_default_context(cafile=ca)
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json",
                        "Accept": "application/json"}

    def connect(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)

    def call(self, conn, method, path, body=None):
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data


def run_parallel(api, threads, jobs):
    """Runs each job(conn) on one of `threads` workers, each with its own keep-alive connection."""
    q = queue.Queue()
    for j in jobs:
        q.put(j)
    errors = []

    def worker():
        conn = api.connect()
        while True:
            try:
                job = q.get_nowait()
            except queue.Empty:
                break
            try:
                job(conn)
            except Exception as e:  # a broken connection: count it and go on with a fresh one
                errors.append(str(e))
                conn.close()
                conn = api.connect()
        conn.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def metrics(url):
    out = {}
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", required=True)
    ap.add_argument("--status", required=True)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--prefix", default="sim-node-")
    ap.add_argument("--namespace", default="bench")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    env = read_env(a.env)
    token = open(a.env.rsplit("/", 1)[0] + "/token").read().strip()
    api = Api(env["VC_API_SERVER"], env["VC_CA_CERT"], token)
    conn = api.connect()
    st, _ = api.call(conn, "POST", "/api/v1/namespaces",
                     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": a.namespace}})
    if st not in (201, 409):
        sys.exit("cannot create namespace %s: HTTP %d" % (a.namespace, st))
    # The admission controller refuses pods until the namespace's default ServiceAccount exists.
    wait_for(lambda: api.call(conn, "GET", "/api/v1/namespaces/%s/serviceaccounts/default" % a.namespace)[0] == 200,
             60, "the default ServiceAccount")

    base = metrics(a.status)
    started0 = base.get("nodesim_pods_started_total", 0)
    deleted0 = base.get("nodesim_pods_deleted_total", 0)

    def create(i):
        def job(c):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "bench-%d" % i, "labels": {"app": "bench"}},
                   "spec": {"nodeName": "%s%d" % (a.prefix, i % a.nodes),
                            "containers": [{"name": "c", "image": "nginx"}]}}
            s, body = api.call(c, "POST", "/api/v1/namespaces/%s/pods" % a.namespace, pod)
            if s != 201:
                raise RuntimeError("create bench-%d: HTTP %d %s" % (i, s, body[:200]))
        return job

    t0 = time.time()
    errs = run_parallel(api, a.threads, [create(i) for i in range(a.pods)])
    t_created = time.time() - t0
    if errs:
        sys.exit("%d creates failed, first: %s" % (len(errs), errs[0]))
    wait_for(lambda: metrics(a.status)["nodesim_pods_started_total"] - started0 >= a.pods, a.timeout,
             "every pod Running")
    t_running = time.time() - t0
    # Check with the API server, not only nodesim's counter.
    s, body = api.call(conn, "GET", "/api/v1/namespaces/%s/pods?fieldSelector=status.phase%%3DRunning" % a.namespace)
    running = len(json.loads(body)["items"])
    m = metrics(a.status)
    print("%d pods created in %.1f s (%.0f/s); all Running %.1f s after the first create (API server says %d Running)"
          % (a.pods, t_created, a.pods / t_created, t_running, running))
    print("nodesim after the burst: RSS %.1f MiB, pods cached %d, IPs in use %d"
          % (m["nodesim_rss_bytes"] / 1048576, m["nodesim_pods_cached"], m["nodesim_pod_ips_in_use"]))

    def delete(i):
        def job(c):
            s, body = api.call(c, "DELETE", "/api/v1/namespaces/%s/pods/bench-%d" % (a.namespace, i))
            if s not in (200, 202):
                raise RuntimeError("delete bench-%d: HTTP %d %s" % (i, s, body[:200]))
        return job

    t1 = time.time()
    errs = run_parallel(api, a.threads, [delete(i) for i in range(a.pods)])
    t_deleted = time.time() - t1
    if errs:
        sys.exit("%d deletes failed, first: %s" % (len(errs), errs[0]))
    wait_for(lambda: metrics(a.status)["nodesim_pods_deleted_total"] - deleted0 >= a.pods, a.timeout,
             "every deletion completed")
    t_gone = time.time() - t1
    s, body = api.call(conn, "GET", "/api/v1/namespaces/%s/pods" % a.namespace)
    left = len(json.loads(body)["items"])
    m = metrics(a.status)
    print("%d graceful deletes sent in %.1f s; all completed %.1f s after the first (%d pods left)"
          % (a.pods, t_deleted, t_gone, left))
    print("nodesim at the end: RSS %.1f MiB, IPs in use %d, request errors %d"
          % (m["nodesim_rss_bytes"] / 1048576, m["nodesim_pod_ips_in_use"], m["nodesim_request_errors_total"]))
    return 0 if running == a.pods and left == 0 and m["nodesim_pod_ips_in_use"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
