import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.ACLProvider;
import org.apache.curator.framework.imps.DefaultACLProvider;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.NodeCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCache;
import org.apache.curator.framework.recipes.cache.TreeCache;
import org.apache.curator.framework.recipes.cache.TreeCacheEvent;
import org.apache.curator.framework.recipes.cache.TreeCacheSelector;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.SessionConnectionStateErrorPolicy;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

/**
 * One Flink JobManager's use of ZooKeeper HA, driven line by line by
 * test/flink-ha-conformance.test.ts:
 *
 *   java FlinkHaContender <connectString> <clusterId> <layout 1.15|1.12> <policy standard|tolerate> <name> [creator:<user>:<password>]
 *
 * The client is built like Flink's ZooKeeperUtils.startCuratorFramework (namespace flink/<clusterId>,
 * 60 s session, 15 s connection timeout, ExponentialBackoffRetry(5000, 3), open ACL, EnsembleTracker
 * on, SessionConnectionStateErrorPolicy for "tolerate"; with "creator:<user>:<password>" Flink's
 * `high-availability.zookeeper.client.acl: creator`, i.e. CREATOR_ALL_ACL on every node, with the
 * client authenticated by digest instead of Kerberos). The znode layout, node modes and operation
 * shapes follow Flink 1.15 (one LeaderLatch at leader/latch, locks/<uuid> lock nodes) or 1.12 (a
 * latch per component, <uuid> lock children, no containers); see docs/flink-ha-conformance.md.
 *
 * stdin: "<requestId> <command> [args]" lines. stdout: one JSON object per line: {"ev": ..., "t":
 * epoch ms, "who": name, ...}. Every command is answered by {"ev":"reply","req":id,"ok":...}. All
 * ZooKeeper work (commands and leadership callbacks) runs on one thread, so it happens in order.
 * Every leader action first checks that this process still holds leadership and that its latch node
 * exists with this session as owner (fencing), and is logged as a "leader-action" event.
 */
public final class FlinkHaContender {
    static final String[] COMPONENTS_115 = {"dispatcher", "resource_manager", "rest_server"};
    static final String[] COMPONENTS_112 = {"dispatcher_lock", "resource_manager_lock", "rest_server_lock"};
    static final int CHECKPOINT_RETENTION = 1;

    static String name;
    static boolean legacy;
    static CuratorFramework client;
    static final AtomicReference<ConnectionState> connectionState = new AtomicReference<>();
    static final ExecutorService actions = Executors.newSingleThreadExecutor();
    static final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();
    static final List<AutoCloseable> closeables = Collections.synchronizedList(new ArrayList<>());

    static volatile boolean closing;
    static CuratorFramework leaderNs;
    static StateHandleStore jobGraphs;
    /** 1.15: the one latch; 1.12: component name -> latch (job latches keyed by job id). */
    static final Map<String, LeaderLatch> latches = new ConcurrentHashMap<>();
    static final Map<String, UUID> leaderSessions = new ConcurrentHashMap<>();
    static final Map<String, JobState> jobs = new ConcurrentHashMap<>();
    /** connection_info nodes this leader maintains (and rewrites when someone else changes them). */
    static final java.util.Set<String> publishedPaths = ConcurrentHashMap.newKeySet();

    public static void main(String[] args) throws Exception {
        String connectString = args[0];
        String clusterId = args[1];
        legacy = args[2].equals("1.12");
        boolean tolerate = args[3].equals("tolerate");
        name = args[4];
        String creator = args.length > 5 && args[5].startsWith("creator:") ? args[5].substring("creator:".length()) : null;
        Thread.setDefaultUncaughtExceptionHandler((thread, error) -> fatal("uncaught in " + thread.getName(), error));
        try {
            start(connectString, clusterId, tolerate, creator);
        } catch (Throwable error) {
            fatal("start", error);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            String[] words = line.trim().split("\\s+");
            if (words.length < 2) continue;
            actions.submit(() -> command(words));
        }
        // stdin closed: the test is gone; leave like a crashed JobManager (no cleanup).
        Runtime.getRuntime().halt(0);
    }

    static void start(String connectString, String clusterId, boolean tolerate, String creator) throws Exception {
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs(60_000)
                .connectionTimeoutMs(15_000)
                .retryPolicy(new ExponentialBackoffRetry(5_000, 3))
                .namespace("flink/" + clusterId)
                .aclProvider(creator == null ? new DefaultACLProvider() : new CreatorAclProvider())
                .ensembleTracker(true);
        if (creator != null) builder.authorization("digest", creator.getBytes(StandardCharsets.UTF_8));
        if (tolerate) builder.connectionStateErrorPolicy(new SessionConnectionStateErrorPolicy());
        // The 1.12 client (ZooKeeper 3.4) cannot create containers.
        if (legacy) builder.dontUseContainerParents();
        client = builder.build();
        client.getConnectionStateListenable().addListener((c, state) -> {
            connectionState.set(state);
            emit("connection", "state", state.name(), "session", sessionHex());
        });
        // Flink's fatal error handler; background operations cut short by our own close are not errors.
        client.getUnhandledErrorListenable().addListener((message, error) -> {
            if (closing) emit("error-while-closing", "what", message, "error", String.valueOf(error));
            else fatal("unhandled: " + message, error);
        });
        client.start();
        if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) throw new IllegalStateException("no connection to " + connectString);
        emit("connected", "session", sessionHex(), "negotiatedTimeoutMs", client.getZookeeperClient().getZooKeeper().getSessionTimeout(),
                "connectString", client.getZookeeperClient().getCurrentConnectionString());

        if (legacy) {
            // Curator's namespace facade would create /flink and /flink/<cid> as containers; the 3.4-era
            // client creates plain persistent nodes, so create them first the same way.
            CuratorFramework root = client.usingNamespace(null);
            createPersistentIfAbsent(root, "/flink");
            createPersistentIfAbsent(root, "/flink/" + clusterId);
            leaderNs = client;
            jobGraphs = new StateHandleStore(ensureNamespace(client, "/jobgraphs"), true);
            for (String component : COMPONENTS_112) {
                retrieveWithNodeCache("/leader/" + component, component);
                startLatch(component, "/leaderlatch/" + component);
            }
        } else {
            leaderNs = ensureNamespace(client, "/leader");
            jobGraphs = new StateHandleStore(ensureNamespace(client, "/jobgraphs"), false);
            for (String component : COMPONENTS_115) retrieveWithTreeCache(component);
            watchOwnLeaderInformation();
            startLatch("cluster", "/latch");
        }
        watchJobGraphs();
    }

    // ---- leader election ---------------------------------------------------------------------

    static void startLatch(String key, String path) throws Exception {
        LeaderLatch latch = new LeaderLatch(leaderNs, path);
        latches.put(key, latch);
        latch.addListener(new LeaderLatchListener() {
            @Override
            public void isLeader() {
                actions.submit(() -> granted(key, latch));
            }

            @Override
            public void notLeader() {
                emit("revoked", "component", key, "latch", latch.getOurPath(), "session", sessionHex());
                leaderSessions.remove(key);
                actions.submit(() -> revoked(key));
            }
        });
        latch.start();
        closeables.add(0, latch);
    }

    static void granted(String key, LeaderLatch latch) {
        if (!latch.hasLeadership()) return; // revoked again before this ran
        UUID leaderSession = UUID.randomUUID();
        leaderSessions.put(key, leaderSession);
        emit("leader", "component", key, "latch", latch.getOurPath(), "session", sessionHex(), "leaderSession", leaderSession.toString());
        try {
            if (legacy) {
                if (key.endsWith("_lock")) publish(key, "/leader/" + key, leaderSession);
                else publish(key, "/leader/" + key + "/job_manager_lock", leaderSession);
                if (key.equals("dispatcher_lock")) recoverJobGraphs(key);
                else if (jobs.containsKey(key)) recoverCheckpoints(jobs.get(key), key);
            } else {
                for (String component : COMPONENTS_115) publish(key, "/" + component + "/connection_info", leaderSession);
                recoverJobGraphs(key);
            }
        } catch (Exception error) {
            emit("leader-setup-failed", "component", key, "error", error.toString());
        }
    }

    /** Flink suspends its jobs and gives up their locks when leadership goes. */
    static void revoked(String key) {
        try {
            if (key.equals("cluster") || key.equals("dispatcher_lock")) jobGraphs.releaseAll();
            for (JobState job : jobs.values()) {
                if (key.equals("cluster") || key.equals(job.jobId)) job.checkpoints.releaseAll();
            }
        } catch (Exception error) {
            emit("release-failed", "component", key, "error", error.toString());
        }
    }

    /** The fencing check that precedes every leader action; returns the latch node it verified. */
    static String fence(String key, String action) throws Exception {
        LeaderLatch latch = latches.get(key);
        if (latch == null || !latch.hasLeadership() || !leaderSessions.containsKey(key)) {
            throw new IllegalStateException("not leader of " + key + " for " + action);
        }
        String ourPath = latch.getOurPath();
        Stat stat = leaderNs.checkExists().forPath(ourPath);
        long session = sessionId();
        if (stat == null || stat.getEphemeralOwner() != session) {
            throw new IllegalStateException("latch node " + ourPath + " is not owned by session 0x" + Long.toHexString(session));
        }
        return ourPath;
    }

    static void leaderAction(String key, String action, long checkedAt, String latchNode, Object... fields) {
        List<Object> all = new ArrayList<>(java.util.Arrays.asList("component", key, "action", action, "checkedAt", checkedAt, "latch", latchNode, "session", sessionHex()));
        all.addAll(java.util.Arrays.asList(fields));
        emit("leader-action", all.toArray());
    }

    // ---- leader information --------------------------------------------------------------------

    /** Flink's writeLeaderInformationToZooKeeper: setData on our own ephemeral, else replace it. */
    static void publish(String key, String path, UUID leaderSession) throws Exception {
        long checkedAt = System.currentTimeMillis();
        String latchNode = fence(key, "publish");
        byte[] data = encodeLeaderInformation(address(), leaderSession);
        while (true) {
            Stat stat = leaderNs.checkExists().forPath(path);
            if (stat != null) {
                if (stat.getEphemeralOwner() == sessionId()) {
                    try {
                        leaderNs.setData().forPath(path, data);
                        break;
                    } catch (KeeperException.NoNodeException gone) {
                        continue;
                    }
                }
                try {
                    leaderNs.delete().forPath(path);
                } catch (KeeperException.NoNodeException gone) {
                    // someone else removed it: create ours next
                }
            } else {
                try {
                    leaderNs.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(path, data);
                    break;
                } catch (KeeperException.NodeExistsException raced) {
                    // look again
                }
            }
        }
        publishedPaths.add(path);
        leaderAction(key, "publish", checkedAt, latchNode, "path", path, "address", address(), "leaderSession", leaderSession.toString());
    }

    static String address() {
        return "akka.tcp://flink@" + name + ":6123/user/rpc";
    }

    static byte[] encodeLeaderInformation(String address, UUID leaderSession) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeUTF(address);
            out.writeObject(leaderSession);
        }
        return bytes.toByteArray();
    }

    static void emitRetrieved(String component, byte[] data) {
        if (data == null || data.length == 0) {
            emit("retrieved", "component", component, "address", null, "leaderSession", null);
            return;
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data))) {
            String address = in.readUTF();
            UUID leaderSession = (UUID) in.readObject();
            emit("retrieved", "component", component, "address", address, "leaderSession", leaderSession.toString());
        } catch (Exception error) {
            emit("retrieved", "component", component, "error", error.toString());
        }
    }

    /** 1.15 retrieval: a TreeCache on <component>/connection_info that does not descend. */
    static void retrieveWithTreeCache(String component) throws Exception {
        TreeCache cache = TreeCache.newBuilder(leaderNs, "/" + component + "/connection_info")
                .setCacheData(true)
                .setCreateParentNodes(false)
                .setSelector(new TreeCacheSelector() {
                    public boolean traverseChildren(String fullPath) {
                        return false;
                    }

                    public boolean acceptChild(String fullPath) {
                        return false;
                    }
                })
                .build();
        cache.getListenable().addListener((c, event) -> {
            switch (event.getType()) {
                case NODE_ADDED:
                case NODE_UPDATED:
                    emitRetrieved(component, event.getData().getData());
                    break;
                case NODE_REMOVED:
                    emitRetrieved(component, null);
                    break;
                default:
                    break;
            }
        });
        cache.start();
        closeables.add(cache);
    }

    /** 1.12 retrieval: a NodeCache on leader/<component>_lock. */
    static void retrieveWithNodeCache(String path, String component) throws Exception {
        NodeCache cache = new NodeCache(leaderNs, path);
        cache.getListenable().addListener(() -> {
            ChildData current = cache.getCurrentData();
            emitRetrieved(component, current == null ? null : current.getData());
        });
        cache.start();
        closeables.add(cache);
    }

    /**
     * 1.15 election driver: a TreeCache on leader/ (the latch excluded) so that the leader rewrites its
     * connection_info when someone else deletes or alters it.
     */
    static void watchOwnLeaderInformation() throws Exception {
        TreeCache cache = TreeCache.newBuilder(leaderNs, "/")
                .setSelector(new TreeCacheSelector() {
                    public boolean traverseChildren(String fullPath) {
                        return !fullPath.endsWith("/latch");
                    }

                    public boolean acceptChild(String fullPath) {
                        return !fullPath.endsWith("/latch");
                    }
                })
                .build();
        cache.getListenable().addListener((c, event) -> {
            if (event.getType() != TreeCacheEvent.Type.NODE_REMOVED && event.getType() != TreeCacheEvent.Type.NODE_UPDATED) return;
            String path = event.getData().getPath();
            if (!path.endsWith("/connection_info")) return;
            UUID leaderSession = leaderSessions.get("cluster");
            if (leaderSession == null) return;
            try {
                if (event.getType() == TreeCacheEvent.Type.NODE_UPDATED
                        && java.util.Arrays.equals(event.getData().getData(), encodeLeaderInformation(address(), leaderSession))) return;
            } catch (Exception ignored) {
                // rewrite below
            }
            if (!publishedPaths.contains(path)) return;
            actions.submit(() -> {
                try {
                    UUID current = leaderSessions.get("cluster");
                    if (current != null && publishedPaths.contains(path)) publish("cluster", path, current);
                } catch (Exception error) {
                    emit("republish-failed", "path", path, "error", error.toString());
                }
            });
        });
        cache.start();
        closeables.add(cache);
    }

    // ---- job graphs and checkpoints ---------------------------------------------------------------

    static void watchJobGraphs() throws Exception {
        PathChildrenCache cache = new PathChildrenCache(jobGraphs.ns, "/", false);
        cache.getListenable().addListener((c, event) -> {
            switch (event.getType()) {
                case CHILD_ADDED:
                    emit("jobgraph-added", "jobId", ZKPaths.getNodeFromPath(event.getData().getPath()));
                    break;
                case CHILD_REMOVED:
                    emit("jobgraph-removed", "jobId", ZKPaths.getNodeFromPath(event.getData().getPath()));
                    break;
                default:
                    break;
            }
        });
        cache.start();
        closeables.add(cache);
    }

    /** On leadership: lock every job graph, then recover each job's checkpoints and counter. */
    static void recoverJobGraphs(String key) throws Exception {
        long checkedAt = System.currentTimeMillis();
        String latchNode = fence(key, "recover-jobgraphs");
        List<String> recovered = new ArrayList<>();
        for (String jobId : jobGraphs.ns.getChildren().forPath("/")) {
            if (jobGraphs.getAndLock("/" + jobId) != null) recovered.add(jobId);
        }
        leaderAction(key, "recover-jobgraphs", checkedAt, latchNode, "jobIds", recovered, "lockUuid", jobGraphs.lockUuid.toString());
        for (String jobId : recovered) {
            JobState job = job(jobId);
            if (legacy) startJobLatch(job);
            else {
                publish(key, "/" + jobId + "/connection_info", leaderSessions.get(key));
                recoverCheckpoints(job, key);
            }
        }
    }

    static void recoverCheckpoints(JobState job, String key) throws Exception {
        long checkedAt = System.currentTimeMillis();
        String latchNode = fence(key, "recover-checkpoints");
        List<String> locked = job.checkpoints.getAllAndLock();
        List<Long> ids = new ArrayList<>();
        for (String node : locked) ids.add(Long.parseLong(node));
        leaderAction(key, "recover-checkpoints", checkedAt, latchNode, "jobId", job.jobId, "checkpointIds", ids, "counter", job.counter().getCount());
    }

    static JobState job(String jobId) throws Exception {
        JobState existing = jobs.get(jobId);
        if (existing != null) return existing;
        JobState job = new JobState(jobId);
        jobs.put(jobId, job);
        return job;
    }

    /** 1.12: each job has its own JobManager latch. */
    static void startJobLatch(JobState job) throws Exception {
        if (latches.containsKey(job.jobId)) return;
        startLatch(job.jobId, "/leaderlatch/" + job.jobId + "/job_manager_lock");
    }

    static String jobKey(String jobId) {
        return legacy ? jobId : "cluster";
    }

    static String dispatcherKey() {
        return legacy ? "dispatcher_lock" : "cluster";
    }

    static final class JobState {
        final String jobId;
        final StateHandleStore checkpoints;
        final String counterPath;
        SharedCount counter;

        JobState(String jobId) throws Exception {
            this.jobId = jobId;
            if (legacy) {
                checkpoints = new StateHandleStore(ensureNamespace(client, "/checkpoints/" + jobId), true);
                counterPath = "/checkpoint-counter/" + jobId;
            } else {
                CuratorFramework jobNs = ensureNamespace(ensureNamespace(client, "/jobs"), "/" + jobId);
                checkpoints = new StateHandleStore(ensureNamespace(jobNs, "/checkpoints"), false);
                counterPath = "/jobs/" + jobId + "/checkpoint_id_counter";
            }
        }

        synchronized SharedCount counter() throws Exception {
            if (counter == null) {
                counter = new SharedCount(client, counterPath, 1);
                counter.start();
            }
            return counter;
        }

        /** ZooKeeperCheckpointIDCounter.getAndIncrement: versioned setData, re-read on BadVersion. */
        long[] getAndIncrement() throws Exception {
            ConnectionState state = connectionState.get();
            if (state != ConnectionState.CONNECTED && state != ConnectionState.RECONNECTED) {
                throw new IllegalStateException("checkpoint counter needs a CONNECTED or RECONNECTED connection, state is " + state);
            }
            SharedCount count = counter();
            long retries = 0;
            while (true) {
                VersionedValue<Integer> current = count.getVersionedValue();
                if (count.trySetCount(current, current.getValue() + 1)) return new long[] {current.getValue(), retries};
                retries++;
            }
        }
    }

    /** Flink's ZooKeeperStateHandleStore lock protocol (1.15: <node>/locks/<uuid>; 1.12: <node>/<uuid>). */
    static final class StateHandleStore {
        final CuratorFramework ns;
        final boolean legacyLocks;
        final UUID lockUuid = UUID.randomUUID();

        StateHandleStore(CuratorFramework ns, boolean legacyLocks) {
            this.ns = ns;
            this.legacyLocks = legacyLocks;
        }

        String locksNode(String node) {
            return legacyLocks ? node : node + "/locks";
        }

        String lockPath(String node) {
            return locksNode(node) + "/" + lockUuid;
        }

        /** One multi: the node with its data, (1.15: the locks node,) and our EPHEMERAL lock. */
        void addAndLock(String node, byte[] data) throws Exception {
            List<CuratorOp> ops = new ArrayList<>();
            ops.add(ns.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(node, data));
            if (!legacyLocks) ops.add(ns.transactionOp().create().withMode(CreateMode.PERSISTENT).forPath(locksNode(node)));
            ops.add(ns.transactionOp().create().withMode(CreateMode.EPHEMERAL).forPath(lockPath(node)));
            try {
                ns.transaction().forOperations(ops);
            } catch (KeeperException.NodeExistsException exists) {
                // A retried multi whose first attempt went through: ours if our lock is there (FLINK-24543).
                Stat lock = ns.checkExists().forPath(lockPath(node));
                if (lock == null || lock.getEphemeralOwner() != sessionId()) throw exists;
            }
        }

        void replace(String node, int version, byte[] data) throws Exception {
            ns.setData().idempotent().withVersion(version).forPath(node, data);
        }

        /** Locks and reads; null when the node is gone or marked for deletion (no locks node). */
        byte[] getAndLock(String node) throws Exception {
            try {
                ns.create().withMode(CreateMode.EPHEMERAL).forPath(lockPath(node));
            } catch (KeeperException.NodeExistsException already) {
                // we hold it
            } catch (KeeperException.NoNodeException gone) {
                return null;
            }
            return ns.getData().forPath(node);
        }

        void release(String node) throws Exception {
            try {
                ns.delete().forPath(lockPath(node));
            } catch (KeeperException.NoNodeException gone) {
                // nothing to release
            }
        }

        /** Releases our lock, then removes the node only if nobody else holds a lock on it. */
        boolean releaseAndTryRemove(String node) throws Exception {
            release(node);
            try {
                if (legacyLocks) ns.delete().forPath(node);
                else {
                    ns.delete().forPath(locksNode(node));
                    ns.delete().deletingChildrenIfNeeded().forPath(node);
                }
            } catch (KeeperException.NotEmptyException lockedByOthers) {
                return false;
            } catch (KeeperException.NoNodeException gone) {
                // removed already
            }
            return true;
        }

        /** Locks every child, repeating until the parent's cversion stays the same. */
        List<String> getAllAndLock() throws Exception {
            while (true) {
                Stat before = ns.checkExists().forPath("/");
                List<String> locked = new ArrayList<>();
                List<String> children = new ArrayList<>(ns.getChildren().forPath("/"));
                Collections.sort(children);
                for (String child : children) if (getAndLock("/" + child) != null) locked.add(child);
                Stat after = ns.checkExists().forPath("/");
                if (before.getCversion() == after.getCversion()) return locked;
            }
        }

        void releaseAll() throws Exception {
            for (String child : ns.getChildren().forPath("/")) release("/" + child);
        }

        /** ZKPaths.deleteChildren on the store's root, as Flink's clearEntries. */
        void clearEntries() throws Exception {
            ZKPaths.deleteChildren(client.getZookeeperClient().getZooKeeper(), ZKPaths.makePath(ns.getNamespace(), "/"), false);
        }
    }

    // ---- commands --------------------------------------------------------------------------------

    static void command(String[] words) {
        String request = words[0];
        String verb = words[1];
        try {
            Map<String, Object> reply = new LinkedHashMap<>();
            switch (verb) {
                case "submit": submit(words[2], reply); break;
                case "checkpoint": checkpoint(words[2], reply); break;
                case "count": count(words[2], Integer.parseInt(words[3]), reply); break;
                case "lock": reply.put("locked", jobGraphs.getAndLock("/" + words[2]) != null); reply.put("lockUuid", jobGraphs.lockUuid.toString()); break;
                case "release": jobGraphs.release("/" + words[2]); break;
                case "remove": reply.put("removed", jobGraphs.releaseAndTryRemove("/" + words[2])); break;
                case "auto-checkpoint": autoCheckpoint(words[2], Long.parseLong(words[3])); break;
                case "cleanup-job": cleanupJob(words[2], reply); break;
                case "cleanup-cluster": cleanupCluster(); break;
                case "ls": reply.put("nodes", list()); break;
                case "state": state(reply); break;
                case "close": close(reply); break;
                default: throw new IllegalArgumentException("unknown command " + verb);
            }
            Object[] fields = new Object[4 + reply.size() * 2];
            fields[0] = "req"; fields[1] = request; fields[2] = "ok"; fields[3] = true;
            int i = 4;
            for (Map.Entry<String, Object> entry : reply.entrySet()) {
                fields[i++] = entry.getKey();
                fields[i++] = entry.getValue();
            }
            emit("reply", fields);
            if (verb.equals("close")) Runtime.getRuntime().halt(0);
        } catch (Throwable error) {
            emit("reply", "req", request, "ok", false, "error", error.toString());
        }
    }

    static void submit(String jobId, Map<String, Object> reply) throws Exception {
        String key = dispatcherKey();
        long checkedAt = System.currentTimeMillis();
        String latchNode = fence(key, "submit");
        String node = "/" + jobId;
        byte[] data = ("jobgraph " + jobId + " submitted by " + name).getBytes(StandardCharsets.UTF_8);
        Stat stat = jobGraphs.ns.checkExists().forPath(node);
        if (stat == null) jobGraphs.addAndLock(node, data);
        else jobGraphs.replace(node, stat.getVersion(), data);
        leaderAction(key, "submit", checkedAt, latchNode, "jobId", jobId, "lock", jobGraphs.lockPath(node), "replaced", stat != null);
        reply.put("lock", jobGraphs.lockPath(node));
        JobState job = job(jobId);
        if (legacy) {
            CuratorFramework registry = ensureNamespace(client, "/running_job_registry");
            registry.create().orSetData().forPath("/" + jobId, "RUNNING".getBytes(StandardCharsets.UTF_8));
            startJobLatch(job);
        } else {
            publish(key, "/" + jobId + "/connection_info", leaderSessions.get(key));
        }
    }

    static void checkpoint(String jobId, Map<String, Object> reply) throws Exception {
        String key = jobKey(jobId);
        JobState job = job(jobId);
        long checkedAt = System.currentTimeMillis();
        String latchNode = fence(key, "checkpoint");
        long id = job.getAndIncrement()[0];
        String node = String.format("/%019d", id);
        job.checkpoints.addAndLock(node, ("checkpoint " + id).getBytes(StandardCharsets.UTF_8));
        List<String> subsumed = new ArrayList<>();
        List<String> all = new ArrayList<>(job.checkpoints.ns.getChildren().forPath("/"));
        Collections.sort(all);
        for (int i = 0; i < all.size() - CHECKPOINT_RETENTION; i++) {
            if (job.checkpoints.releaseAndTryRemove("/" + all.get(i))) subsumed.add(all.get(i));
        }
        leaderAction(key, "checkpoint", checkedAt, latchNode, "jobId", jobId, "checkpointId", id, "lock", job.checkpoints.lockPath(node), "subsumed", subsumed);
        reply.put("checkpointId", id);
        reply.put("subsumed", subsumed);
    }

    /** Counter increments without leadership, for concurrent getAndIncrement from both clients. */
    static void count(String jobId, int times, Map<String, Object> reply) throws Exception {
        JobState job = job(jobId);
        List<Long> values = new ArrayList<>();
        long retries = 0;
        for (int i = 0; i < times; i++) {
            long[] result = job.getAndIncrement();
            values.add(result[0]);
            retries += result[1];
        }
        reply.put("values", values);
        reply.put("badVersionRetries", retries);
    }

    /** Periodic checkpoints like Flink's CheckpointCoordinator; a refused fence is logged, not fatal. */
    static void autoCheckpoint(String jobId, long intervalMs) {
        timers.scheduleWithFixedDelay(() -> actions.submit(() -> {
            try {
                checkpoint(jobId, new LinkedHashMap<>());
            } catch (Throwable error) {
                emit("checkpoint-skipped", "jobId", jobId, "reason", error.toString());
            }
        }), intervalMs, intervalMs, TimeUnit.MILLISECONDS);
    }

    /** A globally terminal job: its graph, checkpoints, counter and leader nodes all go (FLINK-20695). */
    static void cleanupJob(String jobId, Map<String, Object> reply) throws Exception {
        String key = dispatcherKey();
        long checkedAt = System.currentTimeMillis();
        String latchNode = fence(key, "cleanup-job");
        JobState job = job(jobId);
        if (!jobGraphs.releaseAndTryRemove("/" + jobId)) throw new IllegalStateException("job graph " + jobId + " is still locked by another session");
        for (String checkpoint : job.checkpoints.ns.getChildren().forPath("/")) job.checkpoints.releaseAndTryRemove("/" + checkpoint);
        job.checkpoints.clearEntries();
        synchronized (job) {
            if (job.counter != null) job.counter.close();
            job.counter = null;
        }
        client.delete().idempotent().forPath(job.counterPath);
        publishedPaths.remove("/" + jobId + "/connection_info");
        LeaderLatch jobLatch = latches.remove(jobId);
        if (jobLatch != null) {
            closeables.remove(jobLatch);
            jobLatch.close();
        }
        if (legacy) {
            deleteRecursively("/checkpoints/" + jobId);
            deleteRecursively("/running_job_registry/" + jobId);
            deleteRecursively("/leader/" + jobId);
            deleteRecursively("/leaderlatch/" + jobId);
        } else {
            deleteRecursively("/jobs/" + jobId);
            deleteRecursively("/leader/" + jobId);
        }
        jobs.remove(jobId);
        leaderAction(key, "cleanup-job", checkedAt, latchNode, "jobId", jobId);
    }

    /** HighAvailabilityServices.closeAndCleanupAllData: stop contending, delete the cluster's subtree and empty parents. */
    static void cleanupCluster() throws Exception {
        closeRecipes();
        client.delete().idempotent().deletingChildrenIfNeeded().forPath("/");
        CuratorFramework root = client.usingNamespace(null);
        for (String path = ZKPaths.getPathAndNode(ZKPaths.makePath(client.getNamespace(), "")).getPath(); !path.equals("/"); path = ZKPaths.getPathAndNode(path).getPath()) {
            try {
                root.delete().forPath(path);
            } catch (KeeperException.NotEmptyException other) {
                break;
            } catch (KeeperException.NoNodeException gone) {
                // fine
            }
        }
    }

    static void deleteRecursively(String path) throws Exception {
        client.delete().idempotent().deletingChildrenIfNeeded().forPath(path);
    }

    /** Every node this client can see from the tenant's root, as "path ephemeralOwnerHex". */
    static List<String> list() throws Exception {
        CuratorFramework root = client.usingNamespace(null);
        List<String> nodes = new ArrayList<>();
        List<String> pending = new ArrayList<>(Collections.singletonList("/"));
        while (!pending.isEmpty()) {
            String path = pending.remove(pending.size() - 1);
            Stat stat = root.checkExists().forPath(path);
            if (stat == null) continue;
            nodes.add(path + " " + Long.toHexString(stat.getEphemeralOwner()));
            try {
                for (String child : root.getChildren().forPath(path)) pending.add(ZKPaths.makePath(path, child));
            } catch (KeeperException.NoNodeException gone) {
                // deleted meanwhile
            }
        }
        Collections.sort(nodes);
        return nodes;
    }

    static void state(Map<String, Object> reply) throws Exception {
        List<String> leading = new ArrayList<>();
        for (Map.Entry<String, LeaderLatch> entry : latches.entrySet()) if (entry.getValue().hasLeadership()) leading.add(entry.getKey());
        Collections.sort(leading);
        reply.put("leading", leading);
        reply.put("session", sessionHex());
        reply.put("connectString", client.getZookeeperClient().getCurrentConnectionString());
        reply.put("connection", connectionState.get().name());
    }

    /** A JobManager's orderly shutdown: latch nodes deleted, watches removed, session closed. */
    static void close(Map<String, Object> reply) throws Exception {
        state(reply);
        closeRecipes();
        client.close();
    }

    static void closeRecipes() {
        closing = true;
        timers.shutdownNow();
        // Like Flink's leader election service: the contender stops leading before the latch node goes.
        for (String key : new ArrayList<>(leaderSessions.keySet())) {
            LeaderLatch latch = latches.get(key);
            leaderSessions.remove(key);
            emit("revoked", "component", key, "latch", latch == null ? null : latch.getOurPath(), "session", sessionHex(), "reason", "close");
        }
        List<AutoCloseable> all;
        synchronized (closeables) {
            all = new ArrayList<>(closeables);
            closeables.clear();
        }
        for (AutoCloseable closeable : all) {
            try {
                closeable.close();
            } catch (Exception error) {
                emit("close-failed", "what", closeable.getClass().getSimpleName(), "error", error.toString());
            }
        }
        for (JobState job : jobs.values()) {
            synchronized (job) {
                try {
                    if (job.counter != null) job.counter.close();
                } catch (Exception ignored) {
                    // closing anyway
                }
                job.counter = null;
            }
        }
        latches.clear();
        leaderSessions.clear();
        publishedPaths.clear();
    }

    // ---- helpers ---------------------------------------------------------------------------------

    /** ZooKeeperUtils.useNamespaceAndEnsurePath: ensure the path exists, then use it as the namespace. */
    @SuppressWarnings("deprecation")
    static CuratorFramework ensureNamespace(CuratorFramework base, String path) throws Exception {
        base.newNamespaceAwareEnsurePath(path).ensure(base.getZookeeperClient());
        return base.usingNamespace(ZKPaths.makePath(base.getNamespace(), path).substring(1));
    }

    static void createPersistentIfAbsent(CuratorFramework root, String path) throws Exception {
        if (root.checkExists().forPath(path) != null) return;
        try {
            root.create().withMode(CreateMode.PERSISTENT).forPath(path);
        } catch (KeeperException.NodeExistsException raced) {
            // the other contender was first
        }
    }

    static long sessionId() throws Exception {
        return client.getZookeeperClient().getZooKeeper().getSessionId();
    }

    static String sessionHex() {
        try {
            return "0x" + Long.toHexString(sessionId());
        } catch (Exception error) {
            return null;
        }
    }

    static void fatal(String what, Throwable error) {
        emit("fatal", "what", what, "error", String.valueOf(error));
        error.printStackTrace();
        System.out.flush();
        Runtime.getRuntime().halt(3);
    }

    static void emit(String event, Object... fields) {
        StringBuilder json = new StringBuilder("{\"ev\":");
        appendJson(json, event);
        json.append(",\"t\":").append(System.currentTimeMillis()).append(",\"who\":");
        appendJson(json, name);
        for (int i = 0; i + 1 < fields.length; i += 2) {
            json.append(',');
            appendJson(json, String.valueOf(fields[i]));
            json.append(':');
            appendJson(json, fields[i + 1]);
        }
        json.append('}');
        synchronized (System.out) {
            System.out.println(json);
            System.out.flush();
        }
    }

    static void appendJson(StringBuilder json, Object value) {
        if (value == null) json.append("null");
        else if (value instanceof Number || value instanceof Boolean) json.append(value);
        else if (value instanceof Collection) {
            json.append('[');
            boolean first = true;
            for (Object item : (Collection<?>) value) {
                if (!first) json.append(',');
                first = false;
                appendJson(json, item);
            }
            json.append(']');
        } else {
            json.append('"');
            for (char c : value.toString().toCharArray()) {
                if (c == '"' || c == '\\') json.append('\\').append(c);
                else if (c < 0x20) json.append(String.format("\\u%04x", (int) c));
                else json.append(c);
            }
            json.append('"');
        }
    }

    /** Flink's SecureAclProvider: CREATOR_ALL_ACL for every path. */
    static final class CreatorAclProvider implements ACLProvider {
        @Override
        public List<org.apache.zookeeper.data.ACL> getDefaultAcl() {
            return org.apache.zookeeper.ZooDefs.Ids.CREATOR_ALL_ACL;
        }

        @Override
        public List<org.apache.zookeeper.data.ACL> getAclForPath(String path) {
            return org.apache.zookeeper.ZooDefs.Ids.CREATOR_ALL_ACL;
        }
    }
}
