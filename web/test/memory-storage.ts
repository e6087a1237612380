// An in-memory Web Storage for tests of what the app keeps: the session (SessionStore) and unfinished uploads
// (api/upload.ts, which also lists the keys).

/** A `Storage` over `map` (a fresh one by default), so a test can look at what was stored. */
export function memoryStorage(map: Map<string, string> = new Map()): Storage {
  return {
    get length() {
      return map.size;
    },
    key: (i: number) => [...map.keys()][i] ?? null,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, String(v)),
    removeItem: (k: string) => void map.delete(k),
    clear: () => map.clear(),
  } as Storage;
}
