import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.DiscardingSink;
import org.apache.flink.streaming.api.functions.source.RichSourceFunction;

/**
 * The real-Flink scenario's job (test/flink-real/): a counter kept in checkpointed operator state,
 * checkpointed every second, compiled at test time against one Flink version's jars. It appends
 * what it does to the file named by its only argument, one line per event, so the test can prove
 * that after a failover the counter resumes from a completed checkpoint and never goes back:
 * {@code start <attempt> restored|fresh <value>}, {@code count <value>},
 * {@code snapshot <checkpointId> <value>}, {@code complete <checkpointId>}.
 */
public final class CounterJob {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) throw new IllegalArgumentException("usage: CounterJob <event file>");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        env.enableCheckpointing(1000);
        env.addSource(new CountingSource(args[0])).name("counter").addSink(new DiscardingSink<>());
        env.execute("counter");
    }

    static final class CountingSource extends RichSourceFunction<Long> implements CheckpointedFunction, CheckpointListener {
        private static final long serialVersionUID = 1L;
        /** A count every 50 ms: 20 a second, so a checkpoint covers about 20 values. */
        private static final long TICK_MS = 50;

        private final String eventFile;
        private transient ListState<Long> state;
        private transient FileOutputStream events;
        private volatile boolean running = true;
        private long count;

        CountingSource(String eventFile) {
            this.eventFile = eventFile;
        }

        @Override
        public void initializeState(FunctionInitializationContext context) throws Exception {
            state = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("count", Long.class));
            count = 0;
            for (Long value : state.get()) count = value;
            events = new FileOutputStream(eventFile, true);
            int attempt = getRuntimeContext().getAttemptNumber();
            log("start " + attempt + (context.isRestored() ? " restored " : " fresh ") + count);
        }

        @Override
        public void run(SourceContext<Long> context) throws Exception {
            while (running) {
                synchronized (context.getCheckpointLock()) {
                    count++;
                    context.collect(count);
                    log("count " + count);
                }
                Thread.sleep(TICK_MS);
            }
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            state.clear();
            state.add(count);
            log("snapshot " + context.getCheckpointId() + " " + count);
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) throws IOException {
            log("complete " + checkpointId);
        }

        @Override
        public void cancel() {
            running = false;
        }

        @Override
        public void close() throws Exception {
            if (events != null) events.close();
        }

        private synchronized void log(String line) throws IOException {
            events.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            events.flush();
        }
    }
}
