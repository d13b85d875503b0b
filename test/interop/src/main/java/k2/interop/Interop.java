package k2.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.Closeable;
import java.io.InputStream;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.file.DataFileStream;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.AppendFiles;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.DataFiles;
import org.apache.iceberg.FileFormat;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.ManageSnapshots;
import org.apache.iceberg.ManifestFile;
import org.apache.iceberg.MetricsConfig;
import org.apache.iceberg.PartitionKey;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.PartitionSpecParser;
import org.apache.iceberg.Schema;
import org.apache.iceberg.SchemaParser;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.SnapshotRef;
import org.apache.iceberg.SortOrder;
import org.apache.iceberg.SortOrderComparators;
import org.apache.iceberg.SortOrderParser;
import org.apache.iceberg.StructLike;
import org.apache.iceberg.Table;
import org.apache.iceberg.TableProperties;
import org.apache.iceberg.TableScan;
import org.apache.iceberg.UpdatePartitionSpec;
import org.apache.iceberg.UpdateSchema;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.catalog.Namespace;
import org.apache.iceberg.catalog.SupportsNamespaces;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.data.InternalRecordWrapper;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.data.parquet.GenericParquetReaders;
import org.apache.iceberg.data.parquet.GenericParquetWriter;
import org.apache.iceberg.exceptions.CommitFailedException;
import org.apache.iceberg.expressions.Expression;
import org.apache.iceberg.expressions.Expressions;
import org.apache.iceberg.expressions.Term;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.DataWriter;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.mapping.MappingUtil;
import org.apache.iceberg.mapping.NameMapping;
import org.apache.iceberg.mapping.NameMappingParser;
import org.apache.iceberg.parquet.ParquetUtil;
import org.apache.iceberg.parquet.Parquet;
import org.apache.iceberg.rest.RESTCatalog;
import org.apache.iceberg.transforms.Transform;
import org.apache.iceberg.transforms.Transforms;
import org.apache.iceberg.types.Comparators;
import org.apache.iceberg.types.Conversions;
import org.apache.iceberg.types.Type;
import org.apache.iceberg.types.Types;

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
      Interop interop = new Interop(opts, props);
      if (answer == null) {
        interop.run(command);
      } else {
        interop.serveStep(command);
      }
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
    closeServed();
  }

  /** Bad command line: exit 2 (or, in serve mode, an error answer with exit 2). */
  private static final class UsageError extends RuntimeException {
    UsageError(String why) {
      super(
          why
              + "\nusage: Interop <create|append|read|plan|files|manifests|update-spec|update-schema|add-files|snapshots|schema|expire|tag|refs|serve>"
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

  /**
   * serve's catalog, kept open while requests name the same one (uri, warehouse, name): opening
   * one costs a connection and the catalog's set-up each time (for PostgreSQL and REST, about a
   * quarter of Java's time in the partition-spec tests on a loaded machine). Every command still loads its table afresh through it. Closed,
   * and the next request opens another, when a command fails or a request names another catalog.
   * Not SQLite's: a kept connection fails the next commit after K2 (another process) wrote the
   * file (SQLITE_BUSY_SNAPSHOT), and opening one is cheap.
   */
  private static Catalog servedCatalog;
  private static String servedKey;

  private void serveStep(String command) throws Exception {
    if (opt("uri").startsWith("jdbc:sqlite:")) {
      closeServed();
      run(command);
      return;
    }
    String key = opt("uri") + "\n" + opts.getOrDefault("warehouse", "") + "\n" + opts.getOrDefault("catalog", "k2");
    if (servedCatalog != null && !key.equals(servedKey)) {
      closeServed();
    }
    if (servedCatalog == null) {
      servedCatalog = openCatalog();
      servedKey = key;
    }
    try {
      step(servedCatalog, command);
    } catch (Exception e) {
      closeServed();
      throw e;
    }
  }

  private static void closeServed() throws Exception {
    Catalog catalog = servedCatalog;
    servedCatalog = null;
    servedKey = null;
    if (catalog != null) {
      ((Closeable) catalog).close();
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
      case "files":
        files(catalog.loadTable(id));
        break;
      case "manifests":
        manifests(catalog.loadTable(id));
        break;
      case "update-spec":
        updateSpec(catalog.loadTable(id));
        break;
      case "update-schema":
        updateSchema(catalog.loadTable(id));
        break;
      case "add-files":
        addFiles(catalog.loadTable(id));
        break;
      case "snapshots":
        snapshots(catalog.loadTable(id));
        break;
      case "schema":
        schema(catalog.loadTable(id));
        break;
      case "expire":
        expire(catalog.loadTable(id));
        break;
      case "tag":
        tag(catalog.loadTable(id));
        break;
      case "refs":
        refs(catalog.loadTable(id));
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

    // Files carry the table's sort order id, so honour it (on the internal representation);
    // Iceberg has no comparator for the unsorted order.
    Comparator<StructLike> cmp =
        table.sortOrder().isSorted() ? SortOrderComparators.forSchema(schema, table.sortOrder()) : null;
    InternalRecordWrapper left = new InternalRecordWrapper(schema.asStruct());
    InternalRecordWrapper right = new InternalRecordWrapper(schema.asStruct());

    AppendFiles append = table.newAppend();
    for (Map.Entry<PartitionKey, List<Record>> e : byPartition.entrySet()) {
      if (cmp != null) {
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

  /**
   * read [--snapshot-id N | --as-of-ms T] [--filter F]: every row (matching F, see Filters), through
   * the reference generic reader.
   */
  private void read(Table table) throws Exception {
    IcebergGenerics.ScanBuilder scan = IcebergGenerics.read(table);
    if (opts.containsKey("filter")) {
      scan = scan.where(Filters.parse(opts.get("filter"))); // prunes files, then filters rows
    }
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

  /**
   * plan [--column c --from micros --to micros] [--filter F] [--snapshot-id N]: files the scan would
   * read.
   */
  private void plan(Table table) throws Exception {
    TableScan scan = table.newScan();
    if (opts.containsKey("filter")) {
      scan = scan.filter(Filters.parse(opts.get("filter")));
    }
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

  /**
   * files --id-column c: every live data file, each row of it read and partitioned by Iceberg's own
   * transforms of the file's spec. Per file: its partition, the path Iceberg would give it, the
   * rows whose partition differs from the file's (misplaced_rows, first_misplaced) and the ids
   * (column c) of the rows it holds.
   */
  private void files(Table table) throws Exception {
    Schema schema = table.schema();
    String idColumn = opt("id-column");
    InternalRecordWrapper wrapper = new InternalRecordWrapper(schema.asStruct());
    try (CloseableIterable<FileScanTask> tasks = table.newScan().planFiles()) {
      for (FileScanTask task : tasks) {
        DataFile file = task.file();
        PartitionSpec spec = table.specs().get(file.specId());
        PartitionKey key = new PartitionKey(spec, schema);
        Comparator<StructLike> samePartition = Comparators.forType(spec.partitionType());
        ArrayNode ids = JSON.createArrayNode();
        long misplaced = 0;
        ObjectNode firstMisplaced = null;
        try (CloseableIterable<Record> rows =
            Parquet.read(table.io().newInputFile(file.location()))
                .project(schema)
                .createReaderFunc(fileSchema -> GenericParquetReaders.buildReader(schema, fileSchema))
                .build()) {
          for (Record row : rows) {
            ids.add(String.valueOf(row.getField(idColumn)));
            key.partition(wrapper.wrap(row));
            if (samePartition.compare(key, file.partition()) != 0) {
              misplaced++;
              if (firstMisplaced == null) {
                firstMisplaced = Values.toJson(schema.asStruct(), row);
                firstMisplaced.set("$partition", partitionJson(spec, key));
              }
            }
          }
        }
        String name = file.location().substring(file.location().lastIndexOf('/') + 1);
        ObjectNode out = JSON.createObjectNode();
        out.put("path", file.location());
        out.put("spec_id", file.specId());
        out.put("records", file.recordCount());
        out.set("partition", partitionJson(spec, file.partition()));
        out.put("partition_path", spec.partitionToPath(file.partition()));
        out.put("expected_location", table.locationProvider().newDataLocation(spec, file.partition(), name));
        out.put("misplaced_rows", misplaced);
        out.set("first_misplaced", firstMisplaced);
        out.set("ids", ids);
        emit(out);
      }
    }
  }

  /**
   * manifests: per manifest of the current snapshot, each partition field's summary as the manifest
   * list holds it and as Java's ManifestWriter computes it: over every entry, deleted ones too.
   * The entries are read as plain Avro, since Iceberg's reader hides deleted entries.
   */
  private void manifests(Table table) throws Exception {
    for (ManifestFile manifest : table.currentSnapshot().allManifests(table.io())) {
      PartitionSpec spec = table.specs().get(manifest.partitionSpecId());
      List<Types.NestedField> fields = spec.partitionType().fields();
      Object[] lower = new Object[fields.size()];
      Object[] upper = new Object[fields.size()];
      boolean[] containsNull = new boolean[fields.size()];
      long deleted = 0;
      try (InputStream in = table.io().newInputFile(manifest.path()).newStream();
          DataFileStream<GenericRecord> entries = new DataFileStream<>(in, new GenericDatumReader<>())) {
        for (GenericRecord entry : entries) {
          deleted += (Integer) entry.get("status") == 2 ? 1 : 0;
          GenericRecord partition = (GenericRecord) ((GenericRecord) entry.get("data_file")).get("partition");
          for (int i = 0; i < fields.size(); i++) {
            Object v = partition.get(i);
            Comparator<Object> order = Comparators.forType(fields.get(i).type().asPrimitiveType());
            if (v == null) {
              containsNull[i] = true;
            } else {
              lower[i] = lower[i] == null || order.compare(v, lower[i]) < 0 ? v : lower[i];
              upper[i] = upper[i] == null || order.compare(v, upper[i]) > 0 ? v : upper[i];
            }
          }
        }
      }
      ArrayNode summaries = JSON.createArrayNode();
      for (int i = 0; i < fields.size(); i++) {
        Type type = fields.get(i).type();
        ManifestFile.PartitionFieldSummary written = manifest.partitions().get(i);
        ObjectNode field = summaries.addObject();
        field.put("name", fields.get(i).name());
        field.put("contains_null", written.containsNull());
        field.set("lower", valueJson(Conversions.fromByteBuffer(type, written.lowerBound())));
        field.set("upper", valueJson(Conversions.fromByteBuffer(type, written.upperBound())));
        field.put("expected_contains_null", containsNull[i]);
        field.set("expected_lower", valueJson(lower[i]));
        field.set("expected_upper", valueJson(upper[i]));
      }
      ObjectNode out = JSON.createObjectNode();
      out.put("path", manifest.path());
      out.put("spec_id", manifest.partitionSpecId());
      out.put("deleted_entries", deleted);
      out.set("partitions", summaries);
      emit(out);
    }
  }

  /** A partition tuple by field name (see valueJson). */
  private static ObjectNode partitionJson(PartitionSpec spec, StructLike partition) {
    ObjectNode out = JSON.createObjectNode();
    for (int i = 0; i < spec.fields().size(); i++) {
      out.set(spec.fields().get(i).name(), valueJson(partition.get(i, Object.class)));
    }
    return out;
  }

  /** A partition value: ints as numbers, null as null, anything else as text. */
  private static JsonNode valueJson(Object value) {
    if (value == null) {
      return JSON.nullNode();
    }
    return value instanceof Integer
        ? JSON.getNodeFactory().numberNode((Integer) value)
        : JSON.getNodeFactory().textNode(value.toString());
  }

  /**
   * update-spec [--remove name,...] [--add transform(column),...]: evolves the table's default
   * partition spec as any engine would (transform: identity, year, month, day, hour, void, ...).
   */
  private void updateSpec(Table table) throws Exception {
    UpdatePartitionSpec update = table.updateSpec();
    for (String name : listOpt("remove")) {
      update.removeField(name);
    }
    for (String field : listOpt("add")) {
      update.addField(term(table.schema(), field));
    }
    update.commit();
    emit(tableInfo(table));
  }

  /**
   * update-schema [--add name:type;...] [--rename old:new;...] [--drop name;...] [--widen name:type;...]
   * [--make-optional name;...] [--move-first name;...] (items split at ';', as decimal(p,s) holds a comma): evolves the table's schema in one commit as
   * any engine would (added columns optional; type: int, long, float, double, string, decimal(p,s), ...).
   */
  private void updateSchema(Table table) throws Exception {
    UpdateSchema update = table.updateSchema();
    for (String pair : itemsOpt("add")) {
      String[] p = pair.split(":", 2);
      update.addColumn(p[0], Types.fromPrimitiveString(p[1]));
    }
    for (String pair : itemsOpt("rename")) {
      String[] p = pair.split(":", 2);
      update.renameColumn(p[0], p[1]);
    }
    for (String name : itemsOpt("drop")) {
      update.deleteColumn(name);
    }
    for (String pair : itemsOpt("widen")) {
      String[] p = pair.split(":", 2);
      update.updateColumn(p[0], Types.fromPrimitiveString(p[1]).asPrimitiveType());
    }
    for (String name : itemsOpt("make-optional")) {
      update.makeColumnOptional(name);
    }
    for (String name : itemsOpt("move-first")) {
      update.moveFirst(name);
    }
    update.commit();
    emit(tableInfo(table));
  }

  /**
   * Spark's add_files, as its procedure does it: the table's name mapping (set from the current
   * schema when the table has none), then each Parquet file (`files`, written without field ids)
   * appended with metrics read through the mapping, in the partition `partition` names (a path).
   */
  private void addFiles(Table table) throws Exception {
    String json = table.properties().get(TableProperties.DEFAULT_NAME_MAPPING);
    if (json == null) {
      json = NameMappingParser.toJson(MappingUtil.create(table.schema()));
      table.updateProperties().set(TableProperties.DEFAULT_NAME_MAPPING, json).commit();
    }
    NameMapping mapping = NameMappingParser.fromJson(json);
    AppendFiles append = table.newAppend();
    int count = 0;
    for (String path : listOpt("files")) {
      org.apache.iceberg.io.InputFile in = table.io().newInputFile(path);
      append.appendFile(DataFiles.builder(table.spec())
          .withPath(path)
          .withFormat(FileFormat.PARQUET)
          .withFileSizeInBytes(in.getLength())
          .withMetrics(ParquetUtil.fileMetrics(in, MetricsConfig.forTable(table), mapping))
          .withPartitionPath(opt("partition"))
          .build());
      count++;
    }
    append.commit();
    ObjectNode out = JSON.createObjectNode();
    out.put("files", count);
    emit(out);
  }

  private List<String> itemsOpt(String name) {
    List<String> out = new ArrayList<>();
    for (String item : opts.getOrDefault(name, "").split(";")) {
      if (!item.isBlank()) {
        out.add(item.trim());
      }
    }
    return out;
  }

  private List<String> listOpt(String name) {
    List<String> out = new ArrayList<>();
    for (String item : opts.getOrDefault(name, "").split(",")) {
      if (!item.isBlank()) {
        out.add(item.trim());
      }
    }
    return out;
  }

  private static final Pattern PARTITION_FIELD = Pattern.compile("(\\w+(?:\\[\\d+\\])?)\\((\\w+)\\)");

  /** {@code transform(column)} as a partition term. */
  @SuppressWarnings("unchecked")
  private static Term term(Schema schema, String text) {
    Matcher m = PARTITION_FIELD.matcher(text);
    if (!m.matches()) {
      usage("not a partition field `transform(column)`: " + text);
    }
    String column = m.group(2);
    if (m.group(1).equals("identity")) {
      return Expressions.ref(column);
    }
    Transform<?, Object> transform =
        (Transform<?, Object>) Transforms.fromString(schema.findType(column), m.group(1));
    return Expressions.transform(column, transform);
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

  /**
   * expire [--clean-metadata true]: every snapshot but the current one, as expire_snapshots(retain_last => 1)
   * does; with clean-metadata, also the schemas and partition specs no snapshot left names (clean_expired_metadata).
   */
  private void expire(Table table) {
    int before = count(table.snapshots());
    table.expireSnapshots().expireOlderThan(Long.MAX_VALUE).retainLast(1)
        .cleanExpiredMetadata(Boolean.parseBoolean(opts.getOrDefault("clean-metadata", "false")))
        .commit();
    table.refresh();
    ObjectNode out = JSON.createObjectNode();
    out.put("expired", before - count(table.snapshots()));
    emit(out);
  }

  /** tag --name <ref> --snapshot-id <id> [--branch true] [--max-ref-age-ms <ms>]: a tag (or branch) as another engine's user sets one. */
  private void tag(Table table) {
    String name = opt("name");
    long snapshotId = Long.parseLong(opt("snapshot-id"));
    ManageSnapshots manage = Boolean.parseBoolean(opts.getOrDefault("branch", "false"))
        ? table.manageSnapshots().createBranch(name, snapshotId)
        : table.manageSnapshots().createTag(name, snapshotId);
    if (opts.containsKey("max-ref-age-ms")) {
      manage = manage.setMaxRefAgeMs(name, Long.parseLong(opts.get("max-ref-age-ms")));
    }
    manage.commit();
    emit(JSON.createObjectNode().put("ref", name));
  }

  /** refs: one line per ref, by name. */
  private void refs(Table table) {
    for (Map.Entry<String, SnapshotRef> e : new java.util.TreeMap<>(table.refs()).entrySet()) {
      ObjectNode out = JSON.createObjectNode();
      out.put("name", e.getKey());
      out.put("type", e.getValue().isBranch() ? "branch" : "tag");
      out.put("snapshot_id", Long.toString(e.getValue().snapshotId()));
      emit(out);
    }
  }

  private static int count(Iterable<?> items) {
    int n = 0;
    for (Object ignored : items) {
      n++;
    }
    return n;
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
