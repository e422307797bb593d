// Prints ZooKeeper's own opcode and error-code tables as JSON, read by reflection from the
// installed jars, so the codec's table is checked against the real thing rather than a copy.
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;

public class DumpZooDefs {
    public static void main(String[] args) throws Exception {
        StringBuilder out = new StringBuilder("{\"opcodes\":{");
        boolean first = true;
        for (Field f : Class.forName("org.apache.zookeeper.ZooDefs$OpCode").getFields()) {
            if (!Modifier.isStatic(f.getModifiers()) || f.getType() != int.class) continue;
            if (!first) out.append(',');
            first = false;
            out.append('"').append(f.getName()).append("\":").append(f.getInt(null));
        }
        out.append("},\"errors\":{");
        first = true;
        for (Object c : Class.forName("org.apache.zookeeper.KeeperException$Code").getEnumConstants()) {
            if (!first) out.append(',');
            first = false;
            int code = (Integer) c.getClass().getMethod("intValue").invoke(c);
            out.append('"').append(((Enum<?>) c).name()).append("\":").append(code);
        }
        out.append("},\"version\":\"").append(org.apache.zookeeper.Version.getFullVersion()).append("\"}");
        System.out.println(out);
    }
}
