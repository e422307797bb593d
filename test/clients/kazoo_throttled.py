"""A kazoo workload run by test/limits-real-clients.test.ts against a tenant whose request rate
is limited so that some requests are answered THROTTLEDOP (-127):

    /usr/bin/python3 kazoo_throttled.py <connectString> <basePath> <creates>

Each phase sends <creates> async creates at once (the proxy reads them together, holds what the
rate does not allow, and answers THROTTLEDOP to what waited too long).
Phase "stock": kazoo as installed. kazoo 2.8 has no exception
for -127: its connection thread looks the code up in kazoo.exceptions.EXCEPTIONS, whose default
raises RuntimeError('Invalid error code'), which ends the connection loop. What happens is
recorded, not judged: the outcome of every create, the connection-loop error, the client state
afterwards and what the next call raises.
Phase "patched": the same after registering -127 as a ZookeeperError subclass; every create the
burst got THROTTLEDOP for is done again through a KazooRetry that retries it (the request was not
executed, so a retry is safe). Exit 0 when
every create of this phase completed; prints one line "RESULT {json}".
"""

import json
import logging
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import EXCEPTIONS, ZookeeperError
from kazoo.retry import KazooRetry

CALL_TIMEOUT_S = 5


class LoopErrors(logging.Handler):
    """Captures kazoo's 'Unhandled exception in connection loop' records."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        detail = ""
        if record.exc_info and record.exc_info[1] is not None:
            detail = "%s: %s" % (type(record.exc_info[1]).__name__, record.exc_info[1])
        self.records.append({"message": record.getMessage(), "exception": detail})


def connect(hosts):
    client = KazooClient(hosts=hosts, timeout=15.0, connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 2})
    client.start(timeout=30)
    return client


def create_burst(zk, parent, creates, retry=None):
    """`creates` async creates sent at once (a burst, as a batch job would send it); then, with
    `retry`, each one that failed is done again synchronously through that KazooRetry."""
    outcomes = {}
    paths = ["%s/n-%d" % (parent, i) for i in range(creates)]
    pending = [(path, zk.create_async(path)) for path in paths]
    retried = []
    for path, result in pending:
        try:
            result.get(timeout=CALL_TIMEOUT_S)
            outcome = "OK"
        except Exception as error:  # noqa: BLE001 - recording what kazoo raises is the point
            outcome = type(error).__name__
            if retry is not None:
                retried.append(path)
                outcome = None
        if outcome is not None:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    for path in retried:
        try:
            retry.copy()(zk.create, path)
            outcome = "OK"
        except Exception as error:  # noqa: BLE001
            outcome = type(error).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes, len(retried)


def main():
    hosts, base, creates = sys.argv[1], sys.argv[2], int(sys.argv[3])
    loop_errors = LoopErrors()
    logging.getLogger("kazoo").addHandler(loop_errors)
    logging.getLogger("kazoo").setLevel(logging.ERROR)
    result = {"kazooMinus127Known": -127 in EXCEPTIONS}

    setup = connect(hosts)
    setup.retry(setup.ensure_path, base + "/stock")
    setup.retry(setup.ensure_path, base + "/patched")
    setup.stop()
    setup.close()

    # ---- stock kazoo
    zk = connect(hosts)
    started = time.time()
    stock = {"outcomes": create_burst(zk, base + "/stock", creates)[0]}
    stock["seconds"] = round(time.time() - started, 1)
    stock["connectionLoopErrors"] = loop_errors.records[:3]
    stock["stateAfter"] = zk.state
    try:
        zk.exists("/")
        stock["nextCall"] = "OK"
    except Exception as error:  # noqa: BLE001
        stock["nextCall"] = type(error).__name__
    zk.stop()
    zk.close()
    result["stock"] = stock
    time.sleep(1.2)  # the tenant's token bucket refills

    # ---- kazoo taught -127
    class ThrottledOpError(ZookeeperError):
        code = -127

    EXCEPTIONS[-127] = ThrottledOpError
    retries = {"throttled": 0}

    class CountingRetry(KazooRetry):
        def __call__(self, func, *args, **kwargs):
            def counted():
                try:
                    return func(*args, **kwargs)
                except ThrottledOpError:
                    retries["throttled"] += 1
                    raise

            return KazooRetry.__call__(self, counted)

        def copy(self):
            clone = CountingRetry(max_tries=self.max_tries, delay=self.delay, backoff=self.backoff, max_jitter=self.max_jitter, max_delay=self.max_delay)
            clone.retry_exceptions = self.retry_exceptions
            return clone

    retry = CountingRetry(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0)
    retry.retry_exceptions = retry.retry_exceptions + (ThrottledOpError,)
    zk = connect(hosts)
    started = time.time()
    outcomes, first_failed = create_burst(zk, base + "/patched", creates, retry)
    patched = {"outcomes": outcomes, "failedInBurst": first_failed}
    patched["seconds"] = round(time.time() - started, 1)
    patched["throttledRetries"] = retries["throttled"]
    patched["children"] = len(zk.retry(zk.get_children, base + "/patched"))
    patched["stateAfter"] = zk.state
    zk.stop()
    zk.close()
    result["patched"] = patched

    print("RESULT " + json.dumps(result), flush=True)
    ok = patched["outcomes"].get("OK", 0) == creates and patched["children"] == creates
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
