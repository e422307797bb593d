import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.curator.RetryPolicy;
import org.apache.curator.RetrySleeper;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.KeeperException;

/**
 * A Curator 5.4 workload run by test/limits-real-clients.test.ts against a tenant whose request
 * rate is limited so that some requests are answered THROTTLEDOP (-127):
 *
 *   java CuratorThrottled <connectString> <basePath> <creates>
 *
 * Each phase sends <creates> background creates at once (the proxy reads them together, holds
 * what the rate does not allow, and answers THROTTLEDOP to what waited too long).
 * Phase "default": Curator's stock ExponentialBackoffRetry. Its allowRetry(Throwable) retries
 * CONNECTIONLOSS, OPERATIONTIMEOUT, SESSIONMOVED and SESSIONEXPIRED only, so THROTTLEDOP reaches
 * the application (result code -127, KeeperException.ThrottledOpException); outcomes are counted.
 * Phase "aware": a RetryPolicy that also retries THROTTLEDOP (the request was not executed, so
 * a retry is safe) completes every create. Exit 0 when it did, and prints "RESULT {json}".
 */
public class CuratorThrottled {
    /** Curator's backoff, plus THROTTLEDOP counted as retryable. */
    static final class ThrottleAwareRetry implements RetryPolicy {
        final RetryPolicy delegate;
        final AtomicInteger throttled = new AtomicInteger();

        ThrottleAwareRetry(RetryPolicy delegate) {
            this.delegate = delegate;
        }

        @Override
        public boolean allowRetry(int retryCount, long elapsedTimeMs, RetrySleeper sleeper) {
            return delegate.allowRetry(retryCount, elapsedTimeMs, sleeper);
        }

        @Override
        public boolean allowRetry(Throwable exception) {
            if (exception instanceof KeeperException && ((KeeperException) exception).code() == KeeperException.Code.THROTTLEDOP) {
                throttled.incrementAndGet();
                return true;
            }
            return RetryPolicy.super.allowRetry(exception);
        }
    }

    static CuratorFramework start(String connect, RetryPolicy policy, List<String> states) throws Exception {
        CuratorFramework client = CuratorFrameworkFactory.builder()
            .connectString(connect)
            .sessionTimeoutMs(15000)
            .connectionTimeoutMs(10000)
            .retryPolicy(policy)
            .build();
        client.getConnectionStateListenable().addListener((c, state) -> states.add(state.name()));
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) throw new IllegalStateException("not connected within 30 s");
        return client;
    }

    /**
     * `creates` background creates issued at once (a burst, as a batch job would send it);
     * outcome name -> count. Curator retries each one per its policy before the callback.
     */
    static Map<String, Integer> createBurst(CuratorFramework client, String parent, int creates, String[] example) throws Exception {
        Map<String, Integer> outcomes = new ConcurrentSkipListMap<>();
        CountDownLatch done = new CountDownLatch(creates);
        for (int i = 0; i < creates; i++) {
            client.create().inBackground((c, event) -> {
                int rc = event.getResultCode();
                String outcome = rc == 0 ? "OK" : KeeperException.Code.get(rc).name();
                if (rc != 0) {
                    synchronized (example) {
                        if (example[0] == null) example[0] = KeeperException.create(KeeperException.Code.get(rc), event.getPath()).toString();
                    }
                }
                outcomes.merge(outcome, 1, Integer::sum);
                done.countDown();
            }).forPath(parent + "/n-" + i);
        }
        if (!done.await(120, TimeUnit.SECONDS)) outcomes.put("NO_CALLBACK", (int) done.getCount());
        return new TreeMap<>(outcomes);
    }

    static String json(Map<String, Integer> map) {
        StringBuilder out = new StringBuilder("{");
        for (Map.Entry<String, Integer> e : map.entrySet()) {
            if (out.length() > 1) out.append(',');
            out.append(quote(e.getKey())).append(':').append(e.getValue());
        }
        return out.append('}').toString();
    }

    static String quote(String s) {
        return s == null ? "null" : "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String base = args[1];
        int creates = Integer.parseInt(args[2]);
        List<String> states = new CopyOnWriteArrayList<>();

        ThrottleAwareRetry aware = new ThrottleAwareRetry(new ExponentialBackoffRetry(50, 29, 1000));
        CuratorFramework awareClient = start(connect, aware, states);
        awareClient.create().creatingParentsIfNeeded().forPath(base + "/default");
        awareClient.create().creatingParentsIfNeeded().forPath(base + "/aware");

        CuratorFramework plain = start(connect, new ExponentialBackoffRetry(50, 10), states);
        String[] example = new String[1];
        long t0 = System.nanoTime();
        Map<String, Integer> defaultOutcomes = createBurst(plain, base + "/default", creates, example);
        long defaultMs = (System.nanoTime() - t0) / 1_000_000;
        plain.close();

        Thread.sleep(1200); // the tenant's token bucket refills
        int throttledBefore = aware.throttled.get();
        t0 = System.nanoTime();
        Map<String, Integer> awareOutcomes = createBurst(awareClient, base + "/aware", creates, new String[1]);
        long awareMs = (System.nanoTime() - t0) / 1_000_000;
        int awareRetries = aware.throttled.get() - throttledBefore;
        int defaultChildren = awareClient.getChildren().forPath(base + "/default").size();
        int awareChildren = awareClient.getChildren().forPath(base + "/aware").size();
        awareClient.close();

        System.out.println("RESULT {"
            + "\"default\":" + json(defaultOutcomes)
            + ",\"defaultMs\":" + defaultMs
            + ",\"defaultChildren\":" + defaultChildren
            + ",\"throttledExample\":" + quote(example[0])
            + ",\"aware\":" + json(awareOutcomes)
            + ",\"awareMs\":" + awareMs
            + ",\"awareThrottledRetries\":" + awareRetries
            + ",\"awareChildren\":" + awareChildren
            + ",\"states\":" + quote(String.join(",", states))
            + "}");
        System.exit(awareOutcomes.getOrDefault("OK", 0) == creates && awareChildren == creates ? 0 : 1);
    }
}
