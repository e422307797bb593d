import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;

/**
 * The Curator recipes CuratorWorkload does not cover, for the Curator matrix
 * (test/client-matrix.test.ts), on Curator 4.2 (ZooKeeper 3.4 compatibility mode) up to 5.9:
 *
 *   java CuratorRecipes <connectString> <basePath>
 *
 * LeaderSelector with two sessions taking turns; on Curator 5 (when CuratorCacheRecipe was
 * compiled in) also CuratorCache. Prints one "RESULT {json}" line; exit 0, or 1 with a trace.
 */
public final class CuratorRecipes {
    static final long WAIT_MS = 30_000;

    public static void main(String[] args) {
        try {
            Json result = new Json();
            CuratorFramework c1 = CuratorWorkload.connect(args[0]);
            CuratorFramework c2 = CuratorWorkload.connect(args[0]);
            String base = args[1];
            c1.create().creatingParentsIfNeeded().forPath(base, CuratorWorkload.bytes("curator-recipes"));
            leaderSelector(c1, c2, base + "/selector", result);
            Class<?> cacheRecipe = optionalClass("CuratorCacheRecipe");
            result.bool("curatorCacheRan", cacheRecipe != null);
            if (cacheRecipe != null) {
                Method run = cacheRecipe.getMethod("run", CuratorFramework.class, CuratorFramework.class, String.class, Json.class);
                run.invoke(null, c1, c2, base + "/cache", result);
            }
            c2.close();
            c1.close();
            System.out.println("RESULT " + result);
            System.out.flush();
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
    }

    static Class<?> optionalClass(String name) {
        try {
            return Class.forName(name);
        } catch (ClassNotFoundException e) {
            return null;
        }
    }

    /** Two selectors re-queue after each turn; four turns in all, never two leaders at once. */
    static void leaderSelector(CuratorFramework c1, CuratorFramework c2, String path, Json result) throws Exception {
        final int turns = 4;
        final List<String> order = Collections.synchronizedList(new ArrayList<String>());
        final AtomicInteger leadersNow = new AtomicInteger();
        final AtomicInteger maxLeaders = new AtomicInteger();
        final CountDownLatch done = new CountDownLatch(turns);
        List<LeaderSelector> selectors = new ArrayList<>();
        for (final CuratorFramework client : new CuratorFramework[] {c1, c2}) {
            final String id = client == c1 ? "selector-1" : "selector-2";
            LeaderSelector selector = new LeaderSelector(client, path, new LeaderSelectorListenerAdapter() {
                @Override
                public void takeLeadership(CuratorFramework leader) throws Exception {
                    if (done.getCount() == 0) return;
                    maxLeaders.accumulateAndGet(leadersNow.incrementAndGet(), Math::max);
                    order.add(id);
                    Thread.sleep(200);
                    leadersNow.decrementAndGet();
                    done.countDown();
                }
            });
            selector.setId(id);
            selector.autoRequeue();
            selectors.add(selector);
        }
        for (LeaderSelector selector : selectors) selector.start();
        // While one leads the other waits in line: both are participants (seen by either session).
        List<String> participants = new ArrayList<>();
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (participants.size() < 2 && System.currentTimeMillis() < deadline) {
            participants.clear();
            for (org.apache.curator.framework.recipes.leader.Participant p : selectors.get(1).getParticipants()) participants.add(p.getId());
            if (participants.size() < 2) Thread.sleep(10);
        }
        Collections.sort(participants);
        result.strings("selectorParticipants", participants);
        boolean finished = done.await(WAIT_MS, TimeUnit.MILLISECONDS);
        result.bool("selectorTurnsFinished", finished);
        result.num("selectorMaxConcurrentLeaders", maxLeaders.get());
        for (LeaderSelector selector : selectors) selector.close();
        synchronized (order) {
            result.strings("selectorOrder", new ArrayList<>(order.subList(0, Math.min(turns, order.size()))));
        }
        // close() interrupts a running turn; its lock node goes when that thread has unwound.
        long closeDeadline = System.currentTimeMillis() + WAIT_MS;
        while (!c1.getChildren().forPath(path).isEmpty() && System.currentTimeMillis() < closeDeadline) Thread.sleep(20);
        result.num("selectorNodesAfterClose", c1.getChildren().forPath(path).size());
    }
}
