/** Resolving a writer schema to ours with avsc, a writer union branch by branch. */
import avro from "avsc"
import { Malformed } from "./reader.ts"

/** A resolver as avsc reads with it (undeclared in its types). */
interface BranchResolver {
  _read(tap: { readLong(): number }): unknown
}

/**
 * `reader.createResolver(writer)`, but a writer union resolves branch by branch, as the Avro spec
 * has it: a value written in a branch ours cannot read fails (Undecodable), the others read.
 * avsc refused the whole writer when one branch could not be read, so a producer that widened
 * source_sequence or made trade_id optional (both pass a registry's default BACKWARD check)
 * dead-lettered every record. A union with no readable branch is still refused. avsc resolves
 * nested types through `Type.prototype.createResolver`, so it is replaced for this one
 * synchronous call (avsc's types are frozen: no per-type override).
 */
export const resolveEachBranch = (reader: avro.Type, writer: avro.Type): avro.Resolver => {
  const proto = avro.Type.prototype as unknown as { createResolver: (this: avro.Type, w: avro.Type, opts?: object) => unknown }
  const whole = proto.createResolver
  proto.createResolver = function(w, opts) {
    const branches = (w as { readonly types?: ReadonlyArray<avro.Type> }).types
    if (!avro.Type.isType(w, "union") || branches === undefined) return whole.call(this, w, opts)
    let readable = false
    const resolvers = branches.map((branch, i): BranchResolver => {
      try {
        const r = this.createResolver(branch, opts) as unknown as BranchResolver
        readable = true
        return r
      } catch (e) {
        // avsc's TypeError (a null branch read as a record: "Cannot read properties of
        // undefined") says nothing of the value; its other errors say which types differ.
        const why = e instanceof TypeError ? "" : `: ${e instanceof Error ? e.message : String(e)}`
        const what = `written in union branch ${i} (${JSON.stringify(branch.branchName)}), which ours (${
          JSON.stringify(this.branchName)
        }) cannot read${why}`
        return {
          _read: () => {
            throw new Malformed(what)
          }
        }
      }
    })
    if (!readable) return whole.call(this, w, opts)
    return Object.freeze({
      _readerType: this,
      _read: (tap: { readLong(): number }) => {
        const r = resolvers[tap.readLong()]
        if (r === undefined) throw new Malformed(`union branch out of ${resolvers.length}`)
        return r._read(tap)
      }
    })
  }
  try {
    // The spec matches records by their unqualified name ("both schemas are records with the same
    // (unqualified) name"): avsc, by full name, refused a producer's com.acme.Trade.
    return reader.createResolver(writer, { ignoreNamespaces: true })
  } finally {
    proto.createResolver = whole
  }
}
