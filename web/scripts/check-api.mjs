// @ts-check
// Fails when src/api/schema.d.ts is not what openapi-typescript makes of ../schemas/openapi.json now:
// regenerates it into a temporary file and compares. `npm run gen:api` blesses.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(fileURLToPath(import.meta.url), "../..");
const committed = join(web, "src/api/schema.d.ts");
const dir = mkdtempSync(join(tmpdir(), "fiapx-api-"));
try {
  const fresh = join(dir, "schema.d.ts");
  execFileSync(
    process.execPath,
    [join(web, "node_modules/openapi-typescript/bin/cli.js"), join(web, "../schemas/openapi.json"), "-o", fresh],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  if (readFileSync(fresh, "utf8") !== readFileSync(committed, "utf8")) {
    console.error(
      "src/api/schema.d.ts is stale: schemas/openapi.json changed. Run `npm run gen:api` in web/ and commit the result.",
    );
    process.exit(1);
  }
  console.log("src/api/schema.d.ts matches schemas/openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
