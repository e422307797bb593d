"""A real kazoo session driven line by line from stdin, for the failover tests.

kazoo reconnects by itself (and resumes its session); this script only reports what happens.

Usage: scripted_kazoo.py <hosts> <sessionTimeoutMs> random|ordered
stdin:  create <path> <data> persistent|ephemeral | get <path> | exists <path> | set <path> <data>
        session | workload-start <path> | workload-stop | close
stdout: one JSON object per line: {"type":"state",...} or {"type":"reply",...}
"""
import json
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

_out = threading.Lock()


def emit(obj):
    obj.setdefault("t", int(time.time() * 1000))
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


hosts, timeout_ms, order = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# Retry reconnects quickly and forever: the default backoff grows to a minute.
zk = KazooClient(
    hosts=hosts,
    timeout=timeout_ms / 1000.0,
    randomize_hosts=(order == "random"),
    connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5),
)


def session_hex():
    return None if zk._session_id is None else "0x%x" % zk._session_id


zk.add_listener(lambda state: emit({"type": "state", "state": str(state), "session": session_hex()}))


class Workload(threading.Thread):
    """Writes 1, 2, 3... to one znode; a value only counts once its write was acknowledged."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.stopping = threading.Event()
        self.acked = 0
        self.failures = 0
        self.acked_times = []

    def run(self):
        while not self.stopping.is_set():
            try:
                zk.set(self.path, str(self.acked + 1).encode())
                self.acked += 1
                self.acked_times.append(int(time.time() * 1000))
            except Exception:
                self.failures += 1
                time.sleep(0.05)
            time.sleep(0.02)


zk.start(timeout=30)
workload = None
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    command = words[0]
    try:
        if command == "create":
            created = zk.create(words[1], words[2].encode(), ephemeral=(words[3] == "ephemeral"), makepath=False)
            emit({"type": "reply", "ok": True, "path": created})
        elif command == "get":
            data, _ = zk.get(words[1])
            emit({"type": "reply", "ok": True, "data": data.decode()})
        elif command == "exists":
            stat = zk.exists(words[1])
            emit({"type": "reply", "ok": True, "exists": stat is not None,
                  "owner": None if stat is None else "0x%x" % stat.ephemeralOwner})
        elif command == "set":
            zk.set(words[1], words[2].encode())
            emit({"type": "reply", "ok": True})
        elif command == "session":
            emit({"type": "reply", "ok": True, "session": session_hex(), "state": str(zk.state)})
        elif command == "workload-start":
            workload = Workload(words[1])
            workload.start()
            emit({"type": "reply", "ok": True})
        elif command == "workload-stop":
            workload.stopping.set()
            workload.join()
            emit({"type": "reply", "ok": True, "acked": workload.acked, "failures": workload.failures,
                  "ackedTimes": workload.acked_times})
        elif command == "workload-status":
            emit({"type": "reply", "ok": True, "acked": workload.acked, "failures": workload.failures})
        elif command == "close":
            zk.stop()
            zk.close()
            emit({"type": "reply", "ok": True})
            break
        else:
            emit({"type": "reply", "ok": False, "error": "unknown command " + command})
    except Exception as error:  # report, keep serving commands
        emit({"type": "reply", "ok": False, "error": repr(error)})
