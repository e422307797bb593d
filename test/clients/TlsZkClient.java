// The ZooKeeper 3.8 Java client in TLS mode, for test/tls-identity.test.ts. TLS is configured the
// way a ZooKeeper user would: entirely through system properties (zookeeper.client.secure,
// zookeeper.clientCnxnSocket=...ClientCnxnSocketNetty, zookeeper.ssl.keyStore.*, trustStore.*).
//
// Usage: TlsZkClient <connectString> write <base> <data> [probePath...]
//          creates <base> (data) and <base>/child-1, <base>/child-2, reads them back, lists "/",
//          and getData's each probe path (reporting the data or the error code name)
//        TlsZkClient <connectString> resume <sessionIdHex> <passwordHex>
//          tries to resume that session; reports the first state the client reaches
// stdout: one line "RESULT {json}"
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class TlsZkClient {
  private static String str(String s) {
    if (s == null) return "null";
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private static String list(List<String> items) {
    StringBuilder out = new StringBuilder("[");
    for (int i = 0; i < items.size(); i++) out.append(i == 0 ? "" : ",").append(str(items.get(i)));
    return out.append("]").toString();
  }

  private static String hex(byte[] bytes) {
    StringBuilder out = new StringBuilder();
    for (byte b : bytes) out.append(String.format("%02x", b));
    return out.toString();
  }

  private static byte[] unhex(String text) {
    byte[] out = new byte[text.length() / 2];
    for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(text.substring(2 * i, 2 * i + 2), 16);
    return out;
  }

  public static void main(String[] args) throws Exception {
    String connectString = args[0];
    String mode = args[1];
    // The first state the session reaches (SyncConnected, Expired, AuthFailed...).
    AtomicReference<String> firstState = new AtomicReference<>();
    CountDownLatch settled = new CountDownLatch(1);
    Watcher watcher = event -> {
      if (event.getType() != Watcher.Event.EventType.None) return;
      Watcher.Event.KeeperState state = event.getState();
      if (state == Watcher.Event.KeeperState.Disconnected) return; // a failed attempt; it retries
      if (firstState.compareAndSet(null, state.name())) settled.countDown();
    };
    ZooKeeper zk;
    if (mode.equals("resume")) {
      zk = new ZooKeeper(connectString, 15_000, watcher, Long.parseUnsignedLong(args[2].replaceFirst("^0x", ""), 16), unhex(args[3]));
    } else {
      zk = new ZooKeeper(connectString, 15_000, watcher);
    }
    boolean reached = settled.await(30, TimeUnit.SECONDS);
    String state = reached ? firstState.get() : "TIMEOUT";
    if (mode.equals("resume")) {
      System.out.println("RESULT {\"state\":" + str(state) + "}");
      zk.close();
      return;
    }
    if (!state.equals("SyncConnected")) {
      System.out.println("RESULT {\"state\":" + str(state) + "}");
      System.exit(1);
    }
    String base = args[2];
    byte[] data = args[3].getBytes(StandardCharsets.UTF_8);
    zk.create(base, data, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
    zk.create(base + "/child-1", "one".getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
    zk.create(base + "/child-2", "two".getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
    String readBack = new String(zk.getData(base, false, null), StandardCharsets.UTF_8);
    List<String> children = new ArrayList<>(zk.getChildren(base, false));
    List<String> rootChildren = new ArrayList<>(zk.getChildren("/", false));
    Collections.sort(children);
    Collections.sort(rootChildren);
    StringBuilder probes = new StringBuilder("{");
    for (int i = 4; i < args.length; i++) {
      String outcome;
      try {
        outcome = "data:" + new String(zk.getData(args[i], false, null), StandardCharsets.UTF_8);
      } catch (KeeperException e) {
        outcome = e.code().name();
      } catch (IllegalArgumentException e) {
        outcome = "INVALID_PATH"; // the client refuses it before sending
      }
      probes.append(i == 4 ? "" : ",").append(str(args[i])).append(":").append(str(outcome));
    }
    probes.append("}");
    System.out.println("RESULT {\"state\":" + str(state)
        + ",\"session\":" + str("0x" + Long.toHexString(zk.getSessionId()))
        + ",\"password\":" + str(hex(zk.getSessionPasswd()))
        + ",\"data\":" + str(readBack)
        + ",\"children\":" + list(children)
        + ",\"rootChildren\":" + list(rootChildren)
        + ",\"probes\":" + probes
        + "}");
    zk.close();
  }
}
