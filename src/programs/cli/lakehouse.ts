/** Flags shared by every program that opens the warehouse, with environment fallbacks. */
import * as fs from "node:fs"
import * as path from "node:path"
import { Config, Effect, Layer, Option, Schema } from "effect"
import { Flag } from "effect/cli"
import { parse as parsePgUrl } from "pg-connection-string"
import { nonBlank, optionalSetting, setting } from "./flags.ts"
import { definitionOf, type TableName, tables } from "../../domain/tables.ts"
import { directoryProblem } from "../../layers/directories.ts"
import { globUnreadable } from "../../layers/duckdb/sqlText.ts"
import { sqlitePathProblem } from "../../layers/catalog/drivers.ts"
import { isLocalLocation, localPath } from "../../layers/iceberg/fileio.ts"
import type { DuckDbOptions } from "../../layers/duckdb/DuckDb.ts"
import * as Lakehouse from "../../layers/lakehouse.ts"
import type { CatalogChoice } from "../../layers/lakehouse.ts"
import { Catalog } from "../../services/Catalog.ts"

const isPostgresUrl = (value: string) => /^postgres(ql)?:\/\//.test(value)
const isRestUrl = (value: string) => /^https?:\/\//.test(value)
const isCatalogUrl = (value: string) => isPostgresUrl(value) || isRestUrl(value)

/**
 * Whether pg reads `url` as its connection string (its own parser, pg-connection-string): a URL it
 * cannot read failed only at the first query, as "catalog unavailable: Invalid URL", naming neither
 * setting nor value.
 */
const pgReads = (url: string) => {
  try {
    parsePgUrl(url)
    return true
  } catch {
    return false
  }
}

/** A refusal of the warehouse directory `dir` (absolute) whose files DuckDB cannot read as themselves, else undefined. */
const readableAsItself = (dir: string) => {
  const why = globUnreadable(dir)
  return why === undefined ? undefined : `a directory whose files DuckDB can read as themselves (${why})`
}

/**
 * A path the shell left `~` in (`--warehouse=~/wh`, a quoted or an env file's `~`): taken as is, it
 * made a directory named `~` in the working directory, and removing that (`rm -rf ~`) is the home's end.
 */
const unexpandedHome = (p: string) =>
  p === "~" || p.startsWith("~/") ? "a path without a leading ~ (the shell leaves it as is after = and in quotes, as an env file does: write $HOME/...)" : undefined

/** A refusal of the warehouse directory `dir`: one that can never be a directory as it stands (a file, a link to nothing...). */
const warehouseProblem = (dir: string): string | undefined => {
  const refused = nonBlank("a directory")(dir) ?? unexpandedHome(dir)
  if (refused !== undefined) return refused
  const problem = directoryProblem(dir)
  return problem === undefined ? readableAsItself(path.resolve(dir)) : `a directory (${problem})`
}

/** A refusal of `--catalog` as a SQLite file (not a URL): `~` unexpanded, a path SQLite cannot open, or one a file stands in the way of. */
const sqliteFileProblem = (file: string): string | undefined => {
  // SQLite's in-memory database, no file (sqliteDriver makes nothing for it).
  if (file === ":memory:") return undefined
  const refused = unexpandedHome(file) ?? sqlitePathProblem(file)
  if (refused !== undefined) return refused
  const problem = directoryProblem(path.dirname(path.resolve(file)))
  return problem === undefined ? sqliteFileItself(path.resolve(file)) : `a SQLite file in a directory (${problem})`
}

/**
 * A refusal of what stands at `file` itself, in a directory that is one: a directory, a device or
 * another file that is not a regular one, a loop of links, a link into a directory that does not
 * exist. Taken, each failed only as the catalog opened ("catalog unavailable: unable to open
 * database file", exit 1), the warehouse made and left empty.
 */
const sqliteFileItself = (file: string): string | undefined => {
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false })
    if (st?.isDirectory() === true) return `a SQLite file (${file} is a directory)`
    // /dev/null, a FIFO: "disk I/O error", or a wait for a writer.
    if (st !== undefined) return st.isFile() ? undefined : `a SQLite file (${file} is not a regular file)`
    // A link to nothing: SQLite makes the file it names, not the directories on the way.
    const link = fs.lstatSync(file, { throwIfNoEntry: false })
    if (link?.isSymbolicLink() !== true) return undefined
    const target = path.resolve(path.dirname(file), fs.readlinkSync(file))
    return fs.statSync(path.dirname(target), { throwIfNoEntry: false })?.isDirectory() === true
      ? undefined
      : `a SQLite file (${file} is a symbolic link to ${target}, in a directory that does not exist)`
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") return `a SQLite file (${file} is a loop of symbolic links)`
    // EACCES and the like: opening it says so, naming the file.
    return undefined
  }
}

export const lakehouseFlags = {
  warehouse: Flag.String("warehouse").pipe(
    setting("directory of the table data and metadata", {
      env: "K2_WAREHOUSE",
      read: Config.String,
      fallback: "warehouse",
      // Every read escapes DuckDB's glob characters (`exactFiles`); refused are the paths that escape
      // cannot read as themselves. Refused too, a path that cannot be a directory as it stands (a file,
      // a link to nothing...). Checked on the absolute path (the working directory counts); nothing is made.
      check: warehouseProblem
    })
  ),
  catalog: Flag.String("catalog").pipe(
    optionalSetting("catalog: a SQLite file, a postgresql:// URL, or an Iceberg REST catalog http(s):// URL (default: <warehouse>/catalog.db); REST auth from K2_REST_TOKEN or K2_REST_CREDENTIAL (client_id:secret)", {
      env: "K2_CATALOG",
      read: Config.String,
      // A URL of another scheme (postgress://, HTTP://) would be taken for a SQLite file of that name, made in the working directory.
      check: (c) =>
        !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(c)
          ? (c.trim() === "" ? undefined : sqliteFileProblem(c))
          : !isCatalogUrl(c)
          ? "a SQLite file, a postgresql:// URL or an http(s):// URL"
          : isPostgresUrl(c) && !pgReads(c)
          ? "a postgresql:// URL that parses (host, a numeric port, reserved characters of the password %-escaped)"
          : isRestUrl(c) && !URL.canParse(c)
          ? "an http(s):// URL that parses (host, a numeric port)"
          : isRestUrl(c) && /^[^/]*\/\/[^/?#]*@/.test(c)
          ? "an http(s):// URL without user info (the REST catalog's credentials go in K2_REST_TOKEN or K2_REST_CREDENTIAL)"
          // K2 adds /v1/... after the URI: a query broke every request, and each error showed it (a key put there too).
          : isRestUrl(c) && /[?#]/.test(c)
          ? "an http(s):// URL without a query or fragment (the REST catalog's credentials go in K2_REST_TOKEN or K2_REST_CREDENTIAL)"
          : undefined
    })
  ),
  catalogName: Flag.String("catalog-name").pipe(
    setting("catalog_name in the catalog tables", { env: "K2_CATALOG_NAME", read: Config.String, fallback: "k2", check: nonBlank("a name") })
  )
}

/** The catalog the flags name: PostgreSQL for a postgres URL, else a SQLite file. */
const catalogChoice = (options: {
  readonly warehouse: string
  readonly catalog: { readonly _tag: "Some"; readonly value: string } | { readonly _tag: "None" }
}): CatalogChoice => {
  // An empty K2_CATALOG is no catalog given, not a SQLite file named "".
  const value = options.catalog._tag === "Some" && options.catalog.value.trim() !== "" ? options.catalog.value : undefined
  if (value !== undefined && isPostgresUrl(value)) return { _tag: "postgres", url: value }
  if (value !== undefined && isRestUrl(value)) {
    const env = (name: string) => (process.env[name] === undefined || process.env[name] === "" ? {} : { [name]: process.env[name]! })
    const { K2_REST_TOKEN: token, K2_REST_CREDENTIAL: credential, K2_REST_PARENT_NAMESPACE: parentNamespace } = {
      ...env("K2_REST_TOKEN"),
      ...env("K2_REST_CREDENTIAL"),
      ...env("K2_REST_PARENT_NAMESPACE")
    } as Record<string, string | undefined>
    return {
      _tag: "rest",
      uri: value,
      ...(token === undefined ? {} : { token }),
      ...(credential === undefined ? {} : { credential }),
      ...(parentNamespace === undefined ? {} : { parentNamespace })
    }
  }
  return { _tag: "sqlite", path: value ?? path.join(options.warehouse, "catalog.db") }
}

/**
 * The refusal of the default SQLite catalog, `<warehouse>/catalog.db`, when SQLite cannot open it
 * (a path too long), else undefined: said before the warehouse is made, which then stayed behind.
 */
export const defaultCatalogProblem = (options: Pick<LakehouseSettings, "warehouse" | "catalog">): string | undefined => {
  const catalog = catalogChoice({ warehouse: path.resolve(options.warehouse), catalog: options.catalog })
  if (catalog._tag !== "sqlite" || Option.isSome(options.catalog) && options.catalog.value.trim() !== "") return undefined
  const problem = sqlitePathProblem(catalog.path)
  return problem === undefined ? undefined : `--warehouse: its catalog ${catalog.path} is too long a path: want ${problem}; give a shorter --warehouse, or --catalog`
}

/** A program that reads or maintains the warehouse was pointed at one that holds nothing. */
export class NoWarehouse extends Schema.TaggedError<NoWarehouse>()("NoWarehouse", {
  warehouse: Schema.String,
  catalog: Schema.String
}) {
  override get message() {
    return `no warehouse at ${this.warehouse} (no catalog ${this.catalog}): run \`npm run ingest\` first, ` +
      "or point --warehouse (K2_WAREHOUSE) or --catalog (K2_CATALOG) at an existing one"
  }
}

/**
 * A warehouse copied or moved as a folder: the catalog inside it names each table by its absolute
 * location, still the old place. Working on it would write there, and its orphan removal would
 * delete the newer files of the warehouse still at the old place as not its own.
 */
export class MovedWarehouse extends Schema.TaggedError<MovedWarehouse>()("MovedWarehouse", {
  warehouse: Schema.String,
  table: Schema.String,
  location: Schema.String
}) {
  override get message() {
    return `the catalog in ${this.warehouse} keeps table ${this.table} at ${this.location}, outside it: the warehouse ` +
      "was copied or moved (its catalog names absolute locations), and working on it here would change the files " +
      "at that place (its maintenance would delete the ones it does not know). Work on the warehouse at that " +
      "place; for a second one, ingest into a new directory"
  }
}

/** The warehouse and catalog flags' values. */
export interface LakehouseSettings {
  readonly warehouse: string
  readonly catalog: Option.Option<string>
  readonly catalogName: string
  /** DuckDB's options, read by the program already; unset, read as the lakehouse is opened. */
  readonly duckDb?: DuckDbOptions | undefined
}

/**
 * `core` of the warehouse the flags name; refused when its own catalog keeps one of `checked`
 * elsewhere (MovedWarehouse). A program that only reads checks the tables it reads: the check
 * loads each table's metadata, whole histories parsed for nothing otherwise (ADR-60).
 */
const checkedWarehouse = <ROut, E, RIn>(
  options: LakehouseSettings,
  core: (options: Lakehouse.LakehouseOptions) => Layer.Layer<ROut | Catalog, E, RIn>,
  checked?: ReadonlyArray<TableName>
) => {
  const catalog = catalogChoice(options)
  const layer = core({ warehouse: options.warehouse, catalogName: options.catalogName, catalog, duckDb: options.duckDb })
  // Only a SQLite catalog inside the warehouse travels with it; another catalog may keep tables anywhere.
  const travels = catalog._tag === "sqlite" && isWithin(real(options.warehouse), real(path.dirname(catalog.path)), true)
  return travels ? Layer.effectDiscard(tablesInside(options.warehouse, checked)).pipe(Layer.provideMerge(layer)) : layer
}

/**
 * The lakehouse the flags name; refused when its own catalog keeps its tables (or those of
 * `checked`) elsewhere (MovedWarehouse).
 */
export const lakehouseOf = (options: LakehouseSettings, checked?: ReadonlyArray<TableName>) =>
  checkedWarehouse(options, Lakehouse.layer, checked)

/** A path with its symbolic links resolved where it exists (a moved warehouse's old place may not). */
const real = (p: string) => {
  try {
    return fs.realpathSync(p)
  } catch {
    return path.resolve(p)
  }
}

const isWithin = (dir: string, p: string, orSame = false) => {
  const relative = path.relative(dir, p)
  return (orSame && relative === "") || (relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative))
}

/** Fails with MovedWarehouse when a table of `checked` (by default all) lies on the local disk outside `warehouse`. */
const tablesInside = (warehouse: string, checked: ReadonlyArray<TableName> | undefined) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const root = real(warehouse)
    for (const { name, namespace } of checked?.map(definitionOf) ?? Object.values(tables)) {
      const loaded = yield* catalog.loadTable({ namespace, name }).pipe(
        Effect.catchIf((e) => e.reason._tag === "NoSuchTable", () => Effect.undefined)
      )
      const location = loaded?.metadata.location
      if (location !== undefined && isLocalLocation(location) && !isWithin(root, real(localPath(location)))) {
        return yield* new MovedWarehouse({ warehouse: root, table: `${namespace}.${name}`, location })
      }
    }
  })

/** The SQLite catalog file the flags name when it does not exist yet (it is then created empty), else undefined. */
export const missingSqliteCatalog = (options: LakehouseSettings): string | undefined => {
  const catalog = catalogChoice({ warehouse: path.resolve(options.warehouse), catalog: options.catalog })
  return catalog._tag === "sqlite" && !fs.existsSync(catalog.path) ? path.resolve(catalog.path) : undefined
}

/** `of` the flags' warehouse, refused with NoWarehouse when its SQLite catalog is missing. */
const existing = <ROut, E, RIn>(options: LakehouseSettings, of: (options: LakehouseSettings) => Layer.Layer<ROut, E, RIn>) =>
  Layer.unwrap(Effect.gen(function*() {
    const warehouse = path.resolve(options.warehouse)
    const missing = missingSqliteCatalog(options)
    if (missing !== undefined) return yield* new NoWarehouse({ warehouse, catalog: missing })
    return of({ ...options, warehouse })
  }))

/**
 * The lakehouse of the flags for a program that only reads or maintains it (query, replay,
 * compact): a SQLite catalog must exist already, else a typo in the path would quietly make an
 * empty warehouse there and answer "no such table".
 */
export const existingLakehouse = (options: LakehouseSettings, checked?: ReadonlyArray<TableName>) =>
  existing(options, (settings) => lakehouseOf(settings, checked))

/** The catalog and storage of `existingLakehouse` alone, no DuckDB: compact opens one for each run. */
export const existingStorage = (options: LakehouseSettings) =>
  existing(options, (settings) => checkedWarehouse(settings, Lakehouse.storageLayer))
