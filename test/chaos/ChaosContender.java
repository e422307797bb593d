import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;

/**
 * The recording client of the chaos suite (test/support/chaos/): Flink-like leader contenders.
 *
 *   java ChaosContender <sessionTimeoutMs> <actionPauseMs> <tenant>=<connectString> [...]
 *
 * Two contenders (two Curator clients, two sessions) per tenant run a LeaderLatch on
 * /leader/latch with Flink's default connection policy (SUSPENDED revokes leadership,
 * RECONNECTED re-enters the latch). While it leads, a contender repeatedly performs a leader
 * action, fenced like Flink's leader-information writes: ONE multi that checks its own latch
 * node still exists (it was the lowest, and lower ones are never created later, so it still
 * leads), sets the SharedCount checkpoint counter (/checkpoint-counter, 4-byte int as in Flink)
 * to its next value with the version it read, and creates a sequential /log/entry- node
 * recording who acted (tenant, contender, session, latch node, counter value). Every event is one JSON line on stdout (times are epoch ms); the test
 * checks the invariants on that history. "stop" on stdin (or EOF) closes everything, exit 0.
 */
public final class ChaosContender {
    static final Object OUT = new Object();
    static volatile boolean stopping = false;

    public static void main(String[] args) throws Exception {
        int sessionTimeoutMs = Integer.parseInt(args[0]);
        long pauseMs = Long.parseLong(args[1]);
        List<Contender> contenders = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            String tenant = args[i].substring(0, eq);
            String connectString = args[i].substring(eq + 1);
            for (int n = 1; n <= 2; n++) contenders.add(new Contender(tenant, tenant + "/c" + n, connectString, sessionTimeoutMs, pauseMs));
        }
        for (Contender c : contenders) c.start();
        emit(new Json().s("event", "started").n("contenders", contenders.size()));
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = stdin.readLine()) != null && !line.trim().equals("stop")) { /* wait */ }
        stopping = true;
        for (Contender c : contenders) c.stop();
        emit(new Json().s("event", "stopped"));
        System.out.flush();
        System.exit(0);
    }

    static void emit(Json json) {
        synchronized (OUT) {
            System.out.println(json.n("t", System.currentTimeMillis()).end());
            System.out.flush();
        }
    }

    static final class Contender implements Runnable {
        final String tenant;
        final String id;
        final CuratorFramework client;
        final LeaderLatch latch;
        final SharedCount counter;
        final long pauseMs;
        final Thread thread;

        Contender(String tenant, String id, String connectString, int sessionTimeoutMs, long pauseMs) {
            this.tenant = tenant;
            this.id = id;
            this.pauseMs = pauseMs;
            // Flink's settings scaled down: ExponentialBackoffRetry(retry-wait, max-retry-attempts).
            this.client = CuratorFrameworkFactory.builder()
                    .connectString(connectString)
                    .sessionTimeoutMs(sessionTimeoutMs)
                    .connectionTimeoutMs(Math.min(15_000, sessionTimeoutMs))
                    .retryPolicy(new ExponentialBackoffRetry(250, 3))
                    .build();
            this.latch = new LeaderLatch(client, "/leader/latch", id);
            this.counter = new SharedCount(client, "/checkpoint-counter", 1);
            this.thread = new Thread(this, "contender-" + id);
        }

        Json event(String name) {
            return new Json().s("event", name).s("tenant", tenant).s("contender", id).s("session", sessionHex());
        }

        String sessionHex() {
            try {
                // 0 while a new session is being established: report none rather than a fake one.
                long session = client.getZookeeperClient().getZooKeeper().getSessionId();
                return session == 0 ? "" : "0x" + Long.toHexString(session);
            } catch (Exception e) {
                return "";
            }
        }

        void start() throws Exception {
            client.getConnectionStateListenable().addListener((c, state) -> {
                Json json = event("state").s("state", state.name());
                if (state.isConnected()) {
                    try {
                        json.n("timeout", c.getZookeeperClient().getZooKeeper().getSessionTimeout());
                    } catch (Exception ignored) {
                        // the session is being replaced
                    }
                }
                emit(json);
            });
            client.start();
            if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) throw new IllegalStateException(id + ": no connection");
            try {
                client.create().creatingParentsIfNeeded().forPath("/log");
            } catch (KeeperException.NodeExistsException ignored) {
                // the other contender was first
            }
            latch.addListener(new LeaderLatchListener() {
                public void isLeader() {
                    emit(event("leader").s("latch", latch.getOurPath()));
                }

                public void notLeader() {
                    emit(event("notLeader"));
                }
            });
            counter.start();
            latch.start();
            thread.start();
        }

        public void run() {
            while (!stopping) {
                if (latch.hasLeadership()) act();
                try {
                    Thread.sleep(pauseMs);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        void act() {
            String ourPath = latch.getOurPath();
            VersionedValue<Integer> current = counter.getVersionedValue();
            int next = current.getValue() + 1;
            long startedAt = System.currentTimeMillis();
            byte[] payload = new Json().s("tenant", tenant).s("contender", id).s("session", sessionHex()).s("latch", String.valueOf(ourPath)).n("counter", next).end()
                    .getBytes(StandardCharsets.UTF_8);
            try {
                List<CuratorTransactionResult> results = client.transaction().forOperations(
                        client.transactionOp().check().forPath(ourPath),
                        client.transactionOp().setData().withVersion(current.getVersion()).forPath("/checkpoint-counter", ByteBuffer.allocate(4).putInt(next).array()),
                        client.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath("/log/entry-", payload));
                String entry = results.get(2).getResultPath();
                emit(event("action").s("result", "ok").s("latch", ourPath).n("counter", next).s("entry", entry).n("startedAt", startedAt));
            } catch (KeeperException e) {
                emit(event("action").s("result", e.code().name()).s("latch", ourPath).n("counter", next).n("startedAt", startedAt));
            } catch (Exception e) {
                emit(event("action").s("result", e.getClass().getSimpleName()).s("latch", String.valueOf(ourPath)).n("counter", next).n("startedAt", startedAt));
            }
        }

        void stop() {
            thread.interrupt();
            try {
                thread.join(5_000);
                latch.close();
                counter.close();
            } catch (Exception ignored) {
                // closing anyway
            }
            client.close();
        }
    }

    /** A tiny JSON object writer (string and number fields only). */
    static final class Json {
        final StringBuilder sb = new StringBuilder("{");

        Json s(String key, String value) {
            key(key);
            sb.append('"');
            for (char ch : value.toCharArray()) {
                if (ch == '"' || ch == '\\') sb.append('\\').append(ch);
                else if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
                else sb.append(ch);
            }
            sb.append('"');
            return this;
        }

        Json n(String key, long value) {
            key(key);
            sb.append(value);
            return this;
        }

        void key(String key) {
            if (sb.length() > 1) sb.append(',');
            sb.append('"').append(key).append("\":");
        }

        String end() {
            return sb.toString() + "}";
        }
    }
}
