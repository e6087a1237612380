/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// Preact through the automatic JSX runtime: no framework plugin (and no Babel) needed.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  resolve: {
    alias: { react: "preact/compat", "react-dom": "preact/compat" },
  },
  build: {
    target: "es2022",
    sourcemap: true,
    assetsDir: "assets",
  },
  server: {
    // `npm run dev` next to `fiapx serve all` (make run): the API and SSE go to the Rust server.
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  test: {
    environment: "happy-dom",
    include: ["test/**/*.test.{ts,tsx}"],
    restoreMocks: true,
    // The browser build of tus-js-client, as the app gets it (XMLHttpRequest, File slices), not its Node build
    // (node:http, Buffers and streams), which is what resolving the package from Node would give.
    alias: [{ find: /^tus-js-client$/, replacement: "tus-js-client/lib.esm/browser/index.js" }],
    server: { deps: { inline: ["tus-js-client"] } },
  },
});
