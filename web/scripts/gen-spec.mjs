// @ts-check
// Generates src/api/spec-schema.ts, the rules of the extraction spec form, from the ExtractionSpec schema of
// ../schemas/openapi.json: its fields, the selection modes, the image formats, the defaults and every
// minimum/maximum/pattern. Nothing in the output is typed by hand: change the API (its Rust types, then the
// snapshot) and regenerate.
//
//   node scripts/gen-spec.mjs                    writes src/api/spec-schema.ts (part of `npm run gen:api`)
//   node scripts/gen-spec.mjs --check            fails when the committed file is stale (part of `npm run check:api`)
//   ... --openapi <file>                         reads another document (the tests use it)
//
// Most rules are JSON Schema keywords (`minimum`, `maximum`, `pattern`, `enum` behind `$ref`/`allOf`, `default`
// when present). Three are only in the schema's prose, which the generator reads with strict patterns and fails on
// when the wording changes, rather than guessing: the selection modes ("At most one of `fps`, `every`, `count`"),
// the highest rate ("at most 240 frames per second") and the defaults ("(default `png`)", "(default 85)", "with
// none ...: one PNG per second") when the schema has no `default` keyword for them.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(fileURLToPath(import.meta.url), "../..");
export const DOCUMENT = resolve(web, "../schemas/openapi.json");
export const OUTPUT = resolve(web, "src/api/spec-schema.ts");
const SCHEMA = "ExtractionSpec";

/** @typedef {{ [key: string]: any }} Json */

/** @param {string} message @returns {never} */
function fail(message) {
  throw new Error(`scripts/gen-spec.mjs: ${message} (components.schemas.${SCHEMA} in schemas/openapi.json)`);
}

/**
 * A schema with its `$ref`s and `allOf`s folded in (later parts win), as far as this generator needs.
 * @param {Json} document @param {Json} schema @returns {Json}
 */
function flatten(document, schema) {
  /** @type {Json} */
  let out = {};
  if (typeof schema.$ref === "string") {
    const prefix = "#/components/schemas/";
    if (!schema.$ref.startsWith(prefix)) fail(`unsupported $ref ${schema.$ref}`);
    const target = document.components?.schemas?.[schema.$ref.slice(prefix.length)];
    if (!target) fail(`dangling $ref ${schema.$ref}`);
    out = { ...out, ...flatten(document, target) };
  }
  for (const part of schema.allOf ?? []) out = { ...out, ...flatten(document, part) };
  const { $ref: _ref, allOf: _allOf, ...own } = schema;
  return { ...out, ...own };
}

/** @param {string} text @param {RegExp} pattern @param {string} what @returns {RegExpExecArray} */
function prose(text, pattern, what) {
  const match = pattern.exec(text ?? "");
  if (!match) fail(`cannot find ${what}: the description no longer matches ${pattern}`);
  return match;
}

/**
 * The generated module's text for an OpenAPI document.
 * @param {Json} document @returns {string}
 */
export function specModule(document) {
  const raw = document.components?.schemas?.[SCHEMA];
  if (!raw) fail("no such schema");
  const spec = flatten(document, raw);
  if (spec.type !== "object" || !spec.properties) fail("not an object with properties");
  /** @type {Record<string, Json>} */
  const properties = Object.fromEntries(
    Object.entries(spec.properties).map(([name, schema]) => [name, flatten(document, schema)]),
  );
  const fields = Object.keys(properties);
  const description = String(spec.description ?? "");

  // Selection modes.
  const modesText = prose(description, /At most one of ((?:`\w+`(?:, | or |, or )?)+)/, "the selection modes")[1];
  const modes = [...modesText.matchAll(/`(\w+)`/g)].map((m) => String(m[1]));
  for (const mode of modes) if (!properties[mode]) fail(`selection mode ${mode} is not a property`);
  if (modes.length < 2) fail("fewer than two selection modes");

  // Image formats.
  const format = properties.format;
  if (!format || !Array.isArray(format.enum) || format.enum.length === 0) fail("`format` has no enum");
  /** @type {string[]} */
  const formats = format.enum.map(String);
  const defaultFormat = String(format.default ?? prose(format.description, /\(default `?(\w+)`?\)/, "the default format")[1]);
  if (!formats.includes(defaultFormat)) fail(`default format ${defaultFormat} is not one of ${formats.join(", ")}`);

  // Integer ranges and string patterns.
  /** @type {Record<string, { minimum: number; maximum: number }>} */
  const limits = {};
  /** @type {Record<string, string>} */
  const patterns = {};
  for (const [name, schema] of Object.entries(properties)) {
    if (schema.type === "integer") {
      if (typeof schema.minimum !== "number" || typeof schema.maximum !== "number") {
        fail(`integer field ${name} lacks a minimum or a maximum`);
      }
      limits[name] = { minimum: schema.minimum, maximum: schema.maximum };
    }
    if (schema.type === "string" && typeof schema.pattern === "string") {
      new RegExp(schema.pattern); // throws on a pattern JavaScript cannot run
      patterns[name] = schema.pattern;
    }
  }
  for (const mode of modes) {
    if (properties[mode]?.type === "string" && !patterns[mode]) fail(`selection mode ${mode} has no pattern`);
  }

  const quality = properties.quality;
  const qualityLimits = limits.quality;
  if (!quality || !qualityLimits) fail("no `quality` range");
  const defaultQuality = Number(quality.default ?? prose(quality.description, /\(default (\d+)\)/, "the default quality")[1]);
  if (!(defaultQuality >= qualityLimits.minimum && defaultQuality <= qualityLimits.maximum)) {
    fail(`default quality ${defaultQuality} is out of its range`);
  }

  const maxFps = Number(prose(description, /at most (\d+) frames per second/, "the highest frame rate")[1]);

  // The selection a spec without one gets: the schema's `default` when it has one, else its prose
  // ("with none ...: one PNG per second" = fps 1, whose format must be the default format).
  /** @type {{ mode: string; value: string }} */
  let defaultSelection;
  const objectDefault = spec.default;
  const defaultMode = objectDefault && modes.find((mode) => objectDefault[mode] !== undefined);
  if (defaultMode) {
    defaultSelection = { mode: defaultMode, value: String(objectDefault[defaultMode]) };
  } else {
    const said = prose(description, /with none [^:]*: one (\w+) per second/i, "the default selection")[1];
    if (String(said).toLowerCase() !== defaultFormat) fail(`the default selection's format ${said} is not ${defaultFormat}`);
    if (!modes.includes("fps")) fail("the default selection is per second but there is no `fps` mode");
    defaultSelection = { mode: "fps", value: "1" };
  }

  /** @param {unknown} value */
  const js = (value) => JSON.stringify(value);
  /** @param {readonly string[]} list */
  const tuple = (list) => `[${list.map(js).join(", ")}]`;
  const limitLines = Object.entries(limits).map(
    ([name, range]) => `  ${name}: { minimum: ${range.minimum}, maximum: ${range.maximum} },`,
  );
  const patternLines = Object.entries(patterns).map(([name, pattern]) => `  ${name}: new RegExp(${js(pattern)}),`);

  return `// GENERATED by scripts/gen-spec.mjs from ../schemas/openapi.json (components.schemas.${SCHEMA}); do not edit.
// \`npm run gen:api\` rewrites it; \`npm run check:api\` (in \`make test\`) fails when it is stale.
import type { components } from "./schema";

type Spec = components["schemas"]["${SCHEMA}"];

/** Every field of a spec, in the document's order (the order of the query parameters sent). */
export const SPEC_FIELDS = ${tuple(fields)} as const satisfies readonly (keyof Spec)[];

/** The selection modes: a spec has at most one of them. */
export const SELECTION_MODES = ${tuple(modes)} as const satisfies readonly (keyof Spec)[];

/** What a spec without a selection extracts. */
export const DEFAULT_SELECTION = { mode: ${js(defaultSelection.mode)}, value: ${js(defaultSelection.value)} } as const satisfies {
  mode: (typeof SELECTION_MODES)[number];
  value: string;
};

/** The image formats. */
export const FORMATS = ${tuple(formats)} as const satisfies readonly NonNullable<Spec["format"]>[];

/** The format of a spec without one. */
export const DEFAULT_FORMAT = ${js(defaultFormat)} as const satisfies (typeof FORMATS)[number];

/** The JPEG quality of a spec without one. */
export const DEFAULT_QUALITY = ${defaultQuality};

/** The highest rate a selection may ask for, in frames per second (\`fps\`, or 1 / \`every\`). */
export const MAX_FPS = ${maxFps};

/** The range of each integer field, bounds included. */
export const LIMITS = {
${limitLines.join("\n")}
} as const satisfies Partial<Record<keyof Spec, { minimum: number; maximum: number }>>;

/** The pattern of each string field. */
export const PATTERNS = {
${patternLines.join("\n")}
} as const satisfies Partial<Record<keyof Spec, RegExp>>;
`;
}

/** @param {string} path @returns {string} */
function generate(path) {
  return specModule(JSON.parse(readFileSync(path, "utf8")));
}

function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf("--openapi");
  const document = at >= 0 ? resolve(String(args[at + 1])) : DOCUMENT;
  const text = generate(document);
  if (!args.includes("--check")) {
    writeFileSync(OUTPUT, text);
    console.log(`src/api/spec-schema.ts written from ${document}`);
    return;
  }
  /** @type {string | undefined} */
  let committed;
  try {
    committed = readFileSync(OUTPUT, "utf8");
  } catch {
    committed = undefined;
  }
  if (committed !== text) {
    console.error(
      "src/api/spec-schema.ts is stale: schemas/openapi.json changed. Run `npm run gen:api` in web/ and commit the result.",
    );
    process.exit(1);
  }
  console.log("src/api/spec-schema.ts matches schemas/openapi.json");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
