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
// Most rules are JSON Schema keywords (`minimum`, `maximum`, `pattern`, `minLength`/`maxLength`, `enum` behind
// `$ref`/`allOf`, `default` when present). The others are only in the schema's prose, which the generator reads with
// strict patterns and fails on when the wording changes, rather than guessing: the selection modes and the fields
// that go with one of them ("At most one selection: `fps`, `every`, ..., `scene` (with `min_gap`) or `keyframes`"),
// the highest rate ("at most 240 frames per second"), the number of positions of `at` ("`at` from 1 to 1000
// positions"), the range of the scene threshold ("`scene` above 0 and at most 1"), the storyboard's interval ("every
// N seconds (1 to 600, ...)") and the fields that go with it ("With `storyboard`: ..."), and the defaults ("(default
// `png`)", "(default 85)", "(default 0)", "(default 160)", "with none ...: one PNG per second") when the schema has no
// `default` keyword for them.
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

/**
 * The match of `pattern` in a description, its line breaks read as spaces.
 * @param {string} text @param {RegExp} pattern @param {string} what @returns {RegExpExecArray}
 */
function prose(text, pattern, what) {
  const match = pattern.exec(String(text ?? "").replace(/\s+/g, " "));
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

  // Selection modes, each with the fields that go only with it ("`scene` (with `min_gap`)").
  const modesText = prose(
    description,
    /At most one (?:of|selection:) ((?:`\w+`(?: \(with `\w+`(?:(?:, | and )`\w+`)*\))?(?:, | or |, or )?)+)/,
    "the selection modes",
  )[1];
  /** @type {string[]} */
  const modes = [];
  /** @type {Record<string, string[]>} */
  const companions = {};
  for (const m of modesText.matchAll(/`(\w+)`(?: \(with ([^)]*)\))?/g)) {
    const mode = String(m[1]);
    modes.push(mode);
    if (m[2]) companions[mode] = [...m[2].matchAll(/`(\w+)`/g)].map((c) => String(c[1]));
  }
  for (const mode of modes) if (!properties[mode]) fail(`selection mode ${mode} is not a property`);
  if (modes.length < 2) fail("fewer than two selection modes");
  for (const field of Object.values(companions).flat()) {
    if (!properties[field]) fail(`${field}, said to go with a selection mode, is not a property`);
    if (modes.includes(field)) fail(`${field} is both a selection mode and a field of one`);
  }

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
  /** @type {Record<string, { minimum: number; maximum: number }>} */
  const lengths = {};
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
    if (schema.type === "string" && (schema.minLength !== undefined || schema.maxLength !== undefined)) {
      if (typeof schema.minLength !== "number" || typeof schema.maxLength !== "number") {
        fail(`string field ${name} lacks a minLength or a maxLength`);
      }
      lengths[name] = { minimum: schema.minLength, maximum: schema.maxLength };
    }
  }
  for (const mode of modes) {
    const type = properties[mode]?.type;
    if (type === "string" && !patterns[mode] && !lengths[mode]) {
      fail(`selection mode ${mode} has no pattern nor length`);
    }
    if (type !== "string" && type !== "integer" && type !== "boolean") fail(`selection mode ${mode} is a ${type}`);
  }
  /** The selection modes that are a flag (`keyframes: true`) rather than a value. */
  const flagModes = modes.filter((mode) => properties[mode]?.type === "boolean");

  const quality = properties.quality;
  const qualityLimits = limits.quality;
  if (!quality || !qualityLimits) fail("no `quality` range");
  const defaultQuality = Number(quality.default ?? prose(quality.description, /\(default (\d+)\)/, "the default quality")[1]);
  if (!(defaultQuality >= qualityLimits.minimum && defaultQuality <= qualityLimits.maximum)) {
    fail(`default quality ${defaultQuality} is out of its range`);
  }

  const maxFps = Number(prose(description, /at most (\d+) frames per second/, "the highest frame rate")[1]);

  // The number of positions `at` may list, and the range of the scene threshold (whole bounds, so that the form
  // compares them exactly with the rational typed).
  const positionsMatch = prose(description, /`at` from (\d+) to (\d+) positions/, "the number of positions of `at`");
  const positions = { minimum: Number(positionsMatch[1]), maximum: Number(positionsMatch[2]) };
  if (!modes.includes("at")) fail("the positions of `at` are limited but `at` is not a selection mode");
  if (!(positions.minimum >= 1 && positions.minimum <= positions.maximum)) fail("the positions of `at` have no range");
  const sceneMatch = prose(description, /`scene` above (\d+) and at most (\d+)/, "the range of the scene threshold");
  const scene = { above: Number(sceneMatch[1]), maximum: Number(sceneMatch[2]) };
  if (!modes.includes("scene")) fail("the scene threshold has a range but `scene` is not a selection mode");
  if (!(scene.above < scene.maximum)) fail("the scene threshold has an empty range");
  if (!patterns.scene) fail("`scene` has no pattern");

  // The default of each field that goes with a mode ("(default 0)"), as it is typed.
  /** @type {Record<string, string>} */
  const companionDefaults = {};
  for (const field of Object.values(companions).flat()) {
    const schema = properties[field] ?? {};
    const said = () => prose(schema.description, /\(default `?([^)`\s]+)`?\)/, `the default ${field}`)[1];
    const value = String(schema.default ?? said());
    if (patterns[field] && !new RegExp(patterns[field]).test(value)) {
      fail(`the default ${field} ${value} is not of its pattern`);
    }
    companionDefaults[field] = value;
  }

  // The storyboard (scrub previews, beside the selection): the range of its interval is only in its description
  // ("a small frame every N seconds (1 to 600, e.g. `10`)"; whole bounds, so that the form compares them exactly with
  // the rational typed), and the fields that go only with it are the integers whose description starts with
  // "With `storyboard`:", each with its default in its prose ("(default 160)") when the schema has no `default`.
  const storyboard = properties.storyboard;
  if (!storyboard) fail("no `storyboard` field");
  if (!patterns.storyboard) fail("`storyboard` has no pattern");
  const storyboardMatch = prose(storyboard.description, /\((\d+) to (\d+)\b/, "the range of the storyboard interval");
  const storyboardSeconds = { minimum: Number(storyboardMatch[1]), maximum: Number(storyboardMatch[2]) };
  if (!(storyboardSeconds.minimum >= 1 && storyboardSeconds.minimum <= storyboardSeconds.maximum)) {
    fail("the storyboard interval has no range");
  }
  /** @type {Record<string, number>} */
  const storyboardFields = {};
  for (const [name, schema] of Object.entries(properties)) {
    if (!/^With `storyboard`:/.test(String(schema.description ?? "").trim())) continue;
    const range = limits[name];
    if (!range) fail(`${name}, said to go with \`storyboard\`, is not an integer with a range`);
    if (modes.includes(name)) fail(`${name} is both a selection mode and a field of the storyboard`);
    const said = () => prose(schema.description, /\(default (\d+)\)/, `the default ${name}`)[1];
    const value = Number(schema.default ?? said());
    if (!(value >= range.minimum && value <= range.maximum)) fail(`the default ${name} ${value} is out of its range`);
    storyboardFields[name] = value;
  }
  if (Object.keys(storyboardFields).length === 0) fail("no field goes with `storyboard`");

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
  const lengthLines = Object.entries(lengths).map(
    ([name, range]) => `  ${name}: { minimum: ${range.minimum}, maximum: ${range.maximum} },`,
  );
  const companionLines = Object.entries(companions).map(([mode, fields]) => `  ${mode}: ${tuple(fields)},`);
  const companionDefaultLines = Object.entries(companionDefaults).map(([name, value]) => `  ${name}: ${js(value)},`);
  const storyboardLines = Object.entries(storyboardFields).map(([name, value]) => `  ${name}: ${value},`);

  return `// GENERATED by scripts/gen-spec.mjs from ../schemas/openapi.json (components.schemas.${SCHEMA}); do not edit.
// \`npm run gen:api\` rewrites it; \`npm run check:api\` (in \`make test\`) fails when it is stale.
import type { components } from "./schema";

type Spec = components["schemas"]["${SCHEMA}"];

/** Every field of a spec, in the document's order (the order of the query parameters sent). */
export const SPEC_FIELDS = ${tuple(fields)} as const satisfies readonly (keyof Spec)[];

/** The selection modes: a spec has at most one of them. */
export const SELECTION_MODES = ${tuple(modes)} as const satisfies readonly (keyof Spec)[];

/** The selection modes that are a flag (\`true\`) rather than a value. */
export const FLAG_MODES = ${tuple(flagModes)} as const satisfies readonly (typeof SELECTION_MODES)[number][];

/** The fields that go only with one selection mode (and are refused without it). */
export const MODE_FIELDS = {
${companionLines.join("\n")}
} as const satisfies Partial<Record<(typeof SELECTION_MODES)[number], readonly (keyof Spec)[]>>;

/** What each field of MODE_FIELDS is when left out, as it is typed. */
export const MODE_FIELD_DEFAULTS = {
${companionDefaultLines.join("\n")}
} as const satisfies Partial<Record<keyof Spec, string>>;

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

/** How many positions \`at\` lists, bounds included. */
export const POSITIONS = { minimum: ${positions.minimum}, maximum: ${positions.maximum} } as const;

/** The scene threshold's range: above \`above\`, at most \`maximum\`. */
export const SCENE_THRESHOLD = { above: ${scene.above}, maximum: ${scene.maximum} } as const;

/** The storyboard's interval (\`storyboard\`: seconds between two tiles of the scrub previews), bounds included. */
export const STORYBOARD_SECONDS = { minimum: ${storyboardSeconds.minimum}, maximum: ${storyboardSeconds.maximum} } as const;

/** The fields that go only with \`storyboard\` (and are refused without it), and what each is when left out. */
export const STORYBOARD_FIELDS = {
${storyboardLines.join("\n")}
} as const satisfies Partial<Record<keyof Spec, number>>;

/** The range of each integer field, bounds included. */
export const LIMITS = {
${limitLines.join("\n")}
} as const satisfies Partial<Record<keyof Spec, { minimum: number; maximum: number }>>;

/** The pattern of each string field. */
export const PATTERNS = {
${patternLines.join("\n")}
} as const satisfies Partial<Record<keyof Spec, RegExp>>;

/** The length of each string field with one, in characters, bounds included. */
export const LENGTHS = {
${lengthLines.join("\n")}
} as const satisfies Partial<Record<keyof Spec, { minimum: number; maximum: number }>>;
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
