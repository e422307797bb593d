import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.TreeCache;
import org.apache.curator.framework.recipes.cache.TreeCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.OpResult;

/**
 * A Curator 5.4 workload run through the proxy by test/real-clients.test.ts:
 *
 *   java CuratorWorkload <connectString> <basePath>
 *
 * It uses two CuratorFramework instances (two ZooKeeper sessions) for LeaderLatch, TreeCache,
 * SharedCount and transactions, checks nothing itself beyond "it did not throw", and prints one
 * line "RESULT {json}" describing what it observed; the test asserts on that. Exit 0 on success,
 * 1 with a stack trace on stderr otherwise.
 */
public final class CuratorWorkload {
    static final long WAIT_MS = 30_000;

    public static void main(String[] args) {
        try {
            String json = run(args[0], args.length > 1 ? args[1] : "/curator");
            System.out.println("RESULT " + json);
            System.out.flush();
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
    }

    static CuratorFramework connect(String connectString) throws Exception {
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs(15_000)
                .connectionTimeoutMs(15_000)
                .retryPolicy(new ExponentialBackoffRetry(250, 6))
                .build();
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) throw new IllegalStateException("no connection to " + connectString);
        return client;
    }

    static String run(String connectString, String base) throws Exception {
        Json result = new Json();
        CuratorFramework c1 = connect(connectString);
        CuratorFramework c2 = connect(connectString);
        c1.create().creatingParentsIfNeeded().forPath(base, bytes("curator-workload"));

        leaderLatch(c1, c2, base + "/leader", result);
        treeCache(c1, c2, base + "/tree", result);
        sharedCount(c1, c2, base + "/count", result);
        transactions(c1, base, result);

        result.strings("rootChildren", c1.getChildren().forPath("/"));
        result.strings("baseChildren", c1.getChildren().forPath(base));
        // The ensemble's real /tenants and /zookeeper/config are not the tenant's business.
        result.bool("seesTenantsNode", c1.checkExists().forPath("/tenants") != null);

        c2.close();
        c1.close();
        return result.toString();
    }

    // ---------------------------------------------------------------- LeaderLatch

    static void leaderLatch(CuratorFramework c1, CuratorFramework c2, String path, Json result) throws Exception {
        LeaderLatch l1 = new LeaderLatch(c1, path, "latch-1");
        LeaderLatch l2 = new LeaderLatch(c2, path, "latch-2");
        l1.start();
        l2.start();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (!l1.hasLeadership() && !l2.hasLeadership()) {
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("no latch became leader");
            Thread.sleep(20);
        }
        // Both latches have registered once there are two participants; leadership must stay single.
        while (l1.getParticipants().size() < 2) {
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("second latch never registered");
            Thread.sleep(20);
        }
        Thread.sleep(300);
        int leaders = (l1.hasLeadership() ? 1 : 0) + (l2.hasLeadership() ? 1 : 0);
        LeaderLatch leader = l1.hasLeadership() ? l1 : l2;
        LeaderLatch other = leader == l1 ? l2 : l1;
        result.num("leadersAtStart", leaders);
        result.str("firstLeader", leader.getId());
        result.str("leaderSeenByOther", other.getLeader().getId());
        List<String> participantIds = new ArrayList<>();
        for (Participant participant : other.getParticipants()) participantIds.add(participant.getId());
        result.strings("participants", participantIds);
        result.strings("latchNodes", c1.getChildren().forPath(path));

        leader.close();
        boolean tookOver = other.await(WAIT_MS, TimeUnit.MILLISECONDS);
        result.bool("otherTookOver", tookOver);
        result.str("secondLeader", tookOver ? other.getId() : null);
        result.num("latchNodesAfterClose", c1.getChildren().forPath(path).size());
        other.close();
    }

    // ---------------------------------------------------------------- TreeCache

    static void treeCache(CuratorFramework c1, CuratorFramework c2, String path, Json result) throws Exception {
        c1.create().creatingParentsIfNeeded().forPath(path, bytes("root"));
        BlockingQueue<TreeCacheEvent> queue = new LinkedBlockingQueue<>();
        List<String> seen = new ArrayList<>();
        TreeCache cache = TreeCache.newBuilder(c1, path).build();
        cache.getListenable().addListener((client, event) -> queue.add(event));
        cache.start();
        try {
            awaitEvent(queue, seen, TreeCacheEvent.Type.INITIALIZED, null, null);
            // Changes come from the other session, so the cache learns of them through watches only.
            c2.create().forPath(path + "/a", bytes("1"));
            awaitEvent(queue, seen, TreeCacheEvent.Type.NODE_ADDED, path + "/a", "1");
            c2.setData().forPath(path + "/a", bytes("2"));
            awaitEvent(queue, seen, TreeCacheEvent.Type.NODE_UPDATED, path + "/a", "2");
            c2.create().forPath(path + "/a/deep", bytes("d"));
            awaitEvent(queue, seen, TreeCacheEvent.Type.NODE_ADDED, path + "/a/deep", "d");
            c2.create().forPath(path + "/b", bytes("b"));
            awaitEvent(queue, seen, TreeCacheEvent.Type.NODE_ADDED, path + "/b", "b");
            c2.delete().forPath(path + "/a/deep");
            awaitEvent(queue, seen, TreeCacheEvent.Type.NODE_REMOVED, path + "/a/deep", null);
            c2.delete().forPath(path + "/a");
            awaitEvent(queue, seen, TreeCacheEvent.Type.NODE_REMOVED, path + "/a", null);
            Map<String, ChildData> children = cache.getCurrentChildren(path);
            result.strings("treeCacheChildrenAtEnd", children == null ? List.of() : new ArrayList<>(children.keySet()));
        } finally {
            cache.close();
        }
        result.strings("treeCacheEvents", seen);
    }

    /** Waits for an event of `type` (and path/data when given); records every event it takes. */
    static void awaitEvent(BlockingQueue<TreeCacheEvent> queue, List<String> seen, TreeCacheEvent.Type type, String path, String data)
            throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            long left = deadline - System.currentTimeMillis();
            TreeCacheEvent event = left > 0 ? queue.poll(left, TimeUnit.MILLISECONDS) : null;
            if (event == null) throw new IllegalStateException("no TreeCache " + type + " " + path + "; saw " + seen);
            ChildData child = event.getData();
            String eventPath = child == null ? null : child.getPath();
            String eventData = child == null || child.getData() == null ? null : new String(child.getData(), StandardCharsets.UTF_8);
            seen.add(event.getType() + (eventPath == null ? "" : " " + eventPath) + (eventData == null ? "" : "=" + eventData));
            if (event.getType() == type && (path == null || path.equals(eventPath)) && (data == null || data.equals(eventData))) return;
        }
    }

    // ---------------------------------------------------------------- SharedCount

    static void sharedCount(CuratorFramework c1, CuratorFramework c2, String path, Json result) throws Exception {
        SharedCount s1 = new SharedCount(c1, path, 0);
        SharedCount s2 = new SharedCount(c2, path, 0);
        s1.start();
        s2.start();
        try {
            // A compare-and-set with a stale version must be refused.
            VersionedValue<Integer> stale = s1.getVersionedValue();
            boolean freshAccepted = s2.trySetCount(s2.getVersionedValue(), stale.getValue() + 1);
            boolean staleAccepted = s1.trySetCount(stale, 1000);
            result.bool("freshAccepted", freshAccepted);
            result.bool("staleAccepted", staleAccepted);

            // Two sessions race to increment 10 times each with trySetCount.
            int perClient = 10;
            AtomicInteger conflicts = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(2);
            List<Callable<Void>> jobs = List.of(incrementer(s1, perClient, conflicts), incrementer(s2, perClient, conflicts));
            for (Future<Void> future : pool.invokeAll(jobs, WAIT_MS, TimeUnit.MILLISECONDS)) future.get();
            pool.shutdown();
            int expected = 1 + 2 * perClient;
            long deadline = System.currentTimeMillis() + WAIT_MS;
            while ((s1.getCount() != expected || s2.getCount() != expected) && System.currentTimeMillis() < deadline) Thread.sleep(20);
            result.num("countExpected", expected);
            result.num("countSeenBy1", s1.getCount());
            result.num("countSeenBy2", s2.getCount());
            result.num("countStored", ByteBuffer.wrap(c1.getData().forPath(path)).getInt());
            result.num("casConflicts", conflicts.get());
        } finally {
            s1.close();
            s2.close();
        }
    }

    static Callable<Void> incrementer(SharedCount count, int times, AtomicInteger conflicts) {
        return () -> {
            for (int done = 0; done < times; ) {
                VersionedValue<Integer> current = count.getVersionedValue();
                if (count.trySetCount(current, current.getValue() + 1)) done++;
                else conflicts.incrementAndGet();
            }
            return null;
        };
    }

    // ---------------------------------------------------------------- transactions

    static void transactions(CuratorFramework c1, String base, Json result) throws Exception {
        String txn = base + "/txn";
        Collection<CuratorTransactionResult> committed = c1.transaction().forOperations(
                c1.transactionOp().create().forPath(txn, bytes("v0")),
                c1.transactionOp().setData().forPath(txn, bytes("v1")),
                c1.transactionOp().check().withVersion(1).forPath(txn),
                c1.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(base + "/txn-seq-", bytes("s")));
        List<String> committedResults = new ArrayList<>();
        for (CuratorTransactionResult r : committed) {
            committedResults.add(r.getType() + " " + r.getForPath() + " -> " + r.getResultPath() + " err=" + r.getError());
        }
        result.strings("txnResults", committedResults);
        result.str("txnData", new String(c1.getData().forPath(txn), StandardCharsets.UTF_8));

        String failure = "none";
        List<Integer> failedCodes = new ArrayList<>();
        try {
            c1.transaction().forOperations(
                    c1.transactionOp().create().forPath(base + "/txn-never", bytes("x")),
                    c1.transactionOp().setData().forPath(txn, bytes("v2")),
                    c1.transactionOp().check().withVersion(99).forPath(txn));
        } catch (KeeperException e) {
            failure = e.code().name();
            if (e.getResults() != null) {
                for (OpResult r : e.getResults()) failedCodes.add(r instanceof OpResult.ErrorResult ? ((OpResult.ErrorResult) r).getErr() : 0);
            }
        }
        result.str("failedTxn", failure);
        result.ints("failedTxnCodes", failedCodes);
        result.bool("failedTxnCreatedNode", c1.checkExists().forPath(base + "/txn-never") != null);
        result.str("dataAfterFailedTxn", new String(c1.getData().forPath(txn), StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------- helpers

    static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
