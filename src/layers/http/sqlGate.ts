/**
 * The sandbox's statement gate (sql.ts): what user text may reach the locked-down instance.
 * `checkStatement` parses it with `json_serialize_sql` (SELECT only, exactly one statement) and
 * holds the parsed tree to an allow-list (`checkReferences`); `withoutEnd` takes off a closing `;`
 * for the Parquet answer's COPY; `scrub` keeps file paths out of what a client is told.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { Predicate } from "effect"
import { executeOne } from "../duckdb/DuckDb.ts"
import { SqlRefused } from "./sqlErrors.ts"

/**
 * Strips file paths from DuckDB's messages: never tell a client where the warehouse lives. A path
 * starts where a word does (`/x`, `./x`, `../x`): a slash inside a word is the user's own text, or
 * DuckDB's figures, quoted back (`'2024/01/02'`, `482.2 MiB/512.0 MiB`), and was mangled into `<path>`.
 */
export const scrub = (message: string, files: ReadonlyArray<string>) => {
  let out = message
  for (const f of files) out = out.replaceAll(f, "<file>")
  return out.replace(/(?<![\w.])\.{0,2}\/[\w.~-][^\s"']*/g, "<path>").split("\n")[0]!.slice(0, 500)
}

/** Table functions that only generate values from their arguments: no file, catalog or setting. */
const TABLE_FUNCTIONS = new Set(["range", "generate_series", "unnest"])

/**
 * Scalar functions and macros (from `duckdb_functions()`) that read settings, variables,
 * plans, view definitions or the statement text, all of which can hold the warehouse's paths
 * (a Parquet answer wraps the statement in a COPY to our temp file). Catalog tables and table
 * functions are kept out by the allow-list instead.
 */
const REFUSED_FUNCTIONS = new Set([
  "current_setting",
  "getvariable",
  "current_query",
  "json_serialize_plan",
  "pg_get_viewdef",
  "pg_get_constraintdef"
])

type Node = Record<string, unknown>
type Cte = { readonly key?: unknown; readonly value?: { readonly query?: { readonly node?: Node } } }

const lower = (v: unknown) => (typeof v === "string" ? v.toLowerCase() : "")

/**
 * Refuses (throws SqlRefused) any table the statement names that is not one of `views` or a
 * CTE in scope, any schema- or catalog-qualified table, table functions outside
 * TABLE_FUNCTIONS, SHOW, and REFUSED_FUNCTIONS, anywhere in the `json_serialize_sql` tree.
 * DuckDB matches names case-insensitively, so do we.
 */
const checkReferences = (statement: unknown, views: ReadonlyArray<string>): void => {
  const allowed = new Set(views.map(lower))
  const only = `only the views ${views.join(", ")} (and the statement's own CTEs) can be read`
  const walk = (value: unknown, scope: ReadonlySet<string>): void => {
    if (Array.isArray(value)) return value.forEach((v) => walk(v, scope))
    if (!Predicate.isObject(value)) return
    const node = value as Node
    // Aggregates and window functions carry function_name too.
    const fn = lower(node["function_name"])
    if (REFUSED_FUNCTIONS.has(fn)) throw new SqlRefused({ detail: `${fn}() is not allowed: it reads server settings or state` })
    switch (node["type"]) {
      case "BASE_TABLE": {
        const name = [node["catalog_name"], node["schema_name"], node["table_name"]].filter((p) => p !== "" && p !== undefined).join(".")
        if (name !== node["table_name"] || !(allowed.has(lower(name)) || scope.has(lower(name)))) {
          throw new SqlRefused({ detail: `${only}, not ${name}` })
        }
        return
      }
      case "TABLE_FUNCTION": {
        const f = Predicate.isObject(node["function"]) ? node["function"] as Node : {}
        const name = lower(f["function_name"])
        if (!TABLE_FUNCTIONS.has(name) || (f["schema"] ?? "") !== "" || (f["catalog"] ?? "") !== "") {
          throw new SqlRefused({ detail: `${only}; the table function ${name}() is not allowed (allowed: ${[...TABLE_FUNCTIONS].join(", ")})` })
        }
        break
      }
      case "SHOW_REF":
        // DESCRIBE / SUMMARIZE carry the query they describe (walked below); SHOW TABLES etc. read the catalog.
        if (!Predicate.isObject(node["query"])) throw new SqlRefused({ detail: `${only}; SHOW is not allowed` })
        break
    }
    // A CTE's name is in scope for the later CTEs and the query, and in its own body only in the
    // recursive part (`right`) of a recursive body: elsewhere DuckDB resolves the name to the
    // catalog (WITH duckdb_views AS (SELECT * FROM duckdb_views) reads the real one, and so does
    // the anchor of WITH RECURSIVE duckdb_views AS (SELECT sql FROM duckdb_views UNION ...)).
    const ctes = Predicate.isObject(node["cte_map"]) ? (node["cte_map"] as { map?: unknown }).map : undefined
    let inner = scope
    if (Array.isArray(ctes)) {
      for (const cte of ctes as Array<Cte>) {
        const name = lower(cte.key)
        const body = cte.value?.query?.node
        if (body?.["type"] === "RECURSIVE_CTE_NODE" && lower(body["cte_name"]) === name) {
          const { right, ...anchor } = body
          walk(right, new Set([...inner, name]))
          walk({ ...cte, value: { ...cte.value, query: { ...cte.value?.query, node: anchor } } }, inner)
        } else walk(cte, inner)
        inner = new Set([...inner, name])
      }
    }
    for (const [key, child] of Object.entries(node)) if (key !== "cte_map" || !Array.isArray(ctes)) walk(child, inner)
  }
  walk(statement, new Set())
}

/** The parse gate's view of a text: `json_serialize_sql`'s answer (`j`). */
const serialized = async (connection: DuckDBConnection, sql: string) =>
  (await executeOne(connection, "SELECT json_serialize_sql($1::VARCHAR) AS j", [sql], (s) => s.runAndReadAll())).getRowObjectsJS()[0]

/**
 * Passes `sql` through the parse gate, exactly one SELECT statement, reading only `views`
 * (`checkReferences`), or throws SqlRefused (a syntax error's message scrubbed of `files`).
 * Answers the parsed tree's text, which `withoutEnd` compares against.
 */
export const checkStatement = async (
  connection: DuckDBConnection,
  sql: string,
  files: ReadonlyArray<string>,
  views: ReadonlyArray<string>
): Promise<string> => {
  const parsed = (await serialized(connection, sql))
  let tree: { error?: boolean; error_message?: string; statements?: Array<unknown> }
  try {
    tree = JSON.parse(String(parsed?.["j"] ?? "{}"))
  } catch {
    throw new SqlRefused({ detail: "the statement could not be parsed" })
  }
  if (tree.error === true) {
    const why = String(tree.error_message ?? "")
    // A PIVOT without its values is two statements to DuckDB (one finds the values): not one SELECT.
    const notSelect = /\bPIVOT\b/i.test(sql)
      ? "only a SELECT statement is allowed: a PIVOT needs its values listed here (PIVOT ... ON side IN ('BUY', 'SELL') ...)"
      : "only a SELECT statement is allowed"
    throw new SqlRefused({ detail: /Only SELECT/i.test(why) ? notSelect : `syntax error: ${scrub(why, files)}` })
  }
  const count = tree.statements?.length ?? 0
  if (count !== 1) throw new SqlRefused({ detail: count === 0 ? "no statement" : `exactly one statement is allowed, got ${count}` })
  checkReferences(tree.statements, views)
  return String(parsed?.["j"])
}

/** What may follow a statement's closing `;`: blanks and comments. */
const AFTER_END = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*$/

/**
 * The statement without its closing `;` and what follows it, which the Parquet answer's COPY
 * wrapping would break on (`SELECT 1;` answered JSON, and a syntax error as Parquet). Cut only
 * when the rest still parses to the very tree the gate checked (`tree`), else left as given.
 */
export const withoutEnd = async (connection: DuckDBConnection, sql: string, tree: string) => {
  let text = sql
  for (let i = 0; i < 16; i++) {
    const end = text.lastIndexOf(";")
    if (end < 0 || !AFTER_END.test(text.slice(end + 1))) break
    const head = text.slice(0, end)
    if (String((await serialized(connection, head))?.["j"]) !== tree) break
    text = head
  }
  return text
}
