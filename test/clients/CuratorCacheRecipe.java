import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCacheBridge;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;

/**
 * CuratorCache (Curator 5 only; compiled into CuratorRecipes' classpath for 5.x sets). Built with
 * bridgeBuilder, as libraries that must also run on ZooKeeper 3.5 do: on a 3.6+ client it is the
 * real CuratorCache on a persistent recursive watch (addWatch), on 3.5 a TreeCache underneath.
 */
public final class CuratorCacheRecipe {
    public static void run(CuratorFramework c1, CuratorFramework c2, String path, Json result) throws Exception {
        c1.create().creatingParentsIfNeeded().forPath(path, CuratorWorkload.bytes("root"));
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        CountDownLatch initialized = new CountDownLatch(1);
        CuratorCacheBridge cache = org.apache.curator.framework.recipes.cache.CuratorCache.bridgeBuilder(c1, path).build();
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(node -> events.add("CREATED " + describe(node)))
                .forChanges((before, after) -> events.add("CHANGED " + describe(after)))
                .forDeletes(node -> events.add("DELETED " + node.getPath()))
                .forInitialized(initialized::countDown)
                .build());
        cache.start();
        List<String> seen = new ArrayList<>();
        try {
            if (!initialized.await(30, TimeUnit.SECONDS)) throw new IllegalStateException("CuratorCache never initialized");
            result.bool("curatorCacheIsPersistentWatch", cache.isCuratorCache());
            c2.create().forPath(path + "/a", CuratorWorkload.bytes("1"));
            await(events, seen, "CREATED " + path + "/a=1");
            c2.setData().forPath(path + "/a", CuratorWorkload.bytes("2"));
            await(events, seen, "CHANGED " + path + "/a=2");
            c2.create().forPath(path + "/a/deep", CuratorWorkload.bytes("d"));
            await(events, seen, "CREATED " + path + "/a/deep=d");
            c2.delete().forPath(path + "/a/deep");
            await(events, seen, "DELETED " + path + "/a/deep");
            Optional<ChildData> a = cache.get(path + "/a");
            result.str("curatorCacheDataOfA", a.isPresent() ? new String(a.get().getData(), StandardCharsets.UTF_8) : null);
            result.bool("curatorCacheHasDeep", cache.get(path + "/a/deep").isPresent());
        } finally {
            cache.close();
        }
        result.strings("curatorCacheEvents", seen);
    }

    static void await(BlockingQueue<String> events, List<String> seen, String wanted) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (true) {
            long left = deadline - System.currentTimeMillis();
            String event = left > 0 ? events.poll(left, TimeUnit.MILLISECONDS) : null;
            if (event == null) throw new IllegalStateException("no CuratorCache event " + wanted + "; saw " + seen);
            seen.add(event);
            if (event.equals(wanted)) return;
        }
    }

    static String describe(ChildData node) {
        return node.getPath() + "=" + (node.getData() == null ? "" : new String(node.getData(), StandardCharsets.UTF_8));
    }
}
