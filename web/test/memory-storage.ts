// An in-memory Web Storage for tests of what keeps the session (SessionStore reads and writes nothing else).

/** A `Storage` over `map` (a fresh one by default), so a test can look at what was stored. */
export function memoryStorage(map: Map<string, string> = new Map()): Storage {
  return {
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  } as unknown as Storage;
}
