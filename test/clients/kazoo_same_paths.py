"""One tenant's half of the same-paths workload in test/tenant-isolation.test.ts:

    /usr/bin/python3 kazoo_same_paths.py <connectString> <tenant> <otherTenant> <configUpdates> <sequentials>

Two copies run at the same time, one per tenant, on the SAME client paths (/app, /app/config,
/app/seq, /app/session, ...), stepped in lockstep by the test over stdin/stdout:

  1. create /app, /app/seq, /app/config (plain creates: NodeExists would mean a shared namespace),
     start watches (kazoo's ChildrenWatch on / and /app, DataWatch on /app/config, and a
     DataWatch on /app/only-<otherTenant>, a node only the other tenant creates), print READY;
  2. on "go": write (only-<tenant>, sequentials, ephemerals, config updates, /<tenant>-top),
     print WROTE;
  3. on "check": let late events arrive, read the final state, print "RESULT {json}", exit.

It records every watch callback; the test decides whether anything foreign got through.
"""

import json
import sys
import threading
import time
import traceback

from kazoo.client import KazooClient
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

WAIT_S = 30


def main():
    hosts, tenant, other = sys.argv[1], sys.argv[2], sys.argv[3]
    updates, sequentials = int(sys.argv[4]), int(sys.argv[5])
    zk = KazooClient(hosts=hosts, timeout=15.0)
    zk.start(timeout=WAIT_S)
    lock = threading.Lock()
    calls = {"root": [], "app": [], "config": [], "otherOnly": []}

    def record(kind, entry):
        with lock:
            calls[kind].append(entry)

    def event_dict(event):
        return None if event is None else {"type": event.type, "path": event.path}

    def children_watcher(kind):
        def watcher(children, event):
            record(kind, {"children": sorted(children), "event": event_dict(event)})

        return watcher

    def data_watcher(kind):
        def watcher(data, stat, event):
            record(kind, {"data": None if data is None else data.decode(), "event": event_dict(event)})

        return watcher

    zk.create("/app", tenant.encode())
    zk.create("/app/seq")
    zk.create("/app/config", ("%s-0" % tenant).encode())
    ChildrenWatch(zk, "/", children_watcher("root"), send_event=True)
    ChildrenWatch(zk, "/app", children_watcher("app"), send_event=True)
    DataWatch(zk, "/app/config", data_watcher("config"))
    DataWatch(zk, "/app/only-" + other, data_watcher("otherOnly"))
    print("READY", flush=True)

    if sys.stdin.readline().strip() != "go":
        raise RuntimeError("expected go")
    written = {"only": zk.create("/app/only-" + tenant, tenant.encode())}
    written["sequential"] = [zk.create("/app/seq/n-", tenant.encode(), sequence=True) for _ in range(sequentials)]
    written["session"] = zk.create("/app/session", tenant.encode(), ephemeral=True)
    written["ephemeralSequential"] = zk.create("/app/eph-", tenant.encode(), ephemeral=True, sequence=True)
    for i in range(1, updates + 1):
        zk.set("/app/config", ("%s-%d" % (tenant, i)).encode())
        time.sleep(0.05)
    written["top"] = zk.create("/%s-top" % tenant)
    print("WROTE", flush=True)

    if sys.stdin.readline().strip() != "check":
        raise RuntimeError("expected check")
    time.sleep(1.0)  # time for any late (or foreign) event to arrive
    final = {
        "root": sorted(zk.get_children("/")),
        "app": sorted(zk.get_children("/app")),
        "seq": sorted(zk.get_children("/app/seq")),
        "config": zk.get("/app/config")[0].decode(),
        "appData": zk.get("/app")[0].decode(),
        "otherOnlyExists": zk.exists("/app/only-" + other) is not None,
        "sessionId": zk.client_id[0],
    }
    with lock:
        result = {"tenant": tenant, "written": written, "calls": calls, "final": final}
    print("RESULT " + json.dumps(result), flush=True)
    zk.stop()
    zk.close()


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
