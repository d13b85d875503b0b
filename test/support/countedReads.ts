/**
 * An array whose element reads are counted: a test of how much of a history an operation reads
 * (a scan per lookup reads n² entries), where a wall-clock limit would only measure the machine.
 */
export const countedReads = <A>(items: Array<A>): { readonly items: Array<A>; readonly reads: () => number } => {
  let reads = 0
  const proxied = new Proxy(items, {
    get: (target, key, receiver) => {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++
      return Reflect.get(target, key, receiver)
    }
  })
  return { items: proxied, reads: () => reads }
}
