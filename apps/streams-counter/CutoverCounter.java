/*
 * CutoverCounter: the reference Kafka Streams application cutover moves between clusters.
 *
 * cutover compiles this one file with the JDK against the kafka-streams jars of the clusters'
 * Kafka version (harness::streams) and runs it with one argument: a Java properties file.
 * cutover's Rust oracle recomputes this application's output from the inputs, so the contract
 * below is exact; change it only together with the oracle.
 *
 * Properties: every key is given to StreamsConfig (bootstrap.servers, security, application.id,
 * state.dir, ...) except the app's own, `cutover.app.*`:
 *   cutover.app.input.pattern  a Java regex of the input topics (builder.stream(Pattern))
 *   cutover.app.output.topic   where the per-key totals go
 *   cutover.app.stamp          a short word put at the end of every output value ("source")
 * processing.guarantee defaults to exactly_once_v2; statestore.cache.max.bytes is forced to 0 so
 * that every input yields exactly one output update (no record cache merging updates).
 *
 * Topology: stream(pattern, bytes/bytes) -> drop null keys -> a null value counts as an empty
 * one -> selectKey((k, v) -> k) (marks the stream for repartitioning) -> groupByKey("rekeyed":
 * topic <application.id>-rekeyed-repartition) -> aggregate into store "totals" (changelog
 * <application.id>-totals-changelog) -> toStream -> to(output topic).
 *
 * Output record: key = the input key's bytes; value = UTF-8 "{count} {sum} {id} {emit_ms} {stamp}"
 * where count = inputs of this key so far, sum = their total value bytes, id = lowercase hex of
 * the first 8 bytes of SHA-256 of this input's value bytes (empty value: SHA-256 of nothing),
 * emit_ms = System.currentTimeMillis() when the aggregator ran, stamp = cutover.app.stamp.
 *
 * Stdout lines for the harness, one event each, prefixed "cutover-app: " (times in epoch ms):
 *   state FROM TO at_ms=T                                  every KafkaStreams state change
 *   restore-start store=S topic=C partition=P start=A end=B at_ms=T
 *   restored store=S topic=C partition=P records=N ms=M at_ms=T     (onRestoreEnd)
 *   restore-suspended store=S topic=C partition=P records=N ms=M at_ms=T
 *   error at_ms=T message=...                              an uncaught exception (client shut down)
 *   closed at_ms=T clean=true|false                        after close() on SIGTERM or exit
 */
package dev.cutover.apps;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueStore;

public final class CutoverCounter {
    private static final String OWN = "cutover.app.";

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: CutoverCounter <properties file>");
            System.exit(2);
        }
        Properties all = new Properties();
        try (InputStream in = Files.newInputStream(Paths.get(args[0]))) {
            all.load(in);
        }
        Properties config = new Properties();
        for (String key : all.stringPropertyNames()) {
            if (!key.startsWith(OWN)) {
                config.put(key, all.getProperty(key));
            }
        }
        Pattern inputs = Pattern.compile(required(all, OWN + "input.pattern"));
        String output = required(all, OWN + "output.topic");
        String stamp = required(all, OWN + "stamp");
        config.putIfAbsent(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        config.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(inputs, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                .filter((key, value) -> key != null)
                // groupByKey().aggregate() skips null values; a tombstone counts as empty here.
                .mapValues(value -> value == null ? new byte[0] : value)
                .selectKey((key, value) -> key)
                .groupByKey(Grouped.with("rekeyed", Serdes.ByteArray(), Serdes.ByteArray()))
                .aggregate(
                        () -> Totals.EMPTY,
                        (key, value, totals) -> Totals.add(totals, value),
                        Materialized.<byte[], byte[], KeyValueStore<Bytes, byte[]>>as("totals")
                                .withKeySerde(Serdes.ByteArray())
                                .withValueSerde(Serdes.ByteArray()))
                .toStream()
                .mapValues(totals -> Totals.render(totals, stamp))
                .to(output, Produced.with(Serdes.ByteArray(), Serdes.String()));

        KafkaStreams streams = new KafkaStreams(builder.build(), config);
        streams.setStateListener((to, from) -> log("state " + from + " " + to + " at_ms=" + now()));
        streams.setGlobalStateRestoreListener(new RestoreLog());
        streams.setUncaughtExceptionHandler(e -> {
            log("error at_ms=" + now() + " message=" + String.valueOf(e).replaceAll("\\s+", " "));
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        // SIGTERM runs the hooks: close() commits, leaves the group and flushes the stores.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            boolean clean = streams.close(Duration.ofSeconds(30));
            log("closed at_ms=" + now() + " clean=" + clean);
        }, "cutover-close"));
        streams.start();
    }

    /** The aggregate: count, sum of value bytes, the last input's id, when it was computed. */
    static final class Totals {
        static final byte[] EMPTY = new byte[32];

        static byte[] add(byte[] previous, byte[] value) {
            ByteBuffer before = ByteBuffer.wrap(previous);
            ByteBuffer next = ByteBuffer.allocate(32);
            next.putLong(before.getLong(0) + 1);
            next.putLong(before.getLong(8) + value.length);
            next.put(sha256(value), 0, 8);
            next.putLong(now());
            return next.array();
        }

        static String render(byte[] totals, String stamp) {
            ByteBuffer b = ByteBuffer.wrap(totals);
            StringBuilder id = new StringBuilder(16);
            for (int i = 16; i < 24; i++) {
                id.append(String.format("%02x", totals[i] & 0xff));
            }
            return b.getLong(0) + " " + b.getLong(8) + " " + id + " " + b.getLong(24) + " " + stamp;
        }
    }

    /** Logs each changelog partition's restoration: when it started and how long it took. */
    static final class RestoreLog implements StateRestoreListener {
        private final Map<TopicPartition, Long> startedAt = new ConcurrentHashMap<>();

        @Override
        public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
            startedAt.put(tp, now());
            log("restore-start store=" + store + " topic=" + tp.topic() + " partition=" + tp.partition()
                    + " start=" + start + " end=" + end + " at_ms=" + now());
        }

        @Override
        public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long restored) {}

        @Override
        public void onRestoreEnd(TopicPartition tp, String store, long restored) {
            done("restored", tp, store, restored);
        }

        @Override
        public void onRestoreSuspended(TopicPartition tp, String store, long restored) {
            done("restore-suspended", tp, store, restored);
        }

        private void done(String what, TopicPartition tp, String store, long restored) {
            Long started = startedAt.remove(tp);
            long ms = started == null ? -1 : now() - started;
            log(what + " store=" + store + " topic=" + tp.topic() + " partition=" + tp.partition()
                    + " records=" + restored + " ms=" + ms + " at_ms=" + now());
        }
    }

    private static String required(Properties props, String key) {
        String value = props.getProperty(key);
        if (value == null || value.trim().isEmpty()) {
            System.err.println("cutover-app: missing property " + key);
            System.exit(2);
        }
        return value.trim();
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static long now() {
        return System.currentTimeMillis();
    }

    private static synchronized void log(String line) {
        System.out.println("cutover-app: " + line);
        System.out.flush();
    }
}
