import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.StatsTrack;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.admin.ZooKeeperAdmin;
import org.apache.zookeeper.cli.SetQuotaCommand;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

/**
 * Golden-traffic client: drives the real ZooKeeper 3.8 Java client and Curator 5.4 through the
 * recording relay so that every opcode the Java client can send shows up on the wire, together
 * with the error replies and watch notifications that belong to it.
 *
 * It is a script, not a test: each step asserts the outcome it needs (an event arrived, the
 * expected error code came back) so a capture that silently did something else fails loudly.
 *
 * Environment (set by capture.ts):
 *   GOLDEN_CONNECT  connect string of the recording relay (everything recorded goes here)
 *   GOLDEN_DIRECT   connect string of the server itself, for changes made "behind the client's
 *                   back" while its connection is down (not recorded, on purpose)
 *   GOLDEN_SUPER    user:password of the server's super digest
 *   GOLDEN_SASL     user:password of a DIGEST-MD5 SASL identity, when the server offers SASL;
 *                   this JVM's JAAS file (section GoldenSasl) then holds the same credentials
 *
 * Control protocol with capture.ts: a stdout line "@@golden <command>" asks the capture
 * script to act on the relay; it answers with one stdin line once done.
 */
public final class GoldenJava {
    static final String ROOT = "/golden-java";
    static final byte[] NO_DATA = new byte[0];
    /** The server's minimum (2 x tickTime 2000). The client pings after ~1/3 of it idle, so a
     * few idle seconds show pings, and a forced reconnect still fits well inside it. */
    static final int SESSION_TIMEOUT_MS = 4000;
    static final long TTL_MS = 3_600_000L;
    static final String DIGEST_USER = "golden";
    static final String DIGEST_PASSWORD = "golden-secret";

    static String relay;
    static String direct;
    static String superCredentials;
    static boolean sasl;

    public static void main(String[] args) throws Exception {
        relay = requireEnv("GOLDEN_CONNECT");
        direct = requireEnv("GOLDEN_DIRECT");
        superCredentials = requireEnv("GOLDEN_SUPER");
        String saslCredentials = System.getenv("GOLDEN_SASL");
        sasl = saslCredentials != null && !saslCredentials.isEmpty();

        Events events = new Events("main");
        ZooKeeper zk = new ZooKeeper(relay, SESSION_TIMEOUT_MS, events, plainConfig());
        events.awaitState(KeeperState.SyncConnected);

        crud(zk, events);
        acls(zk);
        multi(zk);
        readOnlyQueries(zk);
        admin(zk, events);
        idleForPings();
        reconnectWithStandardWatches(zk, events);
        persistentWatches(zk, events);
        removeWatches(zk, events);
        reconnectWithPersistentWatches(zk, events);
        if (sasl) saslSession();
        authFailure();
        curator();

        step("closeSession");
        zk.close();
        step("done");
    }

    // ---------------------------------------------------------------- plain CRUD and watches

    static void crud(ZooKeeper zk, Events events) throws Exception {
        step("create / exists / getData / setData / getChildren / delete, with watches");
        zk.create(ROOT, "golden".getBytes(StandardCharsets.UTF_8), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);

        String a = ROOT + "/a";
        // exists on a missing node: NONODE reply, but the server still sets an exist watch.
        check(zk.exists(a, true) == null, "exists(missing) should be null");
        zk.create(a, bytes("v1"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeCreated, a);

        Stat stat = new Stat();
        zk.create(ROOT + "/b", bytes("b"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, stat); // create2 (15)
        expectError(KeeperException.Code.NODEEXISTS, () -> zk.create(a, NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        expectError(KeeperException.Code.NODEEXISTS, () -> zk.create(ROOT + "/b", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, new Stat()));
        expectError(KeeperException.Code.NONODE, () -> zk.create(ROOT + "/no-parent/child", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));

        zk.create(ROOT + "/eph", bytes("ephemeral"), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        zk.create(ROOT + "/eseq-", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL);
        zk.create(ROOT + "/pseq-", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL);
        zk.create(ROOT + "/pseq-", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL, new Stat());
        expectError(KeeperException.Code.NOCHILDRENFOREPHEMERALS, () -> zk.create(ROOT + "/eph/child", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));

        zk.create(ROOT + "/container", null, Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER);   // createContainer (19)
        zk.create(ROOT + "/container/item", bytes("in a container"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create(ROOT + "/ttl", bytes("expires"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, new Stat(), TTL_MS); // createTTL (21)
        zk.create(ROOT + "/ttlseq-", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, new Stat(), TTL_MS);

        byte[] data = zk.getData(a, true, stat);
        check(Arrays.equals(data, bytes("v1")), "getData(a)");
        zk.setData(a, bytes("v2"), stat.getVersion());
        events.await(EventType.NodeDataChanged, a);
        expectError(KeeperException.Code.BADVERSION, () -> zk.setData(a, bytes("v3"), 0));
        expectError(KeeperException.Code.NONODE, () -> zk.getData(ROOT + "/missing", false, null));
        expectError(KeeperException.Code.NONODE, () -> zk.setData(ROOT + "/missing", NO_DATA, -1));

        zk.getChildren(ROOT, true);
        zk.create(ROOT + "/c1", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeChildrenChanged, ROOT);
        Stat parent = new Stat();
        List<String> children = zk.getChildren(ROOT, false, parent);        // getChildren2 (12)
        check(children.contains("c1") && parent.getNumChildren() == children.size(), "getChildren2");
        expectError(KeeperException.Code.NONODE, () -> zk.getChildren(ROOT + "/missing", false));

        Stat c1 = zk.exists(ROOT + "/c1", true);                            // exists on a present node, with watch
        expectError(KeeperException.Code.BADVERSION, () -> zk.delete(ROOT + "/c1", c1.getVersion() + 7));
        zk.delete(ROOT + "/c1", c1.getVersion());
        events.await(EventType.NodeDeleted, ROOT + "/c1");
        expectError(KeeperException.Code.NOTEMPTY, () -> zk.delete(ROOT + "/container", -1));
        expectError(KeeperException.Code.NONODE, () -> zk.delete(ROOT + "/c1", -1));

        step("sync");
        CountDownLatch synced = new CountDownLatch(1);
        zk.sync(ROOT, (rc, path, ctx) -> synced.countDown(), null);
        check(synced.await(10, TimeUnit.SECONDS), "sync callback");
    }

    // ---------------------------------------------------------------- ACLs and digest auth

    static void acls(ZooKeeper zk) throws Exception {
        step("getACL / setACL / digest auth / NOAUTH / INVALIDACL / whoAmI");
        String target = ROOT + "/acl-target";
        zk.create(target, bytes("world-readable"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        Stat stat = new Stat();
        List<ACL> acl = zk.getACL(target, stat);
        check(acl.equals(Ids.OPEN_ACL_UNSAFE), "getACL");
        // Version check before the ACL drops ADMIN: the server checks permission first.
        expectError(KeeperException.Code.BADVERSION, () -> zk.setACL(target, Ids.OPEN_ACL_UNSAFE, 42));
        zk.setACL(target, Ids.READ_ACL_UNSAFE, stat.getAversion());
        // NOAUTH is provoked on a node *created* with a restrictive ACL, not right after setACL:
        // the 3.8 leader's pending-change record for setACL keeps the old ACL, so a write that
        // follows closely can still pass (a real race, but it would make the capture flaky).

        // A node only the "golden" digest identity may touch.
        String secret = ROOT + "/secret";
        Id golden = new Id("digest", DigestAuthenticationProvider.generateDigest(DIGEST_USER + ":" + DIGEST_PASSWORD));
        zk.create(secret, bytes("classified"), Collections.singletonList(new ACL(Perms.ALL, golden)), CreateMode.PERSISTENT);
        expectError(KeeperException.Code.NOAUTH, () -> zk.getData(secret, false, null));
        expectError(KeeperException.Code.NOAUTH, () -> zk.setData(secret, bytes("nope"), -1));
        // CREATOR_ALL_ACL needs an authenticated identity to expand "auth:"; we have none yet.
        expectError(KeeperException.Code.INVALIDACL, () -> zk.create(ROOT + "/mine", NO_DATA, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));

        zk.addAuthInfo("digest", bytes(DIGEST_USER + ":" + DIGEST_PASSWORD));  // auth (100, xid -4)
        check(Arrays.equals(zk.getData(secret, false, null), bytes("classified")), "getData(secret) after auth");
        zk.create(ROOT + "/mine", NO_DATA, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        zk.getACL(ROOT + "/mine", new Stat());
        step("whoAmI -> " + describe(zk.whoAmI()));
    }

    // ---------------------------------------------------------------- multi and multiRead

    static void multi(ZooKeeper zk) throws Exception {
        step("multi (success, failure) and multiRead");
        String m = ROOT + "/m";
        List<OpResult> ok = zk.multi(Arrays.asList(
                Op.create(m, bytes("m"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.create(m + "-seq-", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.create(m + "-container", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER),
                Op.create(m + "-ttl", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, TTL_MS),
                Op.setData(m, bytes("m2"), 0),
                Op.check(m, 1),
                Op.create(m + "/gone", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.delete(m + "/gone", 0)));
        check(ok.size() == 8, "multi results");

        // Fails at the check: earlier ops report OK, the failing one BADVERSION, later ones
        // RUNTIMEINCONSISTENCY, and the reply header's err is still 0.
        expectError(KeeperException.Code.BADVERSION, () -> zk.multi(Arrays.asList(
                Op.create(m + "-rolled-back", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.check(m, 99),
                Op.delete(m, -1))));
        expectError(KeeperException.Code.NODEEXISTS, () -> zk.multi(Arrays.asList(
                Op.setData(m, bytes("m3"), -1),
                Op.create(m, NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT))));
        expectError(KeeperException.Code.NONODE, () -> zk.transaction()
                .delete(ROOT + "/missing", -1)
                .create(m + "-never", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)
                .commit());
        zk.transaction().setData(m, bytes("m4"), -1).check(ROOT + "/a", 1).commit();

        // Read-only ops only: the client sends multiRead (22). Sub-op errors come back as
        // ErrorResults and do not throw.
        List<OpResult> reads = zk.multi(Arrays.asList(
                Op.getData(m), Op.getChildren(ROOT), Op.getData(ROOT + "/missing"), Op.getChildren(ROOT + "/missing")));
        check(reads.get(2) instanceof OpResult.ErrorResult, "multiRead error result");
    }

    // ---------------------------------------------------------------- 3.6+ queries

    static void readOnlyQueries(ZooKeeper zk) throws Exception {
        step("getEphemerals / getAllChildrenNumber / getConfig");
        step("ephemerals(all) = " + zk.getEphemerals());
        step("ephemerals(" + ROOT + "/e) = " + zk.getEphemerals(ROOT + "/e"));
        step("allChildrenNumber(" + ROOT + ") = " + zk.getAllChildrenNumber(ROOT));
        expectError(KeeperException.Code.NONODE, () -> zk.getAllChildrenNumber(ROOT + "/missing"));
        // getConfig = getData("/zookeeper/config") with a watch; reconfig below fires it.
        step("config = " + new String(zk.getConfig(true, new Stat()), StandardCharsets.UTF_8).replace('\n', ' '));
    }

    // ---------------------------------------------------------------- super session: reconfig, quota

    static void admin(ZooKeeper zk, Events mainEvents) throws Exception {
        step("ZooKeeperAdmin session: reconfig, super digest, quota");
        Events events = new Events("admin");
        ZooKeeperAdmin admin = new ZooKeeperAdmin(relay, SESSION_TIMEOUT_MS, events, plainConfig());
        events.awaitState(KeeperState.SyncConnected);

        Stat configStat = new Stat();
        String config = new String(admin.getConfig(false, configStat), StandardCharsets.UTF_8);
        long configVersion = configVersion(config);
        // Unauthenticated: /zookeeper/config is world-readable only, so reconfig needs super.
        expectError(KeeperException.Code.NOAUTH, () -> admin.reconfigure((String) null, null, null, -1, new Stat()));

        admin.addAuthInfo("digest", bytes(superCredentials));
        step("super whoAmI -> " + describe(admin.whoAmI()));
        check(Arrays.equals(admin.getData(ROOT + "/secret", false, null), bytes("classified")), "super reads any node");

        // capture.ts runs a real quorum with reconfig enabled: one stale-version failure, one
        // malformed server spec, then a real membership change (add an observer that does not
        // run, remove it again), which fires the main session's getConfig watch.
        check(configVersion >= 0 && config.contains("server."), "a dynamic quorum config, got: " + config);
        expectError(KeeperException.Code.BADVERSION, () -> admin.reconfigure((String) null, null, null, configVersion + 1000, new Stat()));
        expectError(KeeperException.Code.BADARGUMENTS, () -> admin.reconfigure("server.250=not-a-server-spec", null, null, -1, new Stat()));
        // Nothing runs there and nothing needs to: observers do not vote, so the current voters
        // alone are the new config's quorum, and the leader never dials an observer.
        String observer = "server.250=127.0.0.1:2888:3888:observer;127.0.0.1:2181";
        byte[] added = admin.reconfigure(observer, null, null, -1, new Stat());
        step("reconfig added -> " + new String(added, StandardCharsets.UTF_8).replace('\n', ' '));
        mainEvents.await(EventType.NodeDataChanged, "/zookeeper/config");
        byte[] removed = admin.reconfigure((String) null, "250", null, -1, new Stat());
        step("reconfig removed -> " + new String(removed, StandardCharsets.UTF_8).replace('\n', ' '));

        // Hard quota: the quota node counts itself, so a limit of 2 admits one child.
        String quoted = ROOT + "/quota";
        zk.create(quoted, NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        StatsTrack limit = new StatsTrack();
        limit.setCount(-1);
        limit.setBytes(-1);
        limit.setCountHardLimit(2);
        limit.setByteHardLimit(-1);
        SetQuotaCommand.createQuota(admin, quoted, limit);
        zk.create(quoted + "/q1", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        expectError(KeeperException.Code.QUOTAEXCEEDED, () -> zk.create(quoted + "/q2", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));

        admin.close();
    }

    static void idleForPings() throws InterruptedException {
        step("idle so the client pings (every ~1/3 of the session timeout)");
        Thread.sleep(SESSION_TIMEOUT_MS);
    }

    // ---------------------------------------------------------------- reconnect, SetWatches (101)

    static void reconnectWithStandardWatches(ZooKeeper zk, Events events) throws Exception {
        step("reconnect with one-shot watches only -> setWatches (101)");
        String a = ROOT + "/a";
        String later = ROOT + "/later";
        zk.getData(a, true, null);           // data watch
        zk.exists(later, true);              // exist watch on a missing node
        zk.getChildren(ROOT, true);          // child watch

        control("drop-and-hold");
        events.awaitState(KeeperState.Disconnected);
        // Change the watched nodes while the client cannot see it; on resume the server
        // compares with the client's last zxid and fires the watches before the setWatches reply.
        try (Direct d = new Direct()) {
            d.zk.setData(a, bytes("changed while away"), -1);
            d.zk.create(later, NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        }
        control("release");
        events.awaitState(KeeperState.SyncConnected);
        events.await(EventType.NodeDataChanged, a);
        events.await(EventType.NodeCreated, later);
        events.await(EventType.NodeChildrenChanged, ROOT);
    }

    // ---------------------------------------------------------------- addWatch (106)

    static void persistentWatches(ZooKeeper zk, Events events) throws Exception {
        step("addWatch PERSISTENT and PERSISTENT_RECURSIVE");
        String pw = ROOT + "/pw";
        String rw = ROOT + "/rw";
        zk.addWatch(pw, AddWatchMode.PERSISTENT);
        zk.addWatch(rw, AddWatchMode.PERSISTENT_RECURSIVE);

        zk.create(pw, NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeCreated, pw);
        zk.setData(pw, bytes("1"), -1);
        events.await(EventType.NodeDataChanged, pw);
        zk.create(pw + "/child", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeChildrenChanged, pw);
        zk.setData(pw, bytes("2"), -1);      // still armed: persistent watches do not fire once
        events.await(EventType.NodeDataChanged, pw);

        zk.create(rw, NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeCreated, rw);
        zk.create(rw + "/x", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeCreated, rw + "/x");
        zk.create(rw + "/x/y", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeCreated, rw + "/x/y");
        zk.setData(rw + "/x/y", bytes("deep"), -1);
        events.await(EventType.NodeDataChanged, rw + "/x/y");
        zk.delete(rw + "/x/y", -1);
        events.await(EventType.NodeDeleted, rw + "/x/y");
    }

    // ---------------------------------------------------------------- checkWatches (17), removeWatches (18)

    static void removeWatches(ZooKeeper zk, Events events) throws Exception {
        step("removeWatches(path, watcher) -> 17, removeAllWatches -> 18");
        Events own = new Events("own");
        String b = ROOT + "/b";
        zk.getData(b, own, null);
        zk.removeWatches(b, own, Watcher.WatcherType.Data, false);
        own.await(EventType.DataWatchRemoved, b);

        zk.getChildren(b, own, null);
        zk.exists(b, own);
        zk.removeWatches(b, own, Watcher.WatcherType.Any, false);

        String tmp = ROOT + "/tmp-watch";
        zk.addWatch(tmp, AddWatchMode.PERSISTENT);
        zk.removeAllWatches(tmp, Watcher.WatcherType.Any, false);
        events.await(EventType.PersistentWatchRemoved, tmp);
        zk.getChildren(ROOT, true);
        zk.removeAllWatches(ROOT, Watcher.WatcherType.Children, false);
        events.await(EventType.ChildWatchRemoved, ROOT);
    }

    // ---------------------------------------------------------------- reconnect, SetWatches2 (105)

    static void reconnectWithPersistentWatches(ZooKeeper zk, Events events) throws Exception {
        step("reconnect with persistent watches registered -> setWatches2 (105)");
        String b = ROOT + "/b";
        String rw = ROOT + "/rw";
        zk.getData(b, true, null);

        control("drop-and-hold");
        events.awaitState(KeeperState.Disconnected);
        try (Direct d = new Direct()) {
            d.zk.setData(b, bytes("changed while away"), -1);
        }
        control("release");
        events.awaitState(KeeperState.SyncConnected);
        events.await(EventType.NodeDataChanged, b);
        // The recursive watch was re-registered by setWatches2, with no catch-up event.
        zk.create(rw + "/after-reconnect", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeCreated, rw + "/after-reconnect");
        zk.create(ROOT + "/pw/after-reconnect", NO_DATA, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        events.await(EventType.NodeChildrenChanged, ROOT + "/pw");
    }

    // ---------------------------------------------------------------- SASL (102), AUTHFAILED

    static void saslSession() throws Exception {
        step("SASL DIGEST-MD5 session (102)");
        ZKClientConfig config = new ZKClientConfig();
        config.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "true");
        config.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, "GoldenSasl");
        Events events = new Events("sasl");
        ZooKeeper zk = new ZooKeeper(relay, SESSION_TIMEOUT_MS, events, config);
        events.awaitState(KeeperState.SaslAuthenticated);
        step("sasl whoAmI -> " + describe(zk.whoAmI()));
        zk.exists(ROOT, false);
        zk.close();
    }

    static void authFailure() throws Exception {
        step("auth with an unknown scheme -> AUTHFAILED, server closes");
        Events events = new Events("authfail");
        ZooKeeper zk = new ZooKeeper(relay, SESSION_TIMEOUT_MS, events, plainConfig());
        events.awaitState(KeeperState.SyncConnected);
        zk.addAuthInfo("golden-no-such-scheme", bytes("whatever"));
        events.awaitState(KeeperState.AuthFailed);
        zk.close();
    }

    // ---------------------------------------------------------------- Curator recipes

    static void curator() throws Exception {
        step("Curator: LeaderLatch, CuratorCache, SharedCount, InterProcessMutex, transaction");
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(relay)
                .namespace("golden-curator")
                .sessionTimeoutMs(10_000)
                .connectionTimeoutMs(10_000)
                .retryPolicy(new ExponentialBackoffRetry(200, 5))
                // The tracker would read /zookeeper/config and switch to the servers' real
                // addresses, bypassing the relay (FLINK-31780): fine in production, not here.
                .ensembleTracker(false)
                .zkClientConfig(plainConfig())
                .build();
        LinkedBlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
        client.getConnectionStateListenable().addListener((c, state) -> states.add(state));
        client.start();
        check(client.blockUntilConnected(20, TimeUnit.SECONDS), "curator connected");

        LinkedBlockingQueue<String> cacheEvents = new LinkedBlockingQueue<>();
        CuratorCache cache = CuratorCache.build(client, "/cache");
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(node -> cacheEvents.add("created " + node.getPath()))
                .forChanges((before, after) -> cacheEvents.add("changed " + after.getPath()))
                .forDeletes(node -> cacheEvents.add("deleted " + node.getPath()))
                .build());
        cache.start();

        client.create().creatingParentContainersIfNeeded().forPath("/cache/one", bytes("1"));
        awaitString(cacheEvents, "created /cache/one");
        client.setData().forPath("/cache/one", bytes("2"));
        awaitString(cacheEvents, "changed /cache/one");

        LeaderLatch latch = new LeaderLatch(client, "/latch", "golden-java");
        latch.start();
        check(latch.await(20, TimeUnit.SECONDS), "leadership");

        SharedCount counter = new SharedCount(client, "/counter", 0);
        counter.start();
        VersionedValue<Integer> initial = counter.getVersionedValue();
        check(counter.trySetCount(initial, 1), "first trySetCount");
        check(!counter.trySetCount(initial, 2), "stale trySetCount must fail (BADVERSION on the wire)");

        InterProcessMutex mutex = new InterProcessMutex(client, "/mutex");
        check(mutex.acquire(20, TimeUnit.SECONDS), "mutex acquired");
        mutex.release();

        client.transaction().forOperations(
                client.transactionOp().create().forPath("/txn", bytes("t")),
                client.transactionOp().setData().forPath("/txn", bytes("t2")),
                client.transactionOp().check().forPath("/cache/one"));

        step("Curator reconnect");
        states.clear();
        // Drops every relayed connection: the main session (persistent watches) resumes as well.
        control("drop");
        awaitState(states, ConnectionState.SUSPENDED);
        awaitState(states, ConnectionState.RECONNECTED);
        client.delete().forPath("/cache/one");
        awaitString(cacheEvents, "deleted /cache/one");

        latch.close();
        counter.close();
        cache.close();
        client.close();
    }

    // ---------------------------------------------------------------- helpers

    /** A ZooKeeper session straight to the server, bypassing the relay: its traffic is not golden. */
    static final class Direct implements AutoCloseable {
        final ZooKeeper zk;

        Direct() throws Exception {
            Events events = new Events("direct");
            zk = new ZooKeeper(direct, 10_000, events, plainConfig());
            events.awaitState(KeeperState.SyncConnected);
            zk.addAuthInfo("digest", bytes(superCredentials));
        }

        @Override
        public void close() throws InterruptedException {
            zk.close();
        }
    }

    /** Records every event a watcher sees; tests wait for the ones they caused. */
    static final class Events implements Watcher {
        private final String name;
        private final LinkedBlockingQueue<WatchedEvent> queue = new LinkedBlockingQueue<>();

        Events(String name) {
            this.name = name;
        }

        @Override
        public void process(WatchedEvent event) {
            queue.add(event);
        }

        void await(EventType type, String path) throws InterruptedException {
            awaitMatching(e -> e.getType() == type && path.equals(e.getPath()), type + " " + path);
        }

        void awaitState(KeeperState state) throws InterruptedException {
            awaitMatching(e -> e.getType() == EventType.None && e.getState() == state, "state " + state);
        }

        private void awaitMatching(java.util.function.Predicate<WatchedEvent> wanted, String what) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                long left = deadline - System.nanoTime();
                WatchedEvent event = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : null;
                if (event == null) throw new IllegalStateException(name + ": timed out waiting for " + what);
                if (wanted.test(event)) {
                    step("  [" + name + "] " + what);
                    return;
                }
                // Events we did not wait for are legitimate (e.g. Disconnected before a state we
                // await); they are skipped, and stay visible in the captured frames.
            }
        }
    }

    interface ZkCall {
        void run() throws Exception;
    }

    /** Runs a call that must fail with exactly this server error code. */
    static void expectError(KeeperException.Code expected, ZkCall call) throws Exception {
        try {
            call.run();
        } catch (KeeperException e) {
            if (e.code() != expected) throw new IllegalStateException("expected " + expected + " but got " + e.code(), e);
            step("  error " + e.code() + " as expected");
            return;
        }
        throw new IllegalStateException("expected " + expected + " but the call succeeded");
    }

    static void awaitState(LinkedBlockingQueue<ConnectionState> states, ConnectionState wanted) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            ConnectionState state = states.poll(1, TimeUnit.SECONDS);
            if (state == wanted) {
                step("  [curator] " + wanted);
                return;
            }
        }
        throw new IllegalStateException("curator: timed out waiting for " + wanted);
    }

    /** Waits for a cache event; paths are compared without the namespace, which Curator may or may not strip. */
    static void awaitString(LinkedBlockingQueue<String> queue, String wanted) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            String got = queue.poll(1, TimeUnit.SECONDS);
            if (got == null) continue;
            if (got.replace(" /golden-curator/", " /").equals(wanted)) {
                step("  [curator cache] " + got);
                return;
            }
            step("  [curator cache] (skipped) " + got);
        }
        throw new IllegalStateException("timed out waiting for cache event " + wanted);
    }

    /** The version= line of a dynamic config (hex), or -1 if there is none. */
    static long configVersion(String config) {
        for (String line : config.split("\n")) {
            if (line.startsWith("version=")) return Long.parseLong(line.substring("version=".length()), 16);
        }
        return -1;
    }

    /** SASL off unless asked for: otherwise every session would try SASL once a JAAS file is set. */
    static ZKClientConfig plainConfig() {
        ZKClientConfig config = new ZKClientConfig();
        config.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "false");
        return config;
    }

    static void control(String command) throws java.io.IOException {
        System.out.println("@@golden " + command);
        System.out.flush();
        String answer = STDIN.readLine();
        if (answer == null || !answer.startsWith("ok")) throw new IllegalStateException("control " + command + " -> " + answer);
    }

    static final BufferedReader STDIN = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    static String describe(List<org.apache.zookeeper.data.ClientInfo> infos) {
        List<String> parts = new ArrayList<>();
        for (org.apache.zookeeper.data.ClientInfo info : infos) parts.add(info.getAuthScheme() + ":" + info.getUser());
        return String.join(",", parts);
    }

    static void check(boolean condition, String what) {
        if (!condition) throw new IllegalStateException("check failed: " + what);
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void step(String message) {
        System.out.println(message);
        System.out.flush();
    }

    static String requireEnv(String name) {
        String value = System.getenv(name);
        if (value == null || value.isEmpty()) throw new IllegalStateException("missing environment variable " + name);
        return value;
    }
}
