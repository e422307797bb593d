import java.util.Collection;

/**
 * Just enough JSON for the one "RESULT {json}" line the client programs print: a flat object of
 * strings, numbers, booleans and lists. Compiled beside each program that uses it.
 */
final class Json {
    private final StringBuilder out = new StringBuilder("{");

    private Json key(String key) {
        if (out.length() > 1) out.append(',');
        out.append(quote(key)).append(':');
        return this;
    }

    void str(String key, String value) {
        key(key).out.append(value == null ? "null" : quote(value));
    }

    void num(String key, long value) {
        key(key).out.append(value);
    }

    void bool(String key, boolean value) {
        key(key).out.append(value);
    }

    /** Synchronizes on `values`, so a Collections.synchronizedList filled by other threads reads whole. */
    void strings(String key, Collection<String> values) {
        key(key).out.append('[');
        boolean first = true;
        synchronized (values) {
            for (String value : values) {
                if (!first) out.append(',');
                out.append(quote(value));
                first = false;
            }
        }
        out.append(']');
    }

    void ints(String key, Collection<Integer> values) {
        key(key).out.append('[');
        boolean first = true;
        for (Integer value : values) {
            if (!first) out.append(',');
            out.append(value);
            first = false;
        }
        out.append(']');
    }

    static String quote(String value) {
        StringBuilder quoted = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            if (c == '"' || c == '\\') quoted.append('\\').append(c);
            else if (c < 0x20) quoted.append(String.format("\\u%04x", (int) c));
            else quoted.append(c);
        }
        return quoted.append('"').toString();
    }

    @Override
    public String toString() {
        return out + "}";
    }
}
