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
  },
});
