import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.server.quorum.flexible.QuorumVerifier;

/**
 * Curator 5.4's EnsembleTracker against the proxy, run by test/hostile-tenant.test.ts:
 *
 *   java EnsembleTrackerProbe <proxiedConnectString> <directConnectString>
 *
 * Two CuratorFrameworks with the ensemble tracker ON (Curator's default): one through the proxy,
 * one straight to a single ensemble member (the control, showing what the tracker does when it can
 * read /zookeeper/config). Prints "READY {json}" once both are connected and their trackers have
 * had time to read the config, waits for a "go" line on stdin (the test reconfigures the ensemble
 * in between, so /zookeeper/config changes and the control's config watch fires), then prints
 * "RESULT {json}" with what each client believes the ensemble is, and what the proxied session
 * gets when it asks for /zookeeper/... explicitly.
 */
public final class EnsembleTrackerProbe {
    public static void main(String[] args) {
        try {
            CuratorFramework proxied = connect(args[0]);
            CuratorFramework direct = connect(args[1]);
            Thread.sleep(1500); // the trackers ask for the config right after connecting
            System.out.println("READY " + snapshot(proxied, direct));
            System.out.flush();

            BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = stdin.readLine()) != null && !line.equals("go")) {
                // wait for the test
            }
            // The direct client's config watch fires on the reconfig; give every tracker time to act.
            long deadline = System.currentTimeMillis() + 10_000;
            while (System.currentTimeMillis() < deadline && !direct.getZookeeperClient().getCurrentConnectionString().contains(",")) Thread.sleep(100);
            Thread.sleep(2500);

            StringBuilder json = new StringBuilder(snapshot(proxied, direct));
            json.setLength(json.length() - 1);
            json.append(",\"getConfig\":").append(quote(attempt(() -> proxied.getConfig().forEnsemble())));
            json.append(",\"existsConfig\":").append(quote(attempt(() -> proxied.checkExists().forPath("/zookeeper/config"))));
            json.append(",\"childrenOfZookeeper\":").append(quote(attempt(() -> proxied.getChildren().forPath("/zookeeper"))));
            json.append(",\"createUnderZookeeper\":").append(quote(attempt(() -> proxied.create().forPath("/zookeeper/evil"))));
            json.append(",\"stillConnected\":").append(proxied.getZookeeperClient().isConnected());
            json.append('}');
            System.out.println("RESULT " + json);
            System.out.flush();
            proxied.close();
            direct.close();
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
                .retryPolicy(new RetryOneTime(200))
                .build(); // ensembleTracker(true) is the default
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) throw new IllegalStateException("no connection to " + connectString);
        return client;
    }

    interface Call {
        Object run() throws Exception;
    }

    /** "OK:<result>" or the KeeperException code name. */
    static String attempt(Call call) {
        try {
            Object result = call.run();
            return "OK:" + (result instanceof byte[] ? new String((byte[]) result, StandardCharsets.UTF_8) : String.valueOf(result));
        } catch (KeeperException e) {
            return e.code().name();
        } catch (Exception e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    static String snapshot(CuratorFramework proxied, CuratorFramework direct) throws Exception {
        return "{\"proxied\":" + describe(proxied) + ",\"direct\":" + describe(direct) + "}";
    }

    static String describe(CuratorFramework client) throws Exception {
        QuorumVerifier config = client.getCurrentConfig();
        return "{\"connectionString\":" + quote(client.getZookeeperClient().getCurrentConnectionString())
                + ",\"configMembers\":" + (config == null ? -1 : config.getAllMembers().size())
                + ",\"configVersion\":" + (config == null ? -1 : config.getVersion())
                + ",\"zooKeeper\":" + quote(client.getZookeeperClient().getZooKeeper().toString()) + "}";
    }

    static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }
}
