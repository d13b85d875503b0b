/**
 * The Iceberg REST catalog client (apache/iceberg open-api/rest-catalog-open-api.yaml), over
 * Effect's HttpClient. The server owns the metadata files: a commit sends the requirements and
 * updates K2 builds (`assert-table-uuid`, `assert-ref-snapshot-id`; `add-snapshot`,
 * `set-snapshot-ref`, `remove-snapshots`, `set-properties`) and the server applies them.
 *
 * Status mapping: 404 → NoSuchNamespace / NoSuchTable (a table load's too when its namespace is missing), 409 (or a
 * 400 typed NamespaceNotEmptyException, as Iceberg's own servers answer a drop) → AlreadyExists / NamespaceNotEmpty /
 * CommitConflict (reload and retry on a fresh base; so is a 400 for a stale sequence number or a snapshot id taken); on
 * a commit, 5xx (but 501 Not Implemented, CatalogRejected), a timeout or a broken connection → CommitStateUnknown (the caller looks for its
 * `k2.commit-id` before retrying); elsewhere they are CatalogUnavailable (transient; a read, GET or HEAD, whose
 * connection broke is sent once more first, a change never), but on `GET /v1/config`,
 * where 401/403/419 (credentials refused) and 404 (a wrong URI, prefix or warehouse) are CatalogRejected. 401 and
 * 419 (AuthenticationTimeout) refresh an OAuth2 token once, and a token with an `expires_in` is
 * renewed within a minute (or half its life) of expiring, before a request; a token endpoint refusing the
 * credentials (400, 401), or handing out a token no HTTP header carries, is CatalogRejected. Redirects are
 * followed only when the request goes on unchanged (307/308, or a GET); a change redirected otherwise is
 * CatalogRejected (CommitStateUnknown for a commit answered 303), and so is a token request redirected
 * where its client secret would leave the host or go unencrypted (a bearer token is dropped there). A change the `endpoints` of
 * `/v1/config` leave out is CatalogRejected without being sent; its `overrides.uri` is the base of every later request.
 *
 * JSON is lossless: 64-bit snapshot ids and sequence numbers are `bigint` both ways.
 */
import { Effect, Layer } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import { defaultTableLocation, metadataCache, type TableRequirement, type TableUpdate } from "../../domain/iceberg/metadata.ts"
import {
  AlreadyExists,
  Catalog,
  catalogError,
  CatalogRejected,
  type CreateTableRequest,
  NamespaceNotEmpty,
  NoSuchNamespace,
  NoSuchTable,
  showIdentifier,
  type TableIdentifier
} from "../../services/Catalog.ts"
import { checkCredentials, makeCall } from "./restAuth.ts"
import { commitAnswer, commitSendFailure } from "./restCommit.ts"
import { configFailure, overriddenBase, serverConfig } from "./restConfig.ts"
import { errorType, jsonObject, unexpected } from "./restErrors.ts"
import type { RestCatalogOptions } from "./restOptions.ts"
import { listOf, makeListPaged } from "./restPaging.ts"
import { parentLevels, restPaths, UNIT_SEPARATOR } from "./restPaths.ts"
import type { Reply } from "./restReply.ts"
import { commitTableBody, createTableBody, loadedTable } from "./restTableBodies.ts"
import { makeSend } from "./restTransport.ts"

export const make = Effect.fnUntraced(function*(options: RestCatalogOptions) {
  const http = yield* HttpClient.HttpClient
  yield* checkCredentials(options)
  let base = options.uri.replace(/\/+$/, "")
  const parent = parentLevels(options.parentNamespace)
  // A stray dot: the server makes a namespace named "" (Iceberg's own does), whose directory is its parent's.
  if (parent.includes("")) {
    return yield* catalogError(new CatalogRejected({
      detail: `the parent namespace (K2_REST_PARENT_NAMESPACE) ${JSON.stringify(options.parentNamespace)} has an empty level: give its levels separated by single dots, e.g. ci.run1`
    }))
  }
  // Decoded metadata by location: the server never rewrites a metadata file.
  const cache = metadataCache()
  const send = makeSend(http)
  const call = yield* makeCall(options, () => base, send)

  const config = yield* call("GET", "/v1/config", undefined, options.warehouse === undefined ? undefined : {
    warehouse: options.warehouse
  })
  if (config.status !== 200) return yield* configFailure(config, base, options)
  const { namespaceExistsMethod, offered, root, tableExistsMethod, uri } = serverConfig(yield* jsonObject(config, "GET /v1/config"))
  if (uri !== undefined) base = yield* overriddenBase(uri, base)
  const { levels, nsPath, tablePath } = restPaths(parent, root)
  // The parent namespace levels exist before anything is created below them. One provisioned is only
  // looked at: K2's principal may be refused namespace creation (403), or the server not offer it.
  if (parent.length > 0) {
    const held = yield* call(namespaceExistsMethod, `${root}/namespaces/${encodeURIComponent(parent.join(UNIT_SEPARATOR))}`)
    if (held.status === 404) {
      yield* offered("POST /v1/{prefix}/namespaces")
      for (let i = 1; i <= parent.length; i++) {
        const reply = yield* call("POST", `${root}/namespaces`, { namespace: parent.slice(0, i), properties: {} })
        if (reply.status !== 200 && reply.status !== 409) return yield* unexpected("create parent namespace", reply)
      }
    } else if (held.status < 200 || held.status >= 300) {
      return yield* unexpected(`parent namespace ${parent.join(".")}`, held)
    }
  }

  const loaded = (identifier: TableIdentifier, reply: Reply) => loadedTable(cache, identifier, reply)

  const loadTable = Effect.fn("Catalog.loadTable")(function*(identifier: TableIdentifier) {
    const reply = yield* call("GET", tablePath(identifier))
    // Also when the server says its namespace is missing (NoSuchNamespaceException), as the SQL catalog
    // does: callers read a table not created yet (its namespace neither) as empty.
    if (reply.status === 404) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
    if (reply.status !== 200) return yield* unexpected(`load ${showIdentifier(identifier)}`, reply)
    return yield* loaded(identifier, reply)
  })

  const namespaceExists = Effect.fn("Catalog.namespaceExists")(function*(namespace: string) {
    const reply = yield* call(namespaceExistsMethod, `${root}/namespaces/${nsPath(namespace)}`)
    if (reply.status === 404) return false
    if (reply.status >= 200 && reply.status < 300) return true
    return yield* unexpected(`namespace ${namespace}`, reply)
  })

  const listPaged = makeListPaged(call)

  return Catalog.of({
    name: options.name ?? "rest",

    createNamespace: Effect.fn("Catalog.createNamespace")(function*(namespace, properties = {}) {
      yield* offered("POST /v1/{prefix}/namespaces")
      const reply = yield* call("POST", `${root}/namespaces`, { namespace: levels(namespace), properties })
      if (reply.status === 409) return yield* catalogError(new AlreadyExists({ name: namespace }))
      if (reply.status !== 200) return yield* unexpected(`create namespace ${namespace}`, reply)
    }),

    listNamespaces: Effect.fn("Catalog.listNamespaces")(function*() {
      const namespaces = yield* listPaged(
        `${root}/namespaces`,
        parent.length === 0 ? {} : { parent: parent.join(UNIT_SEPARATOR) },
        (body) => listOf(body, "namespaces", (ns): ns is ReadonlyArray<string> => Array.isArray(ns) && ns.every((l) => typeof l === "string")),
        () => catalogError(new NoSuchNamespace({ namespace: parent.join(".") }))
      )
      return namespaces.map((levels) => levels.slice(parent.length).join(".")).sort()
    }),

    namespaceExists,

    dropNamespace: Effect.fn("Catalog.dropNamespace")(function*(namespace) {
      yield* offered("DELETE /v1/{prefix}/namespaces/{namespace}")
      const reply = yield* call("DELETE", `${root}/namespaces/${nsPath(namespace)}`)
      if (reply.status === 404) return yield* catalogError(new NoSuchNamespace({ namespace }))
      // The spec says 409; Iceberg's own RESTCatalogAdapter and servlet (and servers built on them) say 400, typed.
      if (reply.status === 409 || (reply.status === 400 && errorType(reply) === "NamespaceNotEmptyException")) {
        return yield* catalogError(new NamespaceNotEmpty({ namespace }))
      }
      if (reply.status < 200 || reply.status >= 300) return yield* unexpected(`drop namespace ${namespace}`, reply)
    }),

    createTable: Effect.fn("Catalog.createTable")(function*(identifier, request: CreateTableRequest) {
      yield* offered("POST /v1/{prefix}/namespaces/{namespace}/tables")
      // Some servers (JdbcCatalog) create a table in a namespace that does not exist: refuse first.
      if (!(yield* namespaceExists(identifier.namespace))) {
        return yield* catalogError(new NoSuchNamespace({ namespace: identifier.namespace }))
      }
      const location = request.location ??
        (options.tableLocationRoot === undefined
          ? undefined
          : defaultTableLocation(options.tableLocationRoot, levels(identifier.namespace), identifier.name))
      const reply = yield* call("POST", `${root}/namespaces/${nsPath(identifier.namespace)}/tables`, createTableBody(identifier, location, request))
      if (reply.status === 404) return yield* catalogError(new NoSuchNamespace({ namespace: identifier.namespace }))
      if (reply.status === 409) return yield* catalogError(new AlreadyExists({ name: showIdentifier(identifier) }))
      if (reply.status !== 200) return yield* unexpected(`create ${showIdentifier(identifier)}`, reply)
      return yield* loaded(identifier, reply)
    }),

    listTables: Effect.fn("Catalog.listTables")(function*(namespace) {
      const ids = yield* listPaged(
        `${root}/namespaces/${nsPath(namespace)}/tables`,
        {},
        (body) =>
          listOf(body, "identifiers", (id): id is { readonly name: string } =>
            typeof id === "object" && id !== null && typeof (id as { name?: unknown }).name === "string"),
        () => catalogError(new NoSuchNamespace({ namespace }))
      )
      return ids.map((id) => ({ namespace, name: id.name })).sort((a, b) => a.name.localeCompare(b.name))
    }),

    loadTable,

    tableExists: Effect.fn("Catalog.tableExists")(function*(identifier) {
      const reply = yield* call(tableExistsMethod, tablePath(identifier))
      if (reply.status === 404) return false
      if (reply.status >= 200 && reply.status < 300) return true
      return yield* unexpected(`table ${showIdentifier(identifier)}`, reply)
    }),

    dropTable: Effect.fn("Catalog.dropTable")(function*(identifier) {
      yield* offered("DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}")
      const reply = yield* call("DELETE", tablePath(identifier), undefined, { purgeRequested: "false" })
      if (reply.status === 404) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
      if (reply.status < 200 || reply.status >= 300) return yield* unexpected(`drop ${showIdentifier(identifier)}`, reply)
    }),

    commitTable: Effect.fn("Catalog.commitTable")(function*(
      identifier,
      requirements: ReadonlyArray<TableRequirement>,
      updates: ReadonlyArray<TableUpdate>
    ) {
      yield* offered("POST /v1/{prefix}/namespaces/{namespace}/tables/{table}")
      const table = showIdentifier(identifier)
      const reply = yield* call(
        "POST",
        tablePath(identifier),
        commitTableBody(levels(identifier.namespace), identifier, requirements, updates),
        undefined,
        commitSendFailure(table)
      )
      return yield* commitAnswer(table, reply, (reply) => loaded(identifier, reply))
    })
  })
})

/**
 * The REST catalog over Node's fetch. Redirects are followed by `send`, not by fetch: fetch resends a
 * POST answered with 301 or 302 as a GET.
 */
export const layer = (options: RestCatalogOptions) =>
  Layer.effect(Catalog)(make(options)).pipe(
    Layer.provide(FetchHttpClient.layer),
    Layer.provide(Layer.succeed(FetchHttpClient.RequestInit)({ redirect: "manual" }))
  )
