"""The kazoo leg of the client matrix (test/client-matrix.test.ts), for Debian's kazoo 2.8 and
the newest from PyPI alike:

    python3 kazoo_matrix.py <connectString> <basePath>

Two sessions (one with read_only=True, which sets the connect request's readOnly byte), CRUD,
create with include_data (create2) where the kazoo version has it, a transaction, then watches
across a move to the other proxy replica: it prints "WATCHING {port}" and the test kills the
replica on that port. kazoo never replays one-shot watches (no SetWatches): on a connection loss
it calls them once with a NONE event and forgets them; its DataWatch/ChildrenWatch recipes set
theirs again once reconnected, and those must see the changes made after the move. Prints one "RESULT {json}" line; exit 0, or 1 with a traceback.
"""

import inspect
import json
import sys
import threading
import time
import traceback

import kazoo.version
from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.protocol.states import KazooState
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

WAIT_S = 30


def connect(hosts, read_only):
    client = KazooClient(hosts=hosts, timeout=15.0, read_only=read_only,
                         connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 2})
    states = []
    client.add_listener(lambda state: states.append(state))
    client.start(timeout=WAIT_S)
    return client, states


def remote_port(client):
    # kazoo keeps its socket private; the test needs to know which replica to kill.
    return client._connection._socket.getpeername()[1]


def error_name(call):
    try:
        call()
        return "OK"
    except (NodeExistsError, BadVersionError, NoNodeError) as error:
        return type(error).__name__


def wait_for(predicate, what):
    deadline = time.time() + WAIT_S
    while not predicate():
        if time.time() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.02)


def run(hosts, base):
    result = {"kazooVersion": kazoo.version.__version__}
    plain, plain_states = connect(hosts, read_only=False)
    capable, _ = connect(hosts, read_only=True)
    result["plainConnected"] = plain.state
    result["readOnlyCapableConnected"] = capable.state
    result["readOnlyCapableClientState"] = capable.client_state

    plain.create(base, b"kazoo-matrix")
    node = base + "/node"
    result["created"] = plain.create(node, b"one")
    data, stat = plain.get(node)
    result["data"] = data.decode()
    result["version"] = stat.version
    result["versionAfterSet"] = plain.set(node, b"two", version=0).version
    result["dataSeenByOtherSession"] = capable.get(node)[0].decode()
    result["duplicateCreate"] = error_name(lambda: plain.create(node, b"x"))
    result["staleSet"] = error_name(lambda: plain.set(node, b"x", version=0))
    result["staleDelete"] = error_name(lambda: plain.delete(node, version=0))
    plain.delete(node, version=1)
    result["existsAfterDelete"] = plain.exists(node) is not None
    result["getMissing"] = error_name(lambda: plain.get(base + "/missing"))

    result["hasIncludeData"] = "include_data" in inspect.signature(plain.create).parameters
    if result["hasIncludeData"]:
        path, stat = plain.create(base + "/c2", b"c2", include_data=True)
        result["create2Path"] = path
        result["create2StatMatchesExists"] = stat == plain.exists(base + "/c2")

    txn = plain.transaction()
    txn.create(base + "/txn", b"v0")
    txn.set_data(base + "/txn", b"v1", version=0)
    txn.check(base + "/txn", version=1)
    result["txnCommitted"] = [value if isinstance(value, (str, bool)) else type(value).__name__ for value in txn.commit()]
    failed = plain.transaction()
    failed.create(base + "/txn-never", b"x")
    failed.check(base + "/txn", version=0)
    result["txnFailed"] = [type(value).__name__ for value in failed.commit()]
    result["txnNeverExists"] = plain.exists(base + "/txn-never") is not None

    events = []
    plain.create(base + "/w", b"before")
    recipe_data = []
    recipe_children = []
    DataWatch(plain, base + "/w", lambda data, stat: recipe_data.append(None if data is None else data.decode()))
    ChildrenWatch(plain, base + "/w", lambda children: recipe_children.append(sorted(children)))
    plain.get(base + "/w", watch=lambda event: events.append("data %s %s" % (event.type, event.path)))
    plain.get_children(base + "/w", watch=lambda event: events.append("child %s %s" % (event.type, event.path)))
    plain.exists(base + "/absent", watch=lambda event: events.append("exist %s %s" % (event.type, event.path)))
    session_id = plain.client_id[0]
    before = remote_port(plain)
    print("WATCHING " + json.dumps({"port": before}), flush=True)

    wait_for(lambda: KazooState.SUSPENDED in plain_states, "SUSPENDED after the replica was killed")
    wait_for(lambda: plain_states[-1] == KazooState.CONNECTED and plain.connected, "CONNECTED again")
    result["portBefore"] = before
    result["portAfter"] = remote_port(plain)
    result["sameSessionAfterMove"] = plain.client_id[0] == session_id
    result["statesAcrossMove"] = list(plain_states)
    result["eventsBeforeChanges"] = list(events)

    wait_for(lambda: capable.connected, "the writer session to reconnect")
    capable.set(base + "/w", b"after")
    capable.create(base + "/w/child", b"c")
    capable.create(base + "/absent", b"a")
    wait_for(lambda: recipe_data[-1:] == ["after"] and recipe_children[-1:] == [["child"]], "the recipes to see the changes")
    capable.set(base + "/w", b"again")
    wait_for(lambda: recipe_data[-1:] == ["again"], "DataWatch to see the second change")
    time.sleep(0.3)
    result["watchEvents"] = list(events)
    result["dataWatchValues"] = list(recipe_data)
    result["childrenWatchValues"] = list(recipe_children)
    result["dataAfterMove"] = plain.get(base + "/w")[0].decode()
    result["rootChildren"] = sorted(plain.get_children("/"))
    result["baseChildren"] = sorted(plain.get_children(base))
    capable.stop()
    capable.close()
    plain.stop()
    plain.close()
    return result


def main():
    try:
        result = run(sys.argv[1], sys.argv[2])
        print("RESULT " + json.dumps(result), flush=True)
        sys.exit(0)
    except Exception:
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
