/** A small bounded cache: the least recently used entry goes first. */
export const lru = <V>(capacity: number) => {
  const entries = new Map<string, V>()
  return {
    get(key: string): V | undefined {
      const value = entries.get(key)
      if (value !== undefined) {
        entries.delete(key)
        entries.set(key, value)
      }
      return value
    },
    set(key: string, value: V) {
      entries.delete(key)
      entries.set(key, value)
      if (entries.size > capacity) entries.delete(entries.keys().next().value!)
    }
  }
}

export type Lru<V> = ReturnType<typeof lru<V>>
