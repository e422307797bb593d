/*
 * Independent load generator for cross-checking bench/lib/loadgen.ts: the ZooKeeper Java client
 * (Debian's 3.8 jar), N sessions each keeping K asynchronous getData calls in flight (closed loop).
 *
 *   java -cp ... JavaLoad <connectString> <path> <sessions> <inflight> <warmupSeconds> <seconds>
 *
 * Prints one JSON line: completed requests and latency percentiles (µs) of the measured window.
 */
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.zookeeper.AsyncCallback.DataCallback;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class JavaLoad {
  static volatile boolean running = true;
  static volatile boolean measuring = false;
  static final AtomicLong completed = new AtomicLong();
  static final AtomicLong errors = new AtomicLong();
  static volatile String firstError = "";

  /** Latencies of one session's replies; appended by that session's event thread only. */
  static final class Recorder {
    long[] values = new long[1 << 16];
    int size = 0;
    synchronized void add(long nanos) {
      if (size == values.length) values = Arrays.copyOf(values, size * 2);
      values[size++] = nanos;
    }
  }

  public static void main(String[] args) throws Exception {
    String connect = args[0];
    String path = args[1];
    int sessions = Integer.parseInt(args[2]);
    int inflight = Integer.parseInt(args[3]);
    double warmup = Double.parseDouble(args[4]);
    double seconds = Double.parseDouble(args[5]);
    ZooKeeper[] clients = new ZooKeeper[sessions];
    Recorder[] recorders = new Recorder[sessions];
    for (int i = 0; i < sessions; i++) {
      CountDownLatch connected = new CountDownLatch(1);
      clients[i] = new ZooKeeper(connect, 30000, event -> {
        if (event.getState() == KeeperState.SyncConnected) connected.countDown();
      });
      if (!connected.await(30, TimeUnit.SECONDS)) throw new IllegalStateException("session " + i + " did not connect");
      recorders[i] = new Recorder();
    }
    for (int i = 0; i < sessions; i++) {
      final ZooKeeper zk = clients[i];
      final Recorder recorder = recorders[i];
      DataCallback callback = new DataCallback() {
        @Override
        public void processResult(int rc, String p, Object ctx, byte[] data, Stat stat) {
          long sentAt = (Long) ctx;
          if (rc != 0) {
            if (errors.getAndIncrement() == 0) firstError = KeeperException.Code.get(rc).toString();
          } else if (measuring) {
            completed.incrementAndGet();
            recorder.add(System.nanoTime() - sentAt);
          }
          if (running) zk.getData(path, false, this, System.nanoTime());
        }
      };
      for (int k = 0; k < inflight; k++) zk.getData(path, false, callback, System.nanoTime());
    }
    Thread.sleep((long) (warmup * 1000));
    measuring = true;
    long start = System.nanoTime();
    Thread.sleep((long) (seconds * 1000));
    measuring = false;
    long window = System.nanoTime() - start;
    running = false;
    int total = 0;
    for (Recorder r : recorders) total += r.size;
    long[] all = new long[total];
    int at = 0;
    for (Recorder r : recorders) {
      synchronized (r) {
        System.arraycopy(r.values, 0, all, at, Math.min(r.size, total - at));
        at += Math.min(r.size, total - at);
      }
    }
    Arrays.sort(all, 0, at);
    System.out.printf("{\"completed\":%d,\"windowMs\":%.1f,\"p50Us\":%.1f,\"p99Us\":%.1f,\"p999Us\":%.1f,\"maxUs\":%.1f,\"errors\":%d,\"firstError\":\"%s\"}%n",
        completed.get(), window / 1e6, pct(all, at, 50), pct(all, at, 99), pct(all, at, 99.9), at == 0 ? 0.0 : all[at - 1] / 1e3, errors.get(), firstError);
    Thread.sleep(200); // let the last callbacks drain before the sessions close
    for (ZooKeeper zk : clients) zk.close();
  }

  static double pct(long[] sorted, int n, double p) {
    if (n == 0) return 0;
    int i = (int) Math.ceil(p / 100.0 * n) - 1;
    return sorted[Math.max(0, Math.min(n - 1, i))] / 1e3;
  }
}
