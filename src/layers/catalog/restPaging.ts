/** The REST catalog's lists (namespaces, tables), a page at a time. */
import { Effect, Result } from "effect"
import type { CatalogError } from "../../services/Catalog.ts"
import type { Call } from "./restAuth.ts"
import { jsonObject, unavailable, unexpected } from "./restErrors.ts"

/** `body[key]` as an array of items `is` accepts (absent: none), or what is wrong with it. */
export const listOf = <A>(body: Record<string, unknown>, key: string, is: (item: unknown) => item is A): Result.Result<ReadonlyArray<A>, string> => {
  const items = body[key]
  if (items === undefined || items === null) return Result.succeed([])
  if (!Array.isArray(items)) return Result.fail(`${key} is not an array: ${JSON.stringify(items).slice(0, 200)}`)
  const bad = items.find((item) => !is(item))
  return bad === undefined ? Result.succeed(items as ReadonlyArray<A>) : Result.fail(`${key} holds ${JSON.stringify(bad).slice(0, 200)}`)
}

/** Every item of the list at `path`, page after page, with `call`. */
export const makeListPaged = (call: Call) => Effect.fnUntraced(function*<A>(
  path: string,
  params: Record<string, string>,
  /** The page's items, or what is wrong with them. */
  pick: (body: Record<string, unknown>) => Result.Result<ReadonlyArray<A>, string>,
  onMissing: () => CatalogError
) {
  const out: Array<A> = []
  const tokens = new Set<string>()
  let pageToken: string | undefined
  do {
    const reply = yield* call("GET", path, undefined, { ...params, ...(pageToken === undefined ? {} : { pageToken }) })
    if (reply.status === 404) return yield* onMissing()
    if (reply.status !== 200) return yield* unexpected(`list ${path}`, reply)
    const body = yield* jsonObject(reply, `list ${path}`)
    const items = pick(body)
    // A server answering another shape (an object for the list, a number for a name) is failing, typed, not a defect.
    if (Result.isFailure(items)) return yield* unavailable(`list ${path}: ${items.failure}`)
    out.push(...items.success)
    const next = body["next-page-token"]
    pageToken = typeof next === "string" && next.length > 0 ? next : undefined
    // A token handed out twice (a server ignoring pageToken) would page for ever, repeating rows.
    if (pageToken !== undefined) {
      if (tokens.has(pageToken)) return yield* unavailable(`list ${path}: the server repeated page token ${pageToken}`)
      tokens.add(pageToken)
    }
  } while (pageToken !== undefined)
  return out
})
