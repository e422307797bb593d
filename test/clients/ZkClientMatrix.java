import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.Version;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

/**
 * One driver for every ZooKeeper Java client version of the matrix (test/client-matrix.test.ts):
 *
 *   java ZkClientMatrix <connectString> <basePath>
 *
 * It compiles against the 3.4 API; calls that later versions added (3.5: create2, containers,
 * TTL; 3.6: addWatch, getEphemerals, getAllChildrenNumber) go through reflection and are run
 * only when the client on the classpath has them. Talks to the test line by line:
 *
 *   stdout "WATCHING {json}"   watches are set; json.port is the proxy replica the watching session uses
 *   (the test kills that replica)
 *   stdout "RESULT {json}"     everything observed; exit 0 (1 with a stack trace on failure)
 */
public final class ZkClientMatrix {
    static final int SESSION_TIMEOUT_MS = 15_000;
    static final long WAIT_MS = 30_000;
    static final List<org.apache.zookeeper.data.ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;

    public static void main(String[] args) {
        try {
            System.out.println("RESULT " + run(args[0], args[1]));
            System.out.flush();
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
    }

    /** A session plus the connection states its default watcher saw, in order. */
    static final class Session implements Watcher {
        final BlockingQueue<String> states = new LinkedBlockingQueue<>();
        final List<String> stateLog = Collections.synchronizedList(new ArrayList<String>());
        final ZooKeeper zk;

        Session(String connectString, boolean canBeReadOnly) throws Exception {
            zk = new ZooKeeper(connectString, SESSION_TIMEOUT_MS, this, canBeReadOnly);
            awaitState("SyncConnected");
        }

        @Override
        public void process(WatchedEvent event) {
            if (event.getType() == Event.EventType.None) {
                stateLog.add(event.getState().name());
                states.add(event.getState().name());
            }
        }

        void awaitState(String wanted) throws InterruptedException {
            long deadline = System.currentTimeMillis() + WAIT_MS;
            while (true) {
                String state = states.poll(deadline - System.currentTimeMillis(), TimeUnit.MILLISECONDS);
                if (state == null) throw new IllegalStateException("no " + wanted + " within " + WAIT_MS + " ms, saw " + stateLog);
                if (state.equals(wanted)) return;
            }
        }

        /** Port of the server (here: proxy replica) the session is connected to. */
        int remotePort() throws Exception {
            Method method = ZooKeeper.class.getDeclaredMethod("testableRemoteSocketAddress");
            method.setAccessible(true);
            SocketAddress address = (SocketAddress) method.invoke(zk);
            return address == null ? -1 : ((InetSocketAddress) address).getPort();
        }
    }

    /** Watch events as "kind type path", in arrival order. */
    static final class EventLog {
        final List<String> events = Collections.synchronizedList(new ArrayList<String>());

        Watcher watcher(final String kind) {
            return new Watcher() {
                @Override
                public void process(WatchedEvent event) {
                    if (event.getType() != Event.EventType.None) events.add(kind + " " + event.getType().name() + " " + event.getPath());
                }
            };
        }

        void awaitCount(int count) throws InterruptedException {
            long deadline = System.currentTimeMillis() + WAIT_MS;
            while (events.size() < count && System.currentTimeMillis() < deadline) Thread.sleep(20);
        }

        List<String> snapshot() {
            synchronized (events) {
                return new ArrayList<>(events);
            }
        }
    }

    static String run(String connectString, String base) throws Exception {
        Json result = new Json();
        result.str("clientVersion", Version.getFullVersion().split("[-, ]")[0]);
        Session plain = new Session(connectString, false);
        Session readOnlyCapable = new Session(connectString, true);
        result.strings("plainStates", plain.stateLog);
        result.strings("readOnlyCapableStates", readOnlyCapable.stateLog);
        ZooKeeper zk = plain.zk;

        zk.create(base, bytes("matrix"), OPEN, CreateMode.PERSISTENT);
        crud(zk, readOnlyCapable.zk, base, result);
        multi(zk, base, result);
        boolean has35 = hasMethod("create", String.class, byte[].class, List.class, CreateMode.class, Stat.class);
        boolean has36 = hasMethod("getAllChildrenNumber", String.class);
        result.bool("has35Api", has35);
        result.bool("has36Api", has36);
        if (has35) extendedCreates(zk, base, result);
        if (has36) listingCalls(zk, readOnlyCapable.zk, base, result);
        watchesAcrossReplicas(plain, readOnlyCapable, base, has36, result);
        if (has35) reaped(zk, base, result);

        result.strings("baseChildren", sorted(zk.getChildren(base, false)));
        result.bool("seesTenantsNode", zk.exists("/tenants", false) != null);
        readOnlyCapable.zk.close();
        zk.close();
        return result.toString();
    }

    // ---------------------------------------------------------------- create/get/set/delete

    static void crud(ZooKeeper zk, ZooKeeper other, String base, Json result) throws Exception {
        String node = base + "/node";
        result.str("created", zk.create(node, bytes("one"), OPEN, CreateMode.PERSISTENT));
        Stat stat = new Stat();
        result.str("data", text(zk.getData(node, false, stat)));
        result.num("version", stat.getVersion());
        result.num("versionAfterSet", zk.setData(node, bytes("two"), 0).getVersion());
        result.str("dataSeenByOtherSession", text(other.getData(node, false, null)));
        result.str("duplicateCreate", errorOf(() -> zk.create(node, bytes("x"), OPEN, CreateMode.PERSISTENT)));
        result.str("staleSet", errorOf(() -> zk.setData(node, bytes("x"), 0)));
        result.str("staleDelete", errorOf(() -> { zk.delete(node, 0); return null; }));
        String sequential = zk.create(base + "/seq-", bytes("s"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        result.str("sequential", sequential);
        result.str("ephemeral", zk.create(base + "/eph", bytes("e"), OPEN, CreateMode.EPHEMERAL));
        result.bool("ephemeralOwnedBySession", zk.exists(base + "/eph", false).getEphemeralOwner() == zk.getSessionId());
        zk.delete(node, 1);
        zk.delete(sequential, -1);
        result.bool("existsAfterDelete", zk.exists(node, false) != null);
        result.str("getMissing", errorOf(() -> zk.getData(base + "/missing", false, null)));
        result.strings("rootChildren", sorted(zk.getChildren("/", false)));
    }

    static void multi(ZooKeeper zk, String base, Json result) throws Exception {
        String txn = base + "/txn";
        List<OpResult> committed = zk.multi(Arrays.asList(
                Op.create(txn, bytes("v0"), OPEN, CreateMode.PERSISTENT),
                Op.setData(txn, bytes("v1"), 0),
                Op.check(txn, 1),
                Op.create(base + "/txn-seq-", bytes("s"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL)));
        List<String> described = new ArrayList<>();
        for (OpResult op : committed) {
            if (op instanceof OpResult.CreateResult) described.add("create " + ((OpResult.CreateResult) op).getPath());
            else if (op instanceof OpResult.SetDataResult) described.add("setData version " + ((OpResult.SetDataResult) op).getStat().getVersion());
            else described.add(op.getClass().getSimpleName());
        }
        result.strings("multiCommitted", described);
        result.str("multiData", text(zk.getData(txn, false, null)));
        List<String> failed = new ArrayList<>();
        try {
            zk.multi(Arrays.asList(
                    Op.create(base + "/txn-never", bytes("x"), OPEN, CreateMode.PERSISTENT),
                    Op.setData(txn, bytes("v2"), 1),
                    Op.check(txn, 0)));
            failed.add("committed");
        } catch (KeeperException e) {
            failed.add(e.code().name());
            for (OpResult op : e.getResults()) failed.add(String.valueOf(((OpResult.ErrorResult) op).getErr()));
        }
        result.strings("multiFailed", failed);
        result.bool("failedMultiCreatedNode", zk.exists(base + "/txn-never", false) != null);
        result.str("dataAfterFailedMulti", text(zk.getData(txn, false, null)));
    }

    // ---------------------------------------------------------------- 3.5+: create2, containers, TTL

    static void extendedCreates(ZooKeeper zk, String base, Json result) throws Exception {
        Method create2 = ZooKeeper.class.getMethod("create", String.class, byte[].class, List.class, CreateMode.class, Stat.class);
        Stat stat = new Stat();
        result.str("create2Path", (String) create2.invoke(zk, base + "/c2", bytes("c2"), OPEN, CreateMode.PERSISTENT, stat));
        result.bool("create2StatFilled", stat.getCzxid() > 0 && stat.getCzxid() == stat.getMzxid() && stat.getDataLength() == 2);
        result.bool("create2StatMatchesExists", stat.equals(zk.exists(base + "/c2", false)));

        CreateMode container = CreateMode.valueOf("CONTAINER");
        result.str("containerPath", (String) create2.invoke(zk, base + "/box", new byte[0], OPEN, container, null));
        zk.create(base + "/box/item", bytes("i"), OPEN, CreateMode.PERSISTENT);
        zk.delete(base + "/box/item", -1); // an empty container is the server's to delete

        Method createTtl = ZooKeeper.class.getMethod("create", String.class, byte[].class, List.class, CreateMode.class, Stat.class, long.class);
        CreateMode ttlMode = CreateMode.valueOf("PERSISTENT_WITH_TTL");
        result.str("ttlPath", (String) createTtl.invoke(zk, base + "/ttl", bytes("t"), OPEN, ttlMode, null, 1_000L));
        result.bool("ttlNodeExistsAtOnce", zk.exists(base + "/ttl", false) != null);
    }

    /** The ensemble's container/TTL reaper runs every second here (znode.container.checkIntervalMs). */
    static void reaped(ZooKeeper zk, String base, Json result) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        boolean containerGone = false;
        boolean ttlGone = false;
        while (System.currentTimeMillis() < deadline && !(containerGone && ttlGone)) {
            containerGone = zk.exists(base + "/box", false) == null;
            ttlGone = zk.exists(base + "/ttl", false) == null;
            if (!(containerGone && ttlGone)) Thread.sleep(200);
        }
        result.bool("emptyContainerReaped", containerGone);
        result.bool("expiredTtlReaped", ttlGone);
    }

    // ---------------------------------------------------------------- 3.6+: listing calls

    static void listingCalls(ZooKeeper zk, ZooKeeper other, String base, Json result) throws Exception {
        zk.create(base + "/count", bytes("c"), OPEN, CreateMode.PERSISTENT);
        zk.create(base + "/count/a", bytes("a"), OPEN, CreateMode.PERSISTENT);
        zk.create(base + "/count/a/b", bytes("b"), OPEN, CreateMode.PERSISTENT);
        zk.create(base + "/count/c", bytes("c"), OPEN, CreateMode.PERSISTENT);
        result.num("allChildrenNumber", (Integer) ZooKeeper.class.getMethod("getAllChildrenNumber", String.class).invoke(zk, base + "/count"));
        other.create(base + "/other-eph", bytes("o"), OPEN, CreateMode.EPHEMERAL);
        Method getEphemerals = ZooKeeper.class.getMethod("getEphemerals", String.class);
        @SuppressWarnings("unchecked")
        List<String> ephemerals = (List<String>) getEphemerals.invoke(zk, base);
        result.strings("ephemerals", sorted(ephemerals));
        @SuppressWarnings("unchecked")
        List<String> all = (List<String>) ZooKeeper.class.getMethod("getEphemerals").invoke(zk);
        result.strings("allEphemerals", sorted(all));
        other.delete(base + "/other-eph", -1);
    }

    // ---------------------------------------------------------------- watches and their replay

    static void watchesAcrossReplicas(Session watching, Session writer, String base, boolean has36, Json result) throws Exception {
        ZooKeeper zk = watching.zk;
        String w = base + "/w";
        zk.create(w, bytes("before"), OPEN, CreateMode.PERSISTENT);
        zk.create(base + "/p", bytes("p0"), OPEN, CreateMode.PERSISTENT);
        zk.create(base + "/r", bytes("r0"), OPEN, CreateMode.PERSISTENT);
        EventLog log = new EventLog();
        zk.getData(w, log.watcher("data"), null);
        zk.getChildren(w, log.watcher("child"));
        result.bool("existsWatchOnMissing", zk.exists(base + "/absent", log.watcher("exist")) == null);
        if (has36) {
            Class<?> modeClass = Class.forName("org.apache.zookeeper.AddWatchMode");
            Method addWatch = ZooKeeper.class.getMethod("addWatch", String.class, Watcher.class, modeClass);
            addWatch.invoke(zk, base + "/p", log.watcher("persistent"), enumValue(modeClass, "PERSISTENT"));
            addWatch.invoke(zk, base + "/r", log.watcher("recursive"), enumValue(modeClass, "PERSISTENT_RECURSIVE"));
        }
        long sessionId = zk.getSessionId();
        int before = watching.remotePort();
        System.out.println("WATCHING {\"port\":" + before + "}");
        System.out.flush();

        // The test kills that replica: the client must move to the other one with the same session.
        watching.awaitState("Disconnected");
        watching.awaitState("SyncConnected");
        result.num("portBefore", before);
        result.num("portAfter", watching.remotePort());
        result.bool("sameSessionAfterMove", zk.getSessionId() == sessionId);
        result.strings("statesAcrossMove", watching.stateLog);
        result.strings("eventsBeforeChanges", log.snapshot());

        ZooKeeper other = writer.zk;
        awaitConnected(writer);
        other.setData(w, bytes("after"), -1);
        other.create(w + "/child", bytes("c"), OPEN, CreateMode.PERSISTENT);
        other.create(base + "/absent", bytes("a"), OPEN, CreateMode.PERSISTENT);
        int expected = 3;
        if (has36) {
            other.setData(base + "/p", bytes("p1"), -1);
            other.setData(base + "/p", bytes("p2"), -1);
            other.create(base + "/r/x", bytes("x"), OPEN, CreateMode.PERSISTENT);
            other.setData(base + "/r/x", bytes("x1"), -1);
            other.delete(base + "/r/x", -1);
            expected += 5;
        }
        log.awaitCount(expected);
        // One-shot watches fired once: a second change must not show up again.
        other.setData(w, bytes("again"), -1);
        Thread.sleep(500);
        result.strings("watchEvents", log.snapshot());
        result.str("dataAfterMove", text(zk.getData(w, false, null)));
    }

    /** The writer may have been on the killed replica too; wait until it is back before using it. */
    static void awaitConnected(Session session) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (session.zk.getState() != ZooKeeper.States.CONNECTED) {
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("writer session did not reconnect: " + session.stateLog);
            Thread.sleep(20);
        }
    }

    // ---------------------------------------------------------------- helpers

    interface Call {
        Object call() throws Exception;
    }

    /** The KeeperException code name the call failed with ("OK" when it did not fail). */
    static String errorOf(Call call) throws Exception {
        try {
            call.call();
            return "OK";
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof KeeperException) return ((KeeperException) e.getCause()).code().name();
            throw e;
        } catch (KeeperException e) {
            return e.code().name();
        }
    }

    static boolean hasMethod(String name, Class<?>... parameterTypes) {
        try {
            ZooKeeper.class.getMethod(name, parameterTypes);
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static Object enumValue(Class<?> enumClass, String name) {
        return Enum.valueOf((Class) enumClass, name);
    }

    static List<String> sorted(Collection<String> values) {
        List<String> copy = new ArrayList<>(values);
        Collections.sort(copy);
        return copy;
    }

    static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    static String text(byte[] data) {
        return data == null ? null : new String(data, StandardCharsets.UTF_8);
    }
}
