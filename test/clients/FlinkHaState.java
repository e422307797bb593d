import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;

/**
 * Flink-like HA state through the proxy, the way Flink 1.15's JobManager keeps it (Curator
 * namespace flink/<cluster-id>; see shared/reference/flink-ha-zookeeper.md), for
 * test/controller.test.ts:
 *
 *   java FlinkHaState write <connectString> <jobId>   leader latch, job graph + lock (one transaction), checkpoint pointer, counter
 *   java FlinkHaState read  <connectString> <jobId>   prints what a recovering JobManager would find
 *
 * Prints one line "RESULT {json}"; exit 0 on success, 1 with a stack trace otherwise.
 */
public final class FlinkHaState {
    public static void main(String[] args) {
        try {
            CuratorFramework client = CuratorFrameworkFactory.builder()
                    .connectString(args[1])
                    .namespace("flink/flink-cluster")
                    .sessionTimeoutMs(15_000)
                    .connectionTimeoutMs(15_000)
                    .retryPolicy(new ExponentialBackoffRetry(200, 10))
                    .build();
            client.start();
            if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) throw new IllegalStateException("no connection to " + args[1]);
            String json = args[0].equals("write") ? write(client, args[2]) : read(client, args[2]);
            client.close();
            System.out.println("RESULT " + json);
            System.out.flush();
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
    }

    static String write(CuratorFramework client, String jobId) throws Exception {
        LeaderLatch latch = new LeaderLatch(client, "/leader/latch");
        latch.start();
        if (!latch.await(30, TimeUnit.SECONDS)) throw new IllegalStateException("never became leader");
        client.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL)
                .forPath("/leader/dispatcher/connection_info", "akka://flink@jobmanager:6123".getBytes(StandardCharsets.UTF_8));
        client.create().creatingParentContainersIfNeeded().forPath("/jobgraphs");
        // addAndLock: the state handle pointer and its lock in one transaction, as Flink does.
        client.transaction().forOperations(
                client.transactionOp().create().forPath("/jobgraphs/" + jobId, ("s3://bucket/ha/submittedJobGraph-" + jobId).getBytes(StandardCharsets.UTF_8)),
                client.transactionOp().create().forPath("/jobgraphs/" + jobId + "/locks"));
        client.create().creatingParentsIfNeeded()
                .forPath("/jobs/" + jobId + "/checkpoints/0000000000000000042", "s3://bucket/checkpoints/chk-42".getBytes(StandardCharsets.UTF_8));
        SharedCount counter = new SharedCount(client, "/jobs/" + jobId + "/checkpoint_id_counter", 1);
        counter.start();
        while (!counter.trySetCount(counter.getVersionedValue(), 43)) { /* retry on a concurrent change */ }
        counter.close();
        latch.close();
        return "{\"written\":true}";
    }

    static String read(CuratorFramework client, String jobId) throws Exception {
        List<String> jobs = client.getChildren().forPath("/jobgraphs");
        String jobGraph = new String(client.getData().forPath("/jobgraphs/" + jobId), StandardCharsets.UTF_8);
        List<String> checkpoints = client.getChildren().forPath("/jobs/" + jobId + "/checkpoints");
        String checkpoint = new String(client.getData().forPath("/jobs/" + jobId + "/checkpoints/" + checkpoints.get(0)), StandardCharsets.UTF_8);
        SharedCount counter = new SharedCount(client, "/jobs/" + jobId + "/checkpoint_id_counter", 1);
        counter.start();
        int count = counter.getCount();
        counter.close();
        return "{\"jobs\":[\"" + String.join("\",\"", jobs) + "\"],\"jobGraph\":\"" + jobGraph + "\",\"checkpoints\":[\"" + String.join("\",\"", checkpoints)
                + "\"],\"checkpoint\":\"" + checkpoint + "\",\"counter\":" + count + "}";
    }
}
