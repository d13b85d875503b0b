package k2.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.Closeable;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.AppendFiles;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.PartitionKey;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.PartitionSpecParser;
import org.apache.iceberg.Schema;
import org.apache.iceberg.SchemaParser;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.SortOrder;
import org.apache.iceberg.SortOrderComparators;
import org.apache.iceberg.SortOrderParser;
import org.apache.iceberg.StructLike;
import org.apache.iceberg.Table;
import org.apache.iceberg.TableScan;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.catalog.Namespace;
import org.apache.iceberg.catalog.SupportsNamespaces;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.data.InternalRecordWrapper;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.data.parquet.GenericParquetWriter;
import org.apache.iceberg.exceptions.CommitFailedException;
import org.apache.iceberg.expressions.Expression;
import org.apache.iceberg.expressions.Expressions;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.DataWriter;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.parquet.Parquet;
import org.apache.iceberg.rest.RESTCatalog;

/**
 * Command-line bridge to the reference Iceberg implementation, called by K2's TypeScript interop
 * tests. It opens the table through a JdbcCatalog (a {@code jdbc:} --uri) or a RESTCatalog (an
 * {@code http(s):} --uri), as any Iceberg client would. Output: one JSON object per line on
 * stdout; errors on stderr with a non-zero exit (3 for a lost commit race, 2 for usage, 1
 * otherwise). {@code serve} runs many commands in one JVM.
 */
public final class Interop {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final PrintStream OUT =
      new PrintStream(System.out, false, StandardCharsets.UTF_8);

  private final Map<String, String> opts;
  private final List<String> props; // repeatable --property k=v

  private Interop(Map<String, String> opts, List<String> props) {
    this.opts = opts;
    this.props = props;
  }

  public static void main(String[] args) {
    int code;
    try {
      if (args.length == 0) {
        usage("missing command");
      }
      List<String> props = new ArrayList<>();
      Map<String, String> opts = parseOptions(args, props);
      if (args[0].equals("serve")) {
        serve(opts);
        code = 0;
      } else {
        code = runReporting(args[0], opts, props, null);
      }
    } catch (UsageError e) {
      System.err.println(e.getMessage());
      code = 2;
    } catch (Exception e) {
      e.printStackTrace();
      code = 1;
    }
    OUT.flush();
    // Exit explicitly: no stray non-daemon threads may keep the JVM alive.
    System.exit(code);
  }

  /** --key value pairs after the command; repeatable --property k=v entries go to {@code props}. */
  private static Map<String, String> parseOptions(String[] args, List<String> props) {
    Map<String, String> opts = new LinkedHashMap<>();
    for (int i = 1; i < args.length; i += 2) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        usage("bad argument: " + args[i]);
      }
      String key = args[i].substring(2);
      if (key.equals("property")) {
        props.add(args[i + 1]);
      } else {
        opts.put(key, args[i + 1]);
      }
    }
    return opts;
  }

  /**
   * Runs one command; returns its exit code (0 ok, 1 error, 2 usage, 3 lost commit race). The
   * error goes to stderr, or into {@code answer} as "error" when serving.
   */
  private static int runReporting(
      String command, Map<String, String> opts, List<String> props, ObjectNode answer) {
    int code = 0;
    String error = null;
    try {
      new Interop(opts, props).run(command);
    } catch (CommitFailedException e) {
      error = "commit failed: " + e.getMessage();
      code = 3;
    } catch (UsageError e) {
      error = e.getMessage();
      code = 2;
    } catch (Exception e) {
      StringWriter trace = new StringWriter();
      e.printStackTrace(new PrintWriter(trace));
      error = trace.toString();
      code = 1;
    }
    if (answer == null) {
      if (error != null) {
        System.err.println(error);
      }
    } else {
      answer.put("exit", code);
      if (error != null) {
        answer.put("error", error);
      }
    }
    return code;
  }

  /**
   * serve [--key value ...]: one JVM for many commands (a JVM start costs seconds). Reads requests
   * from stdin, one JSON object a line: {"command": "read", "options": {"snapshot-id": "1"},
   * "properties": ["k=v"]}, options added to the serve command's own. Answers each with the
   * command's output lines, then {"$done": true, "exit": code[, "error": text]}. Ends at EOF.
   */
  private static void serve(Map<String, String> base) throws Exception {
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode request = JSON.readTree(line);
      Map<String, String> opts = new LinkedHashMap<>(base);
      request.path("options").fields().forEachRemaining(e -> opts.put(e.getKey(), e.getValue().asText()));
      List<String> props = new ArrayList<>();
      request.path("properties").forEach(p -> props.add(p.asText()));
      ObjectNode done = JSON.createObjectNode();
      done.put("$done", true);
      runReporting(request.path("command").asText(), opts, props, done);
      emit(done);
      OUT.flush();
    }
  }

  /** Bad command line: exit 2 (or, in serve mode, an error answer with exit 2). */
  private static final class UsageError extends RuntimeException {
    UsageError(String why) {
      super(
          why
              + "\nusage: Interop <create|append|read|plan|snapshots|schema|serve>"
              + " --uri <jdbc uri | REST http(s) uri> [--warehouse <dir> (jdbc)] --table <ns.table>"
              + " [--catalog k2] ...");
    }
  }

  private static void usage(String why) {
    throw new UsageError(why);
  }

  private String opt(String name) {
    String v = opts.get(name);
    if (v == null) {
      usage("missing --" + name);
    }
    return v;
  }

  private void run(String command) throws Exception {
    Catalog catalog = openCatalog();
    try {
      step(catalog, command);
    } finally {
      ((Closeable) catalog).close(); // JdbcCatalog and RESTCatalog both hold connections
    }
  }

  private void step(Catalog catalog, String command) throws Exception {
    TableIdentifier id = TableIdentifier.parse(opt("table"));
    switch (command) {
      case "create":
        create(catalog, id);
        break;
      case "append":
        append(catalog.loadTable(id));
        break;
      case "read":
        read(catalog.loadTable(id));
        break;
      case "plan":
        plan(catalog.loadTable(id));
        break;
      case "snapshots":
        snapshots(catalog.loadTable(id));
        break;
      case "schema":
        schema(catalog.loadTable(id));
        break;
      default:
        usage("unknown command: " + command);
    }
  }

  private Catalog openCatalog() {
    String uri = opt("uri");
    Map<String, String> p = new HashMap<>();
    p.put(CatalogProperties.URI, uri);
    // HadoopFileIO needs a conf even for local paths. The raw local FS skips Hadoop's .crc
    // side files, so the warehouse holds only what an Iceberg writer would put there.
    Configuration conf = new Configuration();
    conf.set("fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem");
    conf.setBoolean("fs.file.impl.disable.cache", true);
    String name = opts.getOrDefault("catalog", "k2");
    if (uri.startsWith("http://") || uri.startsWith("https://")) {
      // The server owns the metadata files and places new tables; data and manifest files go
      // through the client's own FileIO (the default, ResolvingFileIO: HadoopFileIO for file:).
      RESTCatalog catalog = new RESTCatalog();
      catalog.setConf(conf);
      catalog.initialize(name, p);
      return catalog;
    }
    p.put(CatalogProperties.WAREHOUSE_LOCATION, opt("warehouse"));
    // V1 = the layout with the iceberg_type column (views); K2's SQL catalog uses the same.
    p.put("jdbc.schema-version", "V1");
    JdbcCatalog catalog = new JdbcCatalog();
    catalog.setConf(conf);
    catalog.initialize(name, p);
    return catalog;
  }

  /** create --schema <schema.json> [--partition-day <column>] [--sort-by c1,c2] */
  private void create(Catalog catalog, TableIdentifier id) throws Exception {
    Schema schema = SchemaParser.fromJson(Files.readString(Paths.get(opt("schema"))));
    PartitionSpec.Builder spec = PartitionSpec.builderFor(schema);
    if (opts.containsKey("partition-day")) {
      spec.day(opts.get("partition-day"));
    }
    SupportsNamespaces namespaces = (SupportsNamespaces) catalog; // JdbcCatalog and RESTCatalog
    Namespace ns = id.namespace();
    if (!namespaces.namespaceExists(ns)) {
      namespaces.createNamespace(ns);
    }
    SortOrder.Builder sort = SortOrder.builderFor(schema);
    if (opts.containsKey("sort-by")) {
      for (String col : opts.get("sort-by").split(",")) {
        sort.asc(col.trim());
      }
    }
    Table table =
        catalog
            .buildTable(id, schema)
            .withPartitionSpec(spec.build())
            .withSortOrder(sort.build())
            .withProperty("format-version", "2")
            .create();
    emit(tableInfo(table));
  }

  /** append --rows <file.jsonl> [--property k=v ...]: one Parquet file per partition. */
  private void append(Table table) throws Exception {
    Schema schema = table.schema();
    PartitionSpec spec = table.spec();
    PartitionKey key = new PartitionKey(spec, schema);
    // Partition transforms expect Iceberg's internal representation (micros, not OffsetDateTime).
    InternalRecordWrapper wrapper = new InternalRecordWrapper(schema.asStruct());
    Map<PartitionKey, List<Record>> byPartition = new LinkedHashMap<>();
    long records = 0;
    try (BufferedReader in = Files.newBufferedReader(Paths.get(opt("rows")))) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) {
          continue;
        }
        Record row = Values.fromJson(schema.asStruct(), JSON.readTree(line));
        key.partition(wrapper.wrap(row));
        byPartition.computeIfAbsent(key.copy(), k -> new ArrayList<>()).add(row);
        records++;
      }
    }

    // Files carry the table's sort order id, so honour it (on the internal representation).
    Comparator<StructLike> cmp = SortOrderComparators.forSchema(schema, table.sortOrder());
    InternalRecordWrapper left = new InternalRecordWrapper(schema.asStruct());
    InternalRecordWrapper right = new InternalRecordWrapper(schema.asStruct());

    AppendFiles append = table.newAppend();
    for (Map.Entry<PartitionKey, List<Record>> e : byPartition.entrySet()) {
      if (table.sortOrder().isSorted()) {
        e.getValue().sort((a, b) -> cmp.compare(left.wrap(a), right.wrap(b)));
      }
      String file = "interop-" + UUID.randomUUID() + ".parquet";
      String path = table.locationProvider().newDataLocation(spec, e.getKey(), file);
      DataWriter<Record> writer =
          Parquet.writeData(table.io().newOutputFile(path))
              .forTable(table) // schema, spec, sort order, write properties
              .withPartition(e.getKey())
              .createWriterFunc(GenericParquetWriter::create)
              .build();
      try (writer) {
        e.getValue().forEach(writer::write);
      }
      DataFile dataFile = writer.toDataFile();
      append.appendFile(dataFile);
    }
    for (String kv : props) {
      int eq = kv.indexOf('=');
      append.set(kv.substring(0, eq), kv.substring(eq + 1));
    }
    append.commit();

    ObjectNode out = JSON.createObjectNode();
    out.put("snapshot_id", Long.toString(table.currentSnapshot().snapshotId()));
    out.put("files", byPartition.size());
    out.put("records", records);
    emit(out);
  }

  /** read [--snapshot-id N | --as-of-ms T]: every row, through the reference generic reader. */
  private void read(Table table) throws Exception {
    IcebergGenerics.ScanBuilder scan = IcebergGenerics.read(table);
    if (opts.containsKey("snapshot-id")) {
      scan = scan.useSnapshot(Long.parseLong(opts.get("snapshot-id")));
    }
    if (opts.containsKey("as-of-ms")) {
      scan = scan.asOfTime(Long.parseLong(opts.get("as-of-ms"))); // time travel by the snapshot log
    }
    // Rows carry the schema of the chosen snapshot (it may differ from the current one).
    try (CloseableIterable<Record> rows = scan.build()) {
      for (Record row : rows) {
        emit(Values.toJson(row.struct(), row));
      }
    }
  }

  /** plan [--column c --from micros --to micros] [--snapshot-id N]: files the scan would read. */
  private void plan(Table table) throws Exception {
    TableScan scan = table.newScan();
    if (opts.containsKey("snapshot-id")) {
      scan = scan.useSnapshot(Long.parseLong(opts.get("snapshot-id")));
    }
    if (opts.containsKey("column")) {
      String col = opts.get("column");
      // A long literal binds to a timestamp(tz) column as microseconds since the epoch.
      Expression filter =
          Expressions.and(
              Expressions.greaterThanOrEqual(col, Long.parseLong(opt("from"))),
              Expressions.lessThan(col, Long.parseLong(opt("to"))));
      scan = scan.filter(filter);
    }
    try (CloseableIterable<FileScanTask> tasks = scan.planFiles()) {
      for (FileScanTask task : tasks) {
        ObjectNode out = JSON.createObjectNode();
        out.put("path", task.file().location());
        out.put("records", task.file().recordCount());
        out.put("file_size_in_bytes", task.file().fileSizeInBytes());
        emit(out);
      }
    }
  }

  /** snapshots: one line per snapshot, oldest first. */
  private void snapshots(Table table) {
    Snapshot current = table.currentSnapshot();
    for (Snapshot s : table.snapshots()) {
      ObjectNode out = JSON.createObjectNode();
      out.put("snapshot_id", Long.toString(s.snapshotId()));
      out.put("parent_id", s.parentId() == null ? null : Long.toString(s.parentId()));
      out.put("sequence_number", s.sequenceNumber());
      out.put("timestamp_ms", s.timestampMillis());
      out.put("operation", s.operation());
      out.set("summary", JSON.valueToTree(s.summary()));
      out.put("manifest_list", s.manifestListLocation());
      out.put("current", current != null && current.snapshotId() == s.snapshotId());
      emit(out);
    }
  }

  private void schema(Table table) throws Exception {
    emit(tableInfo(table));
  }

  private static ObjectNode tableInfo(Table table) throws Exception {
    ObjectNode out = JSON.createObjectNode();
    out.put("location", table.location());
    out.set("schema", JSON.readTree(SchemaParser.toJson(table.schema())));
    out.set("spec", JSON.readTree(PartitionSpecParser.toJson(table.spec())));
    out.set("sort_order", JSON.readTree(SortOrderParser.toJson(table.sortOrder())));
    out.set("properties", JSON.valueToTree(table.properties()));
    return out;
  }

  private static void emit(JsonNode node) {
    try {
      OUT.println(JSON.writeValueAsString(node));
    } catch (Exception e) {
      throw new RuntimeException(e);
    }
  }
}
