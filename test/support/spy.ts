/** `target` with `overrides`; its own methods stay bound to it (DuckDB's objects keep private state). */
export const spy = <T extends object>(target: T, overrides: Record<string, unknown>): T =>
  new Proxy(target, {
    get: (t, p) => {
      if (typeof p === "string" && p in overrides) return overrides[p]
      const value = Reflect.get(t, p)
      return typeof value === "function" ? value.bind(t) : value
    }
  })
