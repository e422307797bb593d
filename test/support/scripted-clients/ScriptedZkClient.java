// A real ZooKeeper 3.8 Java client session, driven line by line from stdin, for the failover
// tests. It never reconnects by hand: ClientCnxn does that itself (and replays its watches with
// SetWatches), which is exactly what the tests want to observe.
//
// Usage: ScriptedZkClient <connectString> <sessionTimeoutMs>
// stdin:  one command per line, words separated by single spaces (paths and data have none):
//         create <path> <data> persistent|ephemeral | get <path> | exists <path> | children <path>
//         set <path> <data> | session | close
//         get/exists/children leave a watch.
// stdout: one JSON object per line: {"type":"state",...}, {"type":"watch",...}, {"type":"reply",...}
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class ScriptedZkClient {
  private static synchronized void emit(String json) {
    System.out.println(json);
    System.out.flush();
  }

  private static String str(String s) {
    if (s == null) return "null";
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private static String hex(long id) {
    return str("0x" + Long.toHexString(id));
  }

  public static void main(String[] args) throws Exception {
    String connectString = args[0];
    int sessionTimeoutMs = Integer.parseInt(args[1]);
    AtomicReference<ZooKeeper> holder = new AtomicReference<>();
    Watcher watcher = (WatchedEvent event) -> {
      long now = System.currentTimeMillis();
      if (event.getType() == Watcher.Event.EventType.None) {
        ZooKeeper zk = holder.get();
        String session = zk == null ? "null" : hex(zk.getSessionId());
        emit("{\"type\":\"state\",\"state\":" + str(event.getState().name()) + ",\"session\":" + session + ",\"t\":" + now + "}");
      } else {
        emit("{\"type\":\"watch\",\"event\":" + str(event.getType().name()) + ",\"path\":" + str(event.getPath()) + ",\"t\":" + now + "}");
      }
    };
    ZooKeeper zk = new ZooKeeper(connectString, sessionTimeoutMs, watcher);
    holder.set(zk);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      String[] w = line.trim().split(" ");
      try {
        switch (w[0]) {
          case "create": {
            CreateMode mode = w[3].equals("ephemeral") ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT;
            String created = zk.create(w[1], w[2].getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE, mode);
            emit("{\"type\":\"reply\",\"ok\":true,\"path\":" + str(created) + "}");
            break;
          }
          case "get": {
            byte[] data = zk.getData(w[1], true, null);
            emit("{\"type\":\"reply\",\"ok\":true,\"data\":" + str(new String(data, StandardCharsets.UTF_8)) + "}");
            break;
          }
          case "exists": {
            Stat stat = zk.exists(w[1], true);
            emit("{\"type\":\"reply\",\"ok\":true,\"exists\":" + (stat != null) + ",\"owner\":" + (stat == null ? "null" : hex(stat.getEphemeralOwner())) + "}");
            break;
          }
          case "children": {
            List<String> children = zk.getChildren(w[1], true);
            StringBuilder list = new StringBuilder("[");
            for (int i = 0; i < children.size(); i++) list.append(i == 0 ? "" : ",").append(str(children.get(i)));
            emit("{\"type\":\"reply\",\"ok\":true,\"children\":" + list.append("]") + "}");
            break;
          }
          case "set": {
            zk.setData(w[1], w[2].getBytes(StandardCharsets.UTF_8), -1);
            emit("{\"type\":\"reply\",\"ok\":true}");
            break;
          }
          case "session":
            emit("{\"type\":\"reply\",\"ok\":true,\"session\":" + hex(zk.getSessionId()) + ",\"timeout\":" + zk.getSessionTimeout() + "}");
            break;
          case "close":
            zk.close();
            emit("{\"type\":\"reply\",\"ok\":true}");
            return;
          default:
            emit("{\"type\":\"reply\",\"ok\":false,\"error\":" + str("unknown command " + w[0]) + "}");
        }
      } catch (Exception e) {
        emit("{\"type\":\"reply\",\"ok\":false,\"error\":" + str(e.toString()) + "}");
      }
    }
    zk.close();
  }
}
