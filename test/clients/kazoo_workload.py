"""A kazoo workload run through the proxy by test/real-clients.test.ts:

    /usr/bin/python3 kazoo_workload.py <connectString> <basePath>

CRUD, ensure_path, sequential and ephemeral nodes, a data watch and a children watch, a Lock
contended by two sessions, a transaction that commits and one that fails, and get_children('/').
It checks nothing itself beyond "it did not raise" and prints one line "RESULT {json}" with what
it observed; the test asserts on that. Exit 0 on success, 1 with a traceback otherwise.
"""

import json
import queue
import sys
import threading
import traceback

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
from kazoo.protocol.states import ZnodeStat

WAIT_S = 30


def connect(hosts):
    client = KazooClient(hosts=hosts, timeout=15.0, connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 2})
    client.start(timeout=WAIT_S)
    return client


def event_dict(event):
    return {"type": event.type, "path": event.path, "state": event.state}


def describe_op_result(value):
    """A transaction result entry: exception class name, created path, stat version or True (check)."""
    if isinstance(value, Exception):
        return type(value).__name__
    if isinstance(value, ZnodeStat):
        return "stat version %d" % value.version
    return value


def run(hosts, base):
    result = {}
    zk = connect(hosts)
    other = connect(hosts)
    try:
        # ---- CRUD and ensure_path
        zk.ensure_path(base + "/deep/er/path")
        result["ensurePathExists"] = zk.exists(base + "/deep/er/path") is not None
        created = zk.create(base + "/node", b"one")
        data, stat = zk.get(base + "/node")
        zk.set(base + "/node", b"two")
        data2, stat2 = zk.get(base + "/node")
        try:
            zk.create(base + "/node", b"again")
            duplicate = "none"
        except NodeExistsError:
            duplicate = "NodeExistsError"
        zk.delete(base + "/node")
        result["crud"] = {
            "created": created,
            "data": data.decode(),
            "version": stat.version,
            "dataAfterSet": data2.decode(),
            "versionAfterSet": stat2.version,
            "duplicateCreate": duplicate,
            "existsAfterDelete": zk.exists(base + "/node") is not None,
        }

        # ---- sequential and ephemeral nodes
        zk.ensure_path(base + "/seq")
        result["sequential"] = [zk.create(base + "/seq/item-", b"", sequence=True) for _ in range(3)]
        result["ephemeral"] = other.create(base + "/eph", b"mine", ephemeral=True)
        result["ephemeralSequential"] = other.create(base + "/eph-seq-", b"", ephemeral=True, sequence=True)
        eph_stat = zk.exists(base + "/eph")
        result["ephemeralOwnerIsOther"] = eph_stat.ephemeralOwner == other.client_id[0]

        # ---- a data watch and a children watch, fired by the other session
        data_events = queue.Queue()
        child_events = queue.Queue()
        zk.create(base + "/watched", b"before")
        zk.get(base + "/watched", watch=data_events.put)
        zk.ensure_path(base + "/parent")
        zk.get_children(base + "/parent", watch=child_events.put)
        other.set(base + "/watched", b"after")
        other.create(base + "/parent/child", b"")
        result["dataWatchEvent"] = event_dict(data_events.get(timeout=WAIT_S))
        result["childWatchEvent"] = event_dict(child_events.get(timeout=WAIT_S))
        # Closing the other session deletes its ephemerals: an exists watch sees that.
        deleted_events = queue.Queue()
        zk.exists(base + "/eph", watch=deleted_events.put)

        # ---- a Lock contended by two sessions
        lock_a = zk.Lock(base + "/lock", "holder-a")
        lock_b = other.Lock(base + "/lock", "holder-b")
        order = []
        got_a = lock_a.acquire(timeout=WAIT_S)
        order.append("a-acquired")
        contenders_while_held = None
        waiter_done = threading.Event()

        def waiter():
            if lock_b.acquire(timeout=WAIT_S):
                order.append("b-acquired")
                lock_b.release()
                order.append("b-released")
            waiter_done.set()

        thread = threading.Thread(target=waiter)
        thread.start()
        # Wait until b's contender node is there, then look at the contenders as a third party sees them.
        for _ in range(WAIT_S * 20):
            contenders_while_held = lock_a.contenders()
            if len(contenders_while_held) == 2:
                break
            threading.Event().wait(0.05)
        b_acquired_while_a_held = "b-acquired" in order
        order.append("a-releasing")
        lock_a.release()
        waiter_done.wait(WAIT_S)
        thread.join(WAIT_S)
        result["lock"] = {
            "acquiredA": got_a,
            "contendersWhileHeld": contenders_while_held,
            "bAcquiredWhileAHeld": b_acquired_while_a_held,
            "order": order,
            "lockNodesAfter": zk.get_children(base + "/lock"),
        }

        # ---- transactions
        txn = zk.transaction()
        txn.create(base + "/txn", b"v0")
        txn.set_data(base + "/txn", b"v1")
        txn.check(base + "/txn", 1)
        txn.create(base + "/txn-seq-", b"", sequence=True)
        committed = txn.commit()
        failing = zk.transaction()
        failing.create(base + "/txn-never", b"")
        failing.set_data(base + "/txn", b"v2")
        failing.check(base + "/txn", 99)
        failed = failing.commit()
        result["txn"] = {
            "committed": [describe_op_result(r) for r in committed],
            "data": zk.get(base + "/txn")[0].decode(),
            "failed": [describe_op_result(r) for r in failed],
            "failedCreatedNode": zk.exists(base + "/txn-never") is not None,
        }

        # ---- the tenant's view of the root
        result["rootChildren"] = sorted(zk.get_children("/"))
        result["baseChildren"] = sorted(zk.get_children(base))
        result["seesTenantsNode"] = zk.exists("/tenants") is not None

        other.stop()
        other.close()
        result["ephemeralDeletedEvent"] = event_dict(deleted_events.get(timeout=WAIT_S))
        result["ephemeralsGoneWithSession"] = zk.exists(base + "/eph") is None
    finally:
        zk.stop()
        zk.close()
    return result


def main():
    try:
        result = run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/kazoo")
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
