/**
 * The SQL catalog: the `iceberg_tables` / `iceberg_namespace_properties` layout of
 * Iceberg's JdbcCatalog (schema V1) and PyIceberg's SqlCatalog, so those engines open
 * our tables through the same database. A commit writes a new metadata file and then
 * compare-and-swaps `metadata_location`; losing the swap is a CommitConflict.
 */
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Clock, Deferred, Duration, Effect, FiberSet, Layer, Option, Result, Schedule } from "effect"
import { CorruptFile, TableFileError } from "../../domain/iceberg/errors.ts"
import { quoted } from "../../domain/errors.ts"
import {
  applyUpdates,
  defaultTableLocation,
  metadataCache,
  metadataDirectory,
  newTableMetadata,
  nextMetadataFileName,
  type TableRequirement,
  type TableUpdate,
  unmetRequirement,
  UpdateRefused
} from "../../domain/iceberg/metadata.ts"
import { decodeTableMetadata, encodeTableMetadata } from "../../domain/iceberg/metadataFile.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import {
  AlreadyExists,
  Catalog,
  type CatalogError,
  CatalogRejected,
  CatalogUnavailable,
  catalogError,
  CommitConflict,
  CommitStateUnknown,
  type CreateTableRequest,
  LocationInUse,
  type LoadedTable,
  NamespaceNotEmpty,
  NoSuchNamespace,
  NoSuchTable,
  showIdentifier,
  type TableIdentifier
} from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { fileLocation, foreignStorage, isLocalLocation, localPath } from "../iceberg/fileio.ts"
import { otherTablesMetadata } from "../iceberg/otherTables.ts"
import { changedNothing, classifySqlError, postgresDriver, type SqlDriver, sqlFailureText, sqliteDriver } from "./drivers.ts"
import { failureText } from "./failureText.ts"

const DDL = [
  ["iceberg_tables", `CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name))`],
  ["iceberg_namespace_properties", `CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255),
    property_value VARCHAR(1000),
    PRIMARY KEY (catalog_name, namespace, property_key))`]
] as const

/** Rows JdbcCatalog V1 treats as tables (V0 rows have no type). */
const IS_TABLE_V1 = "(iceberg_type = 'TABLE' OR iceberg_type IS NULL)"

export interface SqlCatalogOptions {
  /** `catalog_name` in the tables: several catalogs can share one database. */
  readonly name: string
  /** Location URI under which new tables are created. */
  readonly warehouse: string
}

/**
 * The characters a namespace or table name may have: the columns' VARCHAR(255) above. PostgreSQL
 * refuses a longer one only once the metadata file is written, SQLite keeps any length (and the file
 * system then refuses the directory): refused alike on both, before anything is written.
 */
const MAX_NAME_CHARS = 255

/** CatalogRejected when `name` is longer than the catalog holds, naming the limit and the name (cut short). */
const nameTooLong = (what: string, name: string): CatalogError | undefined => {
  const chars = [...name].length
  if (chars <= MAX_NAME_CHARS) return undefined
  return catalogError(new CatalogRejected({ detail: `${what} is ${chars} characters, more than the ${MAX_NAME_CHARS} the catalog holds: ${quoted(name)}` }))
}

/**
 * The most removals of retired metadata files (ADR-84) running at once, one a commit's. A commit
 * finding this many still running (a file system slower than the commits, a removal that never
 * returns) removes none: its files stay off the metadata log, where orphan removal takes them.
 */
export const MAX_RUNNING_REMOVALS = 4

/** How long the catalog's closing waits for removals still running before it interrupts them, saying what it left. */
export const REMOVALS_CLOSE_WAIT = Duration.seconds(5)

export const make = Effect.fnUntraced(function*(driver: SqlDriver, options: SqlCatalogOptions) {
  const files = yield* FileIO
  // Decoded metadata by file location: metadata files never change once written.
  const cache = metadataCache()
  const warehouse = options.warehouse.replace(/\/+$/, "")
  // The removals of metadata files that left a table's metadata log, run beside the commits'
  // answers (ADR-84), at most MAX_RUNNING_REMOVALS at once; the catalog's closing waits for those
  // still running (a drain's last commit too), up to REMOVALS_CLOSE_WAIT.
  const removals = yield* FiberSet.make<void>()
  // The files whose removal runs, and those of commits that found MAX_RUNNING_REMOVALS running.
  const removing = new Set<string>()
  let skipped = 0
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      const done = yield* Effect.timeoutOption(FiberSet.awaitEmpty(removals), REMOVALS_CLOSE_WAIT)
      // The FiberSet's own closing, next, interrupts those still running.
      const unfinished = Option.isNone(done) ? removing.size : 0
      if (unfinished + skipped === 0) return
      const why = [
        unfinished > 0 ? `${unfinished} still being removed after ${Duration.format(REMOVALS_CLOSE_WAIT)} (first ${[...removing][0]})` : "",
        skipped > 0 ? `${skipped} of commits that found ${MAX_RUNNING_REMOVALS} removals running` : ""
      ].filter((w) => w !== "")
      yield* Effect.logWarning(
        `catalog closed leaving ${unfinished + skipped} retired metadata files for orphan removal (maintenance): ${why.join("; ")}`
      )
    })
  )
  /** Removes `dropped` beside the commit's answer, or leaves them (see MAX_RUNNING_REMOVALS). */
  const removeRetired = Effect.fnUntraced(function*(dropped: ReadonlyArray<string>) {
    if ((yield* FiberSet.size(removals)) >= MAX_RUNNING_REMOVALS) {
      if (skipped === 0) {
        yield* Effect.logWarning(
          `metadata file removals run behind the commits (${MAX_RUNNING_REMOVALS} running): files retired meanwhile are left for orphan removal (maintenance)`
        )
      }
      skipped += dropped.length
      return
    }
    for (const f of dropped) removing.add(f)
    yield* FiberSet.run(
      removals,
      Effect.forEach(dropped, (f) => files.remove(f).pipe(Effect.ignore, Effect.ensuring(Effect.sync(() => removing.delete(f)))), { discard: true })
    )
  })

  /** A driver failure: the statement refused for good, or the database failing (waited out). */
  const sqlFailure = (cause: unknown) =>
    catalogError(
      classifySqlError(cause) === "refused"
        ? new CatalogRejected({ detail: sqlFailureText(cause) })
        : new CatalogUnavailable({ detail: failureText(cause) })
    )
  /** A driver call; one answered at once (SQLite) resumes without waiting for the event loop. */
  const db = <A>(f: () => A | Promise<A>) =>
    Effect.try({ try: f, catch: sqlFailure }).pipe(
      Effect.flatMap((result) => result instanceof Promise ? Effect.tryPromise({ try: () => result, catch: sqlFailure }) : Effect.succeed(result))
    )

  for (const [table, statement] of DDL) {
    // Two processes creating the tables at once race on PostgreSQL's catalog: the loser's error is
    // harmless. PostgreSQL refuses the statement to a role without CREATE on the schema even when
    // the table exists (the privilege is checked first): a table the role can read is all it needs.
    yield* Effect.tryPromise(() => driver.execute(statement)).pipe(
      Effect.catch((e) =>
        classifySqlError(e.cause) === "unique-violation"
          ? Effect.void
          : (e.cause as { code?: string } | undefined)?.code === "42501" // insufficient_privilege
          ? Effect.tryPromise(async () => await driver.query(`SELECT 1 AS x FROM ${table} WHERE 1 = 0`)).pipe(
            Effect.mapError(() => sqlFailure(e.cause ?? e))
          )
          : Effect.fail(sqlFailure(e.cause ?? e)))
    )
  }

  // JdbcCatalog creates iceberg_tables without iceberg_type unless jdbc.schema-version=V1, and
  // PyIceberg's SqlCatalog never adds it: on such a database every row is a table (V0), and the
  // column is not ours to add.
  const v1 = yield* Effect.tryPromise(async () => {
    await driver.query(`SELECT iceberg_type FROM iceberg_tables WHERE 1 = 0`)
    return true
  }).pipe(
    Effect.catch((e) => {
      const cause = e.cause as { code?: string; message?: string } | undefined
      // SQLite: "no such column"; PostgreSQL: SQLSTATE 42703 (undefined column). Anything else is the database failing.
      return cause?.code === "42703" || /no such column/i.test(cause?.message ?? "")
        ? Effect.succeed(false)
        : Effect.fail(catalogError(new CatalogUnavailable({ detail: failureText(cause ?? e) })))
    })
  )
  const IS_TABLE = v1 ? IS_TABLE_V1 : "1 = 1"

  /** An INSERT of something named `name` that failed: it exists already (a row with its key), or the database failed. */
  const insertError = (name: string) => (e: { readonly cause?: unknown }): CatalogError =>
    classifySqlError(e.cause) === "unique-violation" ? catalogError(new AlreadyExists({ name })) : sqlFailure(e.cause ?? e)

  /**
   * Reads of a file being parsed already wait for that parse: after each commit every request at
   * the latest state meets the new file, and 16 at once parsed a day of one-second commits' 88 MB
   * 16 times (3 GB of heap, a minute, most timing out). Uninterruptible (a file read and a parse):
   * a client leaving fails none of the others waiting.
   */
  const parsing = new Map<string, Deferred.Deferred<TableMetadata, CatalogError>>()
  const readMetadata = (table: string, location: string): Effect.Effect<TableMetadata, CatalogError> =>
    Effect.suspend(() => {
      const cached = cache.get(location)
      if (cached !== undefined) return Effect.succeed(cached)
      const pending = parsing.get(location)
      if (pending !== undefined) return Deferred.await(pending)
      const parsed = Deferred.makeUnsafe<TableMetadata, CatalogError>()
      parsing.set(location, parsed)
      return parseMetadata(table, location).pipe(
        Effect.onExit((exit) => {
          parsing.delete(location)
          return Deferred.done(parsed, exit)
        }),
        Effect.uninterruptible
      )
    })

  const parseMetadata = Effect.fnUntraced(function*(table: string, location: string) {
    const bytes = yield* files.read(location)
    // Engines with write.metadata.compression-codec=gzip write `*.gz.metadata.json`; Iceberg Java
    // reads either. Told apart by the gzip magic bytes, which JSON text never starts with.
    const json = bytes[0] === 0x1f && bytes[1] === 0x8b
      ? yield* Effect.try({
        try: () => zlib.gunzipSync(bytes),
        catch: (e) => new TableFileError({ reason: new CorruptFile({ path: location, detail: `not gzip: ${(e as Error).message}` }) })
      })
      : bytes
    const decoded = decodeTableMetadata(json, location, table)
    if (Result.isFailure(decoded)) return yield* new TableFileError({ reason: decoded.failure })
    cache.set(table, location, decoded.success)
    return decoded.success
  }, Effect.mapError(catalogError))

  const writeMetadata = Effect.fnUntraced(function*(table: string, metadata: TableMetadata, baseLocation: string | null) {
    const directory = metadataDirectory(metadata)
    // A local path would take `s3://...` for a directory named `s3:`, and register a location no
    // engine can read. Refused as the sink and planner refuse such tables.
    if (!isLocalLocation(directory)) {
      return yield* catalogError(new CatalogRejected({ detail: `${table} uses ${foreignStorage(directory)}` }))
    }
    const location = `${directory}/${nextMetadataFileName(baseLocation, crypto.randomUUID())}`
    yield* files.write(location, encodeTableMetadata(metadata)).pipe(
      Effect.mapError(catalogError)
    )
    cache.set(table, location, metadata)
    return location
  })

  const pointer = (id: TableIdentifier) =>
    db(() =>
      driver.query(
        `SELECT metadata_location FROM iceberg_tables
         WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 AND ${IS_TABLE}`,
        [options.name, id.namespace, id.name]
      )
    ).pipe(Effect.map((rows) => rows[0]?.metadata_location as string | undefined))

  const namespaceExists = (namespace: string) =>
    db(async () => {
      const rows = await driver.query(
        `SELECT 1 AS x FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2
         UNION ALL SELECT 1 AS x FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2`,
        [options.name, namespace]
      )
      return rows.length > 0
    })

  const requireNamespace = (namespace: string) =>
    namespaceExists(namespace).pipe(
      Effect.flatMap((exists) => exists ? Effect.void : Effect.fail(catalogError(new NoSuchNamespace({ namespace }))))
    )

  const loadTable = Effect.fn("Catalog.loadTable")(function*(identifier: TableIdentifier) {
    let location = yield* pointer(identifier)
    // Commits that land between reading the pointer and reading its file can delete the file (it
    // left the metadata log, write.metadata.delete-after-commit): then the pointer has moved, and
    // the file it names now is read. A file missing under a pointer that stayed is a damaged table.
    for (let attempt = 1; ; attempt++) {
      if (location === undefined) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
      const read = yield* Effect.result(readMetadata(showIdentifier(identifier), location))
      if (Result.isSuccess(read)) return { identifier, metadataLocation: location, metadata: read.success } satisfies LoadedTable
      const missing = read.failure.reason._tag === "TableFileError" && read.failure.reason.reason._tag === "MissingFile"
      const moved = missing && attempt < 5 ? yield* pointer(identifier) : location
      if (moved === location) return yield* read.failure
      location = moved
    }
  })

  /**
   * By table, the metadata files of this catalog's creates whose INSERT's connection broke: the row
   * may have landed (pointing at the file) or not. Not another table's when the table is created
   * again (the next try would be refused as LocationInUse, ending ingest); removed once the table's
   * row is known to point elsewhere: an INSERT still pending then fails on the key.
   */
  const uncertainCreates = new Map<string, Array<{ readonly location: string; readonly uuid: string }>>()

  /**
   * Removes `table`'s uncertain creates' files but those of the table registered now (`tableUuid`):
   * a create of it landed, and its file is the table's history (metadata log) however far its row
   * has moved since.
   */
  const settleCreates = (table: string, tableUuid: string) =>
    Effect.suspend(() => {
      const uncertain = uncertainCreates.get(table) ?? []
      uncertainCreates.delete(table)
      return Effect.forEach(uncertain.filter((c) => c.uuid !== tableUuid), (c) => files.remove(c.location).pipe(Effect.ignore), { discard: true })
    })

  /**
   * Fails (LocationInUse) when a new table's metadata directories already hold another table's
   * metadata files (ADR-47): files directly in them, as a table nested below keeps its own one level
   * down. Another process of this catalog creating the same table writes its metadata file before
   * it registers it: given a moment, its row shows, and the name is taken (AlreadyExists) instead.
   * The files of this catalog's own uncertain creates of the table are not another table's.
   */
  const refuseLocationInUse = Effect.fnUntraced(function*(identifier: TableIdentifier, metadata: TableMetadata) {
    // Storage K2 does not reach is refused when the metadata file is written.
    const directories = [`${metadata.location.replace(/\/+$/, "")}/metadata`, metadataDirectory(metadata)].filter(isLocalLocation)
    const listed = yield* Effect.forEach(new Set(directories.map((dir) => path.resolve(localPath(dir)))), (dir) =>
      files.list(fileLocation(dir)).pipe(
        Effect.map((entries) => entries.map((e) => e.location).filter((l) => path.dirname(localPath(l)) === dir))
      )).pipe(Effect.mapError(catalogError))
    // Those files themselves, not their table-uuid: one that landed, was committed to and dropped
    // left more files of that uuid, a dropped table's place as any other.
    const mine = new Set((uncertainCreates.get(showIdentifier(identifier)) ?? []).map((c) => c.location))
    const foreign = (yield* otherTablesMetadata(files, listed.flat(), metadata["table-uuid"]).pipe(Effect.mapError(catalogError)))
      .filter((f) => !mine.has(f.metadataFile))
    if (foreign.length === 0) return
    const registered = yield* pointer(identifier).pipe(
      Effect.repeat({ schedule: Schedule.spaced("100 millis"), times: 10, until: (l) => l !== undefined })
    )
    const table = showIdentifier(identifier)
    if (registered !== undefined) return yield* catalogError(new AlreadyExists({ name: table }))
    return yield* catalogError(new LocationInUse({ table, location: metadata.location, foreign }))
  })

  return Catalog.of({
    name: options.name,

    createNamespace: Effect.fn("Catalog.createNamespace")(function*(namespace, properties = {}) {
      const tooLong = nameTooLong("namespace", namespace)
      if (tooLong !== undefined) return yield* tooLong
      if (yield* namespaceExists(namespace)) return yield* catalogError(new AlreadyExists({ name: namespace }))
      // JdbcCatalog and PyIceberg mark a namespace without properties with exists=true.
      const entries = Object.entries({ exists: "true", ...properties })
      for (const [key, value] of entries) {
        // Another process may have created it since the check.
        yield* Effect.tryPromise(() =>
          driver.execute(
            `INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)
             VALUES ($1, $2, $3, $4)`,
            [options.name, namespace, key, value]
          )
        ).pipe(Effect.mapError(insertError(namespace)))
      }
    }),

    listNamespaces: Effect.fn("Catalog.listNamespaces")(function*() {
      const rows = yield* db(() =>
        driver.query(
          `SELECT namespace AS ns FROM iceberg_namespace_properties WHERE catalog_name = $1
           UNION SELECT table_namespace AS ns FROM iceberg_tables WHERE catalog_name = $1 ORDER BY ns`,
          [options.name]
        )
      )
      return rows.map((r) => r.ns as string)
    }),

    namespaceExists,

    dropNamespace: Effect.fn("Catalog.dropNamespace")(function*(namespace) {
      yield* requireNamespace(namespace)
      const tables = yield* db(() =>
        driver.query(`SELECT 1 AS x FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2`, [
          options.name,
          namespace
        ])
      )
      if (tables.length > 0) return yield* catalogError(new NamespaceNotEmpty({ namespace }))
      yield* db(() =>
        driver.execute(`DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2`, [
          options.name,
          namespace
        ])
      )
    }),

    createTable: Effect.fn("Catalog.createTable")(function*(identifier, request: CreateTableRequest) {
      const tooLong = nameTooLong("table name", identifier.name)
      if (tooLong !== undefined) return yield* tooLong
      yield* requireNamespace(identifier.namespace)
      const name = showIdentifier(identifier)
      const registered = yield* pointer(identifier)
      if (registered !== undefined) {
        if (uncertainCreates.has(name)) {
          // Its table-uuid tells a create of ours that landed (whose file it keeps) from one that did not.
          const current = yield* Effect.result(readMetadata(name, registered))
          if (Result.isSuccess(current)) yield* settleCreates(name, current.success["table-uuid"])
        }
        return yield* catalogError(new AlreadyExists({ name }))
      }
      const metadata = newTableMetadata({
        uuid: crypto.randomUUID(),
        // JdbcCatalog stores a namespace's levels joined by `.`, and places its tables one directory a level.
        location: request.location ?? defaultTableLocation(warehouse, identifier.namespace.split("."), identifier.name),
        schema: request.schema,
        spec: request.spec,
        sortOrder: request.sortOrder,
        nowMs: yield* Clock.currentTimeMillis,
        ...(request.properties === undefined ? {} : { properties: request.properties })
      })
      yield* refuseLocationInUse(identifier, metadata)
      // The file and its row as one step: a stop between them left a file no row names, where every
      // later create was refused as another table's location (ADR-47). Both are bounded (the disk's
      // write, the database's statement timeout).
      const location = yield* Effect.uninterruptible(Effect.gen(function*() {
        const location = yield* writeMetadata(name, metadata, null)
        yield* Effect.tryPromise(() =>
          driver.execute(
            v1
              ? `INSERT INTO iceberg_tables
                   (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type)
                 VALUES ($1, $2, $3, $4, NULL, 'TABLE')`
              : `INSERT INTO iceberg_tables
                   (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location)
                 VALUES ($1, $2, $3, $4, NULL)`,
            [options.name, identifier.namespace, identifier.name, location]
          )
        ).pipe(
          // Only an INSERT refused (the name taken) or not run (SQLite locked, read-only, full) surely
          // registered nothing. After a broken connection the row may have landed, pointing at this
          // file: it stays until the table's row is known (settleCreates).
          Effect.tapError((e) =>
            changedNothing(e.cause)
              ? files.remove(location).pipe(Effect.ignore)
              : Effect.sync(() => void uncertainCreates.set(name, [...uncertainCreates.get(name) ?? [], { location, uuid: metadata["table-uuid"] }]))
          ),
          Effect.mapError(insertError(name))
        )
        return location
      }))
      yield* settleCreates(name, metadata["table-uuid"])
      return { identifier, metadataLocation: location, metadata } satisfies LoadedTable
    }),

    listTables: Effect.fn("Catalog.listTables")(function*(namespace) {
      yield* requireNamespace(namespace)
      const rows = yield* db(() =>
        driver.query(
          `SELECT table_name FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND ${IS_TABLE}
           ORDER BY table_name`,
          [options.name, namespace]
        )
      )
      return rows.map((r) => ({ namespace, name: r.table_name as string }))
    }),

    loadTable,

    tableExists: (identifier) => pointer(identifier).pipe(Effect.map((l) => l !== undefined)),

    dropTable: Effect.fn("Catalog.dropTable")(function*(identifier) {
      // Only a table row: a view of the same name (JdbcCatalog V1) is another engine's, and stays.
      const changed = yield* db(() =>
        driver.execute(
          `DELETE FROM iceberg_tables
           WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 AND ${IS_TABLE}`,
          [options.name, identifier.namespace, identifier.name]
        )
      )
      if (changed === 0) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
      // A create of it whose outcome was unknown is settled: had it landed, its files are the dropped table's now.
      uncertainCreates.delete(showIdentifier(identifier))
    }),

    commitTable: Effect.fn("Catalog.commitTable")(function*(
      identifier,
      requirements: ReadonlyArray<TableRequirement>,
      updates: ReadonlyArray<TableUpdate>
    ) {
      const table = showIdentifier(identifier)
      const base = yield* loadTable(identifier)
      const unmet = unmetRequirement(base.metadata, requirements)
      if (unmet !== null) return yield* catalogError(new CommitConflict({ table, detail: unmet }))
      const now = yield* Clock.currentTimeMillis
      let metadata: TableMetadata
      try {
        metadata = applyUpdates(base.metadata, base.metadataLocation, updates, now)
      } catch (e) {
        if (!(e instanceof UpdateRefused)) throw e
        // As a REST server answers: a change built on a stale base conflicts, an invalid one is refused.
        return yield* catalogError(
          e.stale ? new CommitConflict({ table, detail: e.detail }) : new CatalogRejected({ detail: `commit ${table}: ${e.detail}` })
        )
      }
      const location = yield* writeMetadata(table, metadata, base.metadataLocation)
      const swapped = yield* Effect.tryPromise(() =>
        driver.execute(
          `UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2
           WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 AND metadata_location = $2`,
          [location, base.metadataLocation, options.name, identifier.namespace, identifier.name]
        )
      ).pipe(
        // The statement may have run before the connection broke: the caller must look before
        // retrying. One the database refused (a location longer than its column) changed nothing,
        // nor did one SQLite would not run (locked by another process, read-only, disk full): its metadata file is nobody's.
        Effect.mapError((e) =>
          changedNothing(e.cause) ? sqlFailure(e.cause) : catalogError(new CommitStateUnknown({ table, detail: failureText(e.cause ?? e) }))
        ),
        Effect.tapError((e) => e.reason._tag === "CommitStateUnknown" ? Effect.void : files.remove(location).pipe(Effect.ignore))
      )
      if (swapped === 0) {
        yield* files.remove(location).pipe(Effect.ignore)
        return yield* catalogError(new CommitConflict({ table, detail: "metadata_location changed since it was read" }))
      }
      // As Java's catalogs do when the table asks: the files that left the metadata log are
      // deleted (K2's tables ask, ADR-33: a commit a second kept them until orphan removal).
      // Read as Java's Boolean.parseBoolean reads it: another engine may have set `TRUE`.
      // Only once the swap landed, and not waited for: no reader needs them (a reader whose file
      // went reads the moved pointer again, `loadTable`), and the commit's answer sets freshness (ADR-84).
      if (metadata.properties["write.metadata.delete-after-commit.enabled"]?.toLowerCase() === "true") {
        const logged = new Set(metadata["metadata-log"].map((e) => e["metadata-file"]))
        const dropped = base.metadata["metadata-log"].map((e) => e["metadata-file"]).filter((f) => !logged.has(f))
        if (dropped.length > 0) {
          yield* removeRetired(dropped)
        }
      }
      return { identifier, metadataLocation: location, metadata } satisfies LoadedTable
    })
  })
})

/** The catalog on the database `open` reaches. A SQLite driver's failures name its file (`sqliteDriver`): SQLite's own words ("unable to open database file") name none. */
const layerFor = (open: () => SqlDriver, options: SqlCatalogOptions) =>
  Layer.effect(Catalog)(
    Effect.acquireRelease(
      Effect.try({
        try: open,
        catch: (cause) => catalogError(new CatalogUnavailable({ detail: `cannot open the catalog: ${failureText(cause)}` }))
      }),
      (driver) => Effect.promise(() => driver.close().catch(() => undefined))
    ).pipe(
      Effect.flatMap((driver) => make(driver, options))
    )
  )

/** The embedded default: a SQLite file beside the warehouse. */
export const layerSqlite = (options: SqlCatalogOptions & { readonly path: string }) =>
  layerFor(() => sqliteDriver(options.path), options)

export const layerPostgres = (options: SqlCatalogOptions & { readonly url: string; readonly queryTimeoutMs?: number }) =>
  layerFor(() => postgresDriver(options.url, options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }), options)

/** The same catalog on an in-memory SQLite database: for unit tests. */
export const layerMemory = (options: SqlCatalogOptions) => layerFor(() => sqliteDriver(":memory:"), options)
