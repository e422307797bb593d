"""kazoo with use_ssl, for test/tls-identity.test.ts.

Usage: kazoo_tls.py <hosts> <certfile> <keyfile> <ca> write <base> <data> [probePath...]
         creates <base> (data) and <base>/child-1, <base>/child-2, reads them back, lists "/",
         and get()s each probe path (reporting the data or the error class name)
       kazoo_tls.py <hosts> <certfile> <keyfile> <ca> hold <base> <data>
         creates <base> (data) and the ephemeral <base>/eph, prints "READY {json}" with the
         session id and password, then answers each stdin line "check <label>" with
         "CHECK <label> {json}" until "close" (or end of input)
stdout: "RESULT {json}" (write) or READY/CHECK lines (hold)
"""
import json
import logging
import sys
import warnings

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

warnings.simplefilter("ignore", DeprecationWarning)  # kazoo's ssl.PROTOCOL_SSLv23
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

hosts, certfile, keyfile, ca, mode = sys.argv[1:6]
rest = sys.argv[6:]

zk = KazooClient(hosts=hosts, timeout=15.0, use_ssl=True, certfile=certfile, keyfile=keyfile, ca=ca, verify_certs=True)
zk.start(timeout=20)


def emit(prefix, obj):
    print(prefix + " " + json.dumps(obj), flush=True)


def session():
    session_id, password = zk.client_id
    return {"session": hex(session_id), "password": password.hex()}


base, data = rest[0], rest[1]
zk.create(base, data.encode())

if mode == "write":
    zk.create(base + "/child-1", b"one")
    zk.create(base + "/child-2", b"two")
    probes = {}
    for path in rest[2:]:
        try:
            probes[path] = "data:" + zk.get(path)[0].decode()
        except (KazooException, ValueError) as error:
            probes[path] = type(error).__name__
    emit("RESULT", {
        **session(),
        "data": zk.get(base)[0].decode(),
        "children": sorted(zk.get_children(base)),
        "rootChildren": sorted(zk.get_children("/")),
        "probes": probes,
    })
elif mode == "hold":
    zk.create(base + "/eph", b"", ephemeral=True)
    emit("READY", session())
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "close":
            break
        if words[0] == "check":
            emit("CHECK " + words[1], {
                **session(),
                "state": zk.state,
                "data": zk.get(base)[0].decode(),
                "ephemeral": zk.exists(base + "/eph") is not None,
            })
else:
    raise SystemExit("unknown mode " + mode)

zk.stop()
zk.close()
