import { describe, expect, it, vi } from "vitest";
import { ApiError, authenticatedFetch, createApi, errorFrom, retryAfterSecs, unwrap } from "../src/api/client";
import { frameHref } from "../src/api/frames";
import { SessionStore } from "../src/api/session";
import { memoryStorage } from "./memory-storage";
import { errorText } from "../src/errors";
import { DICTIONARIES, type MessageKey, type PluralKey, isPluralKey, localeFor, makeI18n, pluralForm, translator } from "../src/i18n";
import { parseRoute, shareUrl } from "../src/router";
import {
  DEFAULT_SPEC,
  type ExtractionSpec,
  LENGTHS,
  LIMITS,
  MAX_FPS,
  MODE_VALUES,
  POSITIONS,
  SELECTION_MODES,
  STORYBOARD_FIELDS,
  STORYBOARD_SECONDS,
  type SpecForm,
  describeSpec,
  fromSpec,
  positionsProblem,
  toSpec,
  validateSpec,
} from "../src/spec";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("extraction spec", () => {
  const en = translator("en");

  it("defaults to the monolith's one PNG per second", () => {
    expect(toSpec(DEFAULT_SPEC)).toEqual({ fps: "1", format: "png" });
    expect(validateSpec(DEFAULT_SPEC)).toEqual([]);
  });

  it("accepts fractions and rejects nonsense", () => {
    expect(validateSpec({ ...DEFAULT_SPEC, value: "30000/1001" })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "0.5" })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "0" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "1/0" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "abc" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "count", value: "2.5" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, format: "jpeg", quality: "101" })).toEqual(["quality"]);
    expect(validateSpec({ ...DEFAULT_SPEC, maxWidth: "-4" })).toEqual(["maxWidth"]);
  });

  it("sends quality only for JPEG and max_width only when set", () => {
    const spec = toSpec({ ...DEFAULT_SPEC, mode: "count", value: "12", format: "jpeg", quality: "70", maxWidth: "640" });
    expect(spec).toEqual({ count: 12, format: "jpeg", quality: 70, max_width: 640 });
    expect(toSpec({ ...DEFAULT_SPEC, format: "webp", quality: "70" })).not.toHaveProperty("quality");
  });

  it("describes a video's spec in the shape the API returns", () => {
    expect(describeSpec({ fps: "1", format: "png" }, en)).toBe("1 fps · png");
    expect(describeSpec({ fps: "30000/1001", format: "webp" }, en)).toBe("30000/1001 fps · webp");
    expect(describeSpec({ fps: "1/2", format: "png" }, en)).toBe("0.5 fps · png");
    expect(describeSpec({ every: "5/2", format: "jpeg", quality: 80, max_width: 320 }, en)).toBe(
      "1 / 2.5 s · jpeg q80 · ≤ 320 px",
    );
    expect(describeSpec({ count: 12, format: "png" }, en)).toBe("12 × · png");
    expect(describeSpec({ count: 5, format: "webp", max_height: 90 }, en)).toBe("5 × · webp · ≤ 90 px ↕");
    // An accepted upload shown before the read model has it: no spec yet, the API's default format.
    expect(describeSpec({}, en)).toBe("png");
  });

  it("sends the form as the API's ExtractionSpec", () => {
    expect(toSpec(DEFAULT_SPEC)).toEqual({ fps: "1", format: "png" });
    expect(toSpec({ ...DEFAULT_SPEC, mode: "every", value: " 5/2 ", format: "jpeg", quality: "80", maxWidth: "320" })).toEqual({
      every: "5/2",
      format: "jpeg",
      quality: 80,
      max_width: 320,
    });
    expect(toSpec({ ...DEFAULT_SPEC, mode: "count", value: "5", format: "webp" })).toEqual({ count: 5, format: "webp" });
  });

  it("takes a maximum height next to the maximum width, within the generated limits", () => {
    expect(toSpec({ ...DEFAULT_SPEC, maxWidth: "640", maxHeight: "360" })).toEqual({
      fps: "1",
      format: "png",
      max_width: 640,
      max_height: 360,
    });
    expect(toSpec({ ...DEFAULT_SPEC, maxHeight: " 90 " })).toEqual({ fps: "1", format: "png", max_height: 90 });
    expect(toSpec({ ...DEFAULT_SPEC, maxHeight: "" })).not.toHaveProperty("max_height");
    const height = (value: string) => validateSpec({ ...DEFAULT_SPEC, maxHeight: value });
    expect(height(String(LIMITS.max_height.minimum))).toEqual([]);
    expect(height(String(LIMITS.max_height.maximum))).toEqual([]);
    expect(height(String(LIMITS.max_height.minimum - 1))).toEqual(["maxHeight"]);
    expect(height(String(LIMITS.max_height.maximum + 1))).toEqual(["maxHeight"]);
    expect(height("12.5")).toEqual(["maxHeight"]);
    expect(height("tall")).toEqual(["maxHeight"]);
    expect(validateSpec({ ...DEFAULT_SPEC, maxWidth: "8", maxHeight: "8" })).toEqual(["maxWidth", "maxHeight"]);
  });

  it("holds a video's spec in the form, so that sending it unchanged asks for the same extraction", () => {
    const specs = [
      { fps: "30000/1001", format: "webp" as const },
      { every: "5/2", format: "jpeg" as const, quality: 80, max_width: 320 },
      { count: 12, format: "png" as const, max_height: 90 },
      { count: 5, format: "jpeg" as const, quality: 85, max_width: 640, max_height: 480 },
    ];
    for (const spec of specs) {
      expect(validateSpec(fromSpec(spec)), JSON.stringify(spec)).toEqual([]);
      expect(toSpec(fromSpec(spec))).toEqual(spec);
    }
    expect(fromSpec({ every: "5/2", format: "jpeg", quality: 80, max_width: 320 })).toEqual({
      mode: "every",
      value: "5/2",
      minGap: "0",
      format: "jpeg",
      quality: "80",
      maxWidth: "320",
      maxHeight: "",
      storyboard: false,
      storyboardEvery: "10",
      storyboardWidth: "160",
      storyboardColumns: "5",
      storyboardRows: "5",
    });
    // A PNG spec keeps the API's JPEG quality ready in case the user picks JPEG; nothing at all is the defaults.
    expect(fromSpec({ fps: "2", format: "png" }).quality).toBe("85");
    expect(fromSpec({})).toEqual(DEFAULT_SPEC);
    expect(fromSpec(null)).toEqual(DEFAULT_SPEC);
  });

  it("refuses what the generated limits refuse, and accepts their bounds", () => {
    const count = (value: number) => validateSpec({ ...DEFAULT_SPEC, mode: "count", value: String(value) });
    expect(count(LIMITS.count.minimum)).toEqual([]);
    expect(count(LIMITS.count.maximum)).toEqual([]);
    expect(count(LIMITS.count.minimum - 1)).toEqual(["value"]);
    expect(count(LIMITS.count.maximum + 1)).toEqual(["value"]);
    expect(count(100001)).toEqual(["value"]);

    const width = (value: number) => validateSpec({ ...DEFAULT_SPEC, maxWidth: String(value) });
    expect(width(LIMITS.max_width.minimum)).toEqual([]);
    expect(width(LIMITS.max_width.maximum)).toEqual([]);
    expect(width(8)).toEqual(["maxWidth"]);
    expect(width(LIMITS.max_width.minimum - 1)).toEqual(["maxWidth"]);
    expect(width(LIMITS.max_width.maximum + 1)).toEqual(["maxWidth"]);

    const quality = (value: number) => validateSpec({ ...DEFAULT_SPEC, format: "jpeg", quality: String(value) });
    expect(quality(LIMITS.quality.minimum)).toEqual([]);
    expect(quality(LIMITS.quality.maximum)).toEqual([]);
    expect(quality(LIMITS.quality.minimum - 1)).toEqual(["quality"]);
    expect(quality(LIMITS.quality.maximum + 1)).toEqual(["quality"]);

    // At most MAX_FPS frames per second, asked as a rate or as a period.
    expect(validateSpec({ ...DEFAULT_SPEC, value: String(MAX_FPS) })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: String(MAX_FPS + 1) })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: `${MAX_FPS * 1001 + 1}/1001` })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "every", value: `1/${MAX_FPS}` })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "every", value: `1/${MAX_FPS + 1}` })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "every", value: "0.001" })).toEqual(["value"]);
    // The document's pattern: at most six decimals, no signs or exponents.
    expect(validateSpec({ ...DEFAULT_SPEC, value: ".25" })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "0.1234567" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "1e2" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "-1" })).toEqual(["value"]);
    // Several problems at once, each pointing at its field.
    expect(
      validateSpec({
        ...DEFAULT_SPEC,
        mode: "count",
        value: "0",
        minGap: "0",
        format: "jpeg",
        quality: "0",
        maxWidth: String(LIMITS.max_width.maximum + 1),
        maxHeight: "",
      }),
    ).toEqual(["value", "quality", "maxWidth"]);
  });
});

describe("extraction spec: frames at positions, scene changes, keyframes", () => {
  const en = translator("en");
  const pt = translator("pt-BR");
  const form = (change: Partial<SpecForm>): SpecForm => ({ ...DEFAULT_SPEC, ...change });
  const at = (value: string) => validateSpec(form({ mode: "at", value }));
  const scene = (value: string, minGap = "") => validateSpec(form({ mode: "scene", value, minGap }));

  it("takes positions as the server reads them: first, last, seconds, [[H:]M:]S times and percentages", () => {
    for (const good of [
      "first",
      "last",
      "0",
      "12.5",
      "125",
      "0.000001",
      "1:05",
      "01:02:03.250",
      "1:59:59.999999",
      "100:00:00",
      "0%",
      "10%",
      "12.5%",
      "100%",
      "1/3%",
      " 50 %",
      "first, 00:00:02.5, 50%, last",
      "last,first",
      " first , 1:05 ,10% ",
    ]) {
      expect(at(good), good).toEqual([]);
      expect(positionsProblem(good), good).toBeNull();
    }
    for (const bad of [
      "First",
      "LAST",
      "soon",
      "1:60",
      "1:75",
      "1:60:00",
      "1:2:3:4",
      "12.",
      ".5",
      "1.1234567",
      "-1",
      "1e3",
      "1 :05",
      "101%",
      "100.5%",
      "1/0%",
      "%",
      "10%%",
      "first 10%",
      "99999999999999999999",
    ]) {
      expect(at(bad), bad).toEqual(["value"]);
      expect(positionsProblem(bad), bad).toEqual({ kind: "position", position: bad.trim() });
    }
  });

  it("says which position is wrong, and refuses an empty item, an empty list and too many positions", () => {
    expect(positionsProblem("first, soon, 1:75")).toEqual({ kind: "position", position: "soon" });
    expect(positionsProblem("1, 2,")).toEqual({ kind: "empty" });
    expect(positionsProblem("1,,2")).toEqual({ kind: "empty" });
    expect(positionsProblem("")).toEqual({ kind: "count" });
    expect(positionsProblem("  ")).toEqual({ kind: "count" });
    expect(at("")).toEqual(["value"]);
    const list = (n: number) => Array.from({ length: n }, (_, i) => String(i)).join(",");
    expect(positionsProblem(list(POSITIONS.maximum))).toBeNull();
    expect(at(list(POSITIONS.maximum))).toEqual([]);
    expect(positionsProblem(list(POSITIONS.maximum + 1))).toEqual({ kind: "count" });
    expect(at(list(POSITIONS.maximum + 1))).toEqual(["value"]);
    expect(positionsProblem(`first${" ".repeat(LENGTHS.at.maximum)}`)).toEqual({ kind: "long" });
  });

  it("takes a scene threshold above 0 and at most 1, and a least gap of zero or more seconds", () => {
    for (const good of ["0.3", "1", "3/10", ".05", "0.000001", " 0.4 ", "1/1"]) expect(scene(good), good).toEqual([]);
    for (const bad of ["0", "0.0", "0/5", "1.5", "11/10", "2", "1/0", "abc", "-0.3", "", "0.1234567"]) {
      expect(scene(bad), bad).toEqual(["value"]);
    }
    for (const good of ["", "0", "2", "0.5", "5/2", " 3 "]) expect(scene("0.3", good), good).toEqual([]);
    for (const bad of ["-1", "x", "1/0", "1.1234567", "2s"]) expect(scene("0.3", bad), bad).toEqual(["minGap"]);
    expect(scene("0", "x")).toEqual(["value", "minGap"]);
    // The gap is only the scene mode's: another mode does not look at it.
    expect(validateSpec(form({ minGap: "x" }))).toEqual([]);
  });

  it("needs no value for keyframes", () => {
    expect(validateSpec(form({ mode: "keyframes", value: "" }))).toEqual([]);
    expect(validateSpec(form({ mode: "keyframes", value: "anything" }))).toEqual([]);
  });

  it("sends only the chosen mode's fields", () => {
    expect(toSpec(form({ mode: "at", value: " first, 00:00:02.5, 50% ", minGap: "2" }))).toEqual({
      at: "first, 00:00:02.5, 50%",
      format: "png",
    });
    expect(toSpec(form({ mode: "scene", value: " 0.3 ", minGap: " 2 ", format: "jpeg", quality: "70" }))).toEqual({
      scene: "0.3",
      min_gap: "2",
      format: "jpeg",
      quality: 70,
    });
    // An empty gap is the API's default: not sent.
    expect(toSpec(form({ mode: "scene", value: "0.3", minGap: "" }))).toEqual({ scene: "0.3", format: "png" });
    expect(toSpec(form({ mode: "keyframes", value: "1", minGap: "2", format: "webp", maxWidth: "640" }))).toEqual({
      keyframes: true,
      format: "webp",
      max_width: 640,
    });
    expect(toSpec(form({ mode: "fps", value: "2", minGap: "2" }))).toEqual({ fps: "2", format: "png" });
  });

  it("holds a video's spec of every mode in the form, so that sending it unchanged asks for the same extraction", () => {
    // As the API returns them: canonical positions, a scene spec always with its gap, keyframes as `true`.
    const specs: ExtractionSpec[] = [
      { fps: "30000/1001", format: "png" },
      { every: "5/2", format: "webp" },
      { count: 12, format: "jpeg", quality: 85 },
      { at: "first,00:00:02.500,50%", format: "png" },
      { at: "00:01:05.000,12.5%,last", format: "jpeg", quality: 70, max_height: 240 },
      { scene: "3/10", min_gap: "0", format: "png" },
      { scene: "1", min_gap: "2", format: "webp", max_width: 320 },
      { keyframes: true, format: "jpeg", quality: 85 },
    ];
    for (const spec of specs) {
      expect(validateSpec(fromSpec(spec)), JSON.stringify(spec)).toEqual([]);
      expect(toSpec(fromSpec(spec))).toEqual(spec);
    }
    expect(fromSpec({ scene: "3/10", min_gap: "2", format: "png" })).toMatchObject({ mode: "scene", value: "3/10", minGap: "2" });
    expect(fromSpec({ keyframes: true, format: "png" })).toMatchObject({ mode: "keyframes", value: MODE_VALUES.keyframes });
    expect(fromSpec({ at: "first,last", format: "png" })).toMatchObject({ mode: "at", value: "first,last", minGap: "0" });
    // `keyframes: false` is no selection: the API's default.
    expect(fromSpec({ keyframes: false, format: "png" })).toEqual(DEFAULT_SPEC);
    // Every mode, as the form offers it when picked, goes there and back.
    for (const mode of SELECTION_MODES) {
      const offered = form({ mode, value: MODE_VALUES[mode] });
      expect(validateSpec(offered), mode).toEqual([]);
      expect(fromSpec(toSpec(offered)).mode).toBe(mode);
      expect(toSpec(fromSpec(toSpec(offered)))).toEqual(toSpec(offered));
    }
  });

  it("describes the new modes in both languages", () => {
    const positions = { at: "first,00:00:02.500,50%", format: "png" } as const;
    expect(describeSpec(positions, en)).toBe("frames at first, 00:00:02.500, 50% · png");
    expect(describeSpec(positions, pt)).toBe("quadros em primeiro, 00:00:02.500, 50% · png");
    expect(describeSpec({ at: "00:00:01.000,last", format: "webp" }, pt)).toBe("quadros em 00:00:01.000, último · webp");
    const many = { at: "first,1%,2%,3%,4%,5%,6%,last", format: "png" } as const;
    expect(describeSpec(many, en)).toBe("frames at first, 1%, 2%, 3%, 4%, … (8 positions) · png");
    expect(describeSpec(many, pt)).toBe("quadros em primeiro, 1%, 2%, 3%, 4%, … (8 posições) · png");
    const cuts = { scene: "3/10", min_gap: "2", format: "jpeg", quality: 80 } as const;
    expect(describeSpec(cuts, en)).toBe("scene changes > 0.3 (≥ 2 s apart) · jpeg q80");
    expect(describeSpec(cuts, pt)).toBe("mudanças de cena > 0.3 (≥ 2 s entre si) · jpeg q80");
    expect(describeSpec({ scene: "3/10", min_gap: "0", format: "png" }, en)).toBe("scene changes > 0.3 · png");
    expect(describeSpec({ scene: "1", format: "png" }, pt)).toBe("mudanças de cena > 1 · png");
    expect(describeSpec({ scene: "2/5", min_gap: "1/2", format: "png" }, en)).toBe("scene changes > 0.4 (≥ 0.5 s apart) · png");
    expect(describeSpec({ keyframes: true, format: "webp", max_width: 320 }, en)).toBe("keyframes · webp · ≤ 320 px");
    expect(describeSpec({ keyframes: true, format: "webp" }, pt)).toBe("quadros-chave · webp");
    // The existing modes read the same in both languages.
    expect(describeSpec({ count: 12, format: "png" }, pt)).toBe("12 × · png");
  });
});

describe("extraction spec: scrub previews (storyboard)", () => {
  const en = translator("en");
  const pt = translator("pt-BR");
  const form = (change: Partial<SpecForm>): SpecForm => ({ ...DEFAULT_SPEC, storyboard: true, ...change });
  const every = (storyboardEvery: string) => validateSpec(form({ storyboardEvery }));

  it("is off by default, with the API's tile size and grid ready, and 10 s offered", () => {
    expect(DEFAULT_SPEC).toMatchObject({
      storyboard: false,
      storyboardEvery: "10",
      storyboardWidth: String(STORYBOARD_FIELDS.storyboard_width),
      storyboardColumns: String(STORYBOARD_FIELDS.storyboard_columns),
      storyboardRows: String(STORYBOARD_FIELDS.storyboard_rows),
    });
    expect(STORYBOARD_FIELDS).toEqual({ storyboard_width: 160, storyboard_columns: 5, storyboard_rows: 5 });
    expect(STORYBOARD_SECONDS).toEqual({ minimum: 1, maximum: 600 });
  });

  it("takes an interval from 1 to 600 seconds as the server reads it (a rational, compared exactly)", () => {
    for (const good of ["10", "1", "600", "2.5", " 30 ", "5/2", "1200/2", "1.000001", "599.999999", "1/1"]) {
      expect(every(good), good).toEqual([]);
    }
    for (const bad of ["0", "0.5", "0.999999", "600.000001", "601", "1201/2", "1/0", "0/0", "", "ten", "-5", "1e2", "10s", "1.1234567"]) {
      expect(every(bad), bad).toEqual(["storyboardEvery"]);
    }
  });

  it("takes a tile width, columns and rows within the generated limits, each pointing at its field", () => {
    const width = (storyboardWidth: string) => validateSpec(form({ storyboardWidth }));
    expect(width(String(LIMITS.storyboard_width.minimum))).toEqual([]);
    expect(width(String(LIMITS.storyboard_width.maximum))).toEqual([]);
    expect(width(String(LIMITS.storyboard_width.minimum - 1))).toEqual(["storyboardWidth"]);
    expect(width(String(LIMITS.storyboard_width.maximum + 1))).toEqual(["storyboardWidth"]);
    expect(width("")).toEqual(["storyboardWidth"]);
    expect(width("96.5")).toEqual(["storyboardWidth"]);
    for (const side of ["storyboardColumns", "storyboardRows"] as const) {
      const field = side === "storyboardColumns" ? "storyboard_columns" : "storyboard_rows";
      expect(validateSpec(form({ [side]: String(LIMITS[field].maximum) }))).toEqual([]);
      expect(validateSpec(form({ [side]: "0" }))).toEqual([side]);
      expect(validateSpec(form({ [side]: String(LIMITS[field].maximum + 1) }))).toEqual([side]);
    }
    expect(validateSpec(form({ value: "0", storyboardEvery: "0", storyboardRows: "21" }))).toEqual([
      "value",
      "storyboardEvery",
      "storyboardRows",
    ]);
    // Off, its fields are not looked at.
    expect(validateSpec(form({ storyboard: false, storyboardEvery: "0", storyboardWidth: "1" }))).toEqual([]);
  });

  it("sends its four fields only when asked for", () => {
    expect(toSpec(DEFAULT_SPEC)).toEqual({ fps: "1", format: "png" });
    expect(toSpec({ ...DEFAULT_SPEC, storyboardEvery: "5", storyboardWidth: "96" })).toEqual({ fps: "1", format: "png" });
    expect(toSpec(form({}))).toEqual({
      fps: "1",
      format: "png",
      storyboard: "10",
      storyboard_width: 160,
      storyboard_columns: 5,
      storyboard_rows: 5,
    });
    expect(
      toSpec(form({ mode: "keyframes", storyboardEvery: " 2.5 ", storyboardWidth: " 96 ", storyboardColumns: "4", storyboardRows: "2" })),
    ).toEqual({
      keyframes: true,
      format: "png",
      storyboard: "2.5",
      storyboard_width: 96,
      storyboard_columns: 4,
      storyboard_rows: 2,
    });
  });

  it("holds a video's spec with a storyboard in the form, so that sending it unchanged asks for the same", () => {
    // As the API returns them: all four fields, the interval a reduced rational.
    const specs: ExtractionSpec[] = [
      { fps: "1", format: "png", storyboard: "10", storyboard_width: 160, storyboard_columns: 5, storyboard_rows: 5 },
      { every: "5/2", format: "jpeg", quality: 80, storyboard: "5/2", storyboard_width: 96, storyboard_columns: 4, storyboard_rows: 2 },
      { scene: "3/10", min_gap: "2", format: "webp", max_width: 320, storyboard: "600", storyboard_width: 640, storyboard_columns: 20, storyboard_rows: 1 },
    ];
    for (const spec of specs) {
      expect(validateSpec(fromSpec(spec)), JSON.stringify(spec)).toEqual([]);
      expect(toSpec(fromSpec(spec))).toEqual(spec);
    }
    expect(fromSpec(specs[1])).toMatchObject({
      storyboard: true,
      storyboardEvery: "5/2",
      storyboardWidth: "96",
      storyboardColumns: "4",
      storyboardRows: "2",
    });
    // Without one: off, the defaults ready in case it is turned on.
    expect(fromSpec({ fps: "1", format: "png" })).toMatchObject({ storyboard: false, storyboardEvery: "10", storyboardWidth: "160" });
    // A storyboard without its size (a spec written by hand): the API's defaults, said outright.
    expect(toSpec(fromSpec({ fps: "1", format: "png", storyboard: "30" }))).toEqual({
      fps: "1",
      format: "png",
      storyboard: "30",
      storyboard_width: 160,
      storyboard_columns: 5,
      storyboard_rows: 5,
    });
  });

  it("is in the description of a spec, in both languages", () => {
    const spec = { fps: "1", format: "png", storyboard: "10", storyboard_width: 160, storyboard_columns: 5, storyboard_rows: 5 } as const;
    expect(describeSpec(spec, en)).toBe("1 fps · png · scrub previews every 10 s");
    expect(describeSpec(spec, pt)).toBe("1 fps · png · prévias de navegação a cada 10 s");
    expect(describeSpec({ keyframes: true, format: "webp", storyboard: "5/2" }, en)).toBe("keyframes · webp · scrub previews every 2.5 s");
    expect(describeSpec({ fps: "1", format: "png" }, en)).not.toMatch(/scrub/);
  });
});

describe("languages", () => {
  it("picks pt-BR for any Portuguese browser, English otherwise", () => {
    expect(localeFor(["pt-BR", "en"])).toBe("pt-BR");
    expect(localeFor(["pt-PT"])).toBe("pt-BR");
    expect(localeFor(["fr-FR", "en-US"])).toBe("en");
    expect(localeFor(["de"])).toBe("en");
  });

  it("has every message in both languages, with the same placeholders", () => {
    const en = DICTIONARIES.en;
    const pt = DICTIONARIES["pt-BR"];
    expect(Object.keys(pt).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(names(pt[key]), key).toEqual(names(en[key]));
    }
  });

  it("fills placeholders", () => {
    expect(translator("pt-BR")("upload.sending", { percent: 42 })).toBe("Enviando 42%");
    expect(translator("en")("live.frames", { done: 3, count: 10 })).toBe("3 of 10 frames");
  });
});

describe("plurals", () => {
  const en = translator("en");
  const pt = translator("pt-BR");

  it("say 1 frame and 2 frames in English, 1 quadro and 2 quadros in Portuguese", () => {
    expect([0, 1, 2, 10].map((count) => en("live.framesDone", { count }))).toEqual(["0 frames", "1 frame", "2 frames", "10 frames"]);
    expect([1, 2, 10].map((count) => pt("live.framesDone", { count }))).toEqual(["1 quadro", "2 quadros", "10 quadros"]);
    expect(en("live.frames", { done: 0, count: 1 })).toBe("0 of 1 frame");
    expect(en("live.frames", { done: 1, count: 2 })).toBe("1 of 2 frames");
    expect(pt("live.frames", { done: 0, count: 1 })).toBe("0 de 1 quadro");
    expect(pt("live.frames", { done: 3, count: 10 })).toBe("3 de 10 quadros");
    expect([1, 3].map((count) => en("count.attempts", { count }))).toEqual(["1 attempt", "3 attempts"]);
    expect([1, 3].map((count) => pt("count.attempts", { count }))).toEqual(["1 tentativa", "3 tentativas"]);
    expect([1, 30].map((count) => en("count.seconds", { count }))).toEqual(["1 second", "30 seconds"]);
    expect([1, 30].map((count) => pt("count.seconds", { count }))).toEqual(["1 segundo", "30 segundos"]);
    expect([1, 7].map((count) => pt("count.days", { count }))).toEqual(["1 dia", "7 dias"]);
    expect(en("count.hours", { count: 1 })).toBe("1 hour");
  });

  it("follow each language's Intl.PluralRules, falling back to the `other` form", () => {
    // English: 0 is plural; Portuguese (CLDR): 0 and 1 are singular.
    expect(pluralForm("en", "live.framesDone", 0)).toBe("live.framesDone.other");
    expect(pluralForm("pt-BR", "live.framesDone", 0)).toBe("live.framesDone.one");
    expect(pt("live.framesDone", { count: 0 })).toBe("0 quadro");
    // Portuguese has a `many` category (exact millions) the dictionaries do not spell out: the `other` form.
    expect(new Intl.PluralRules("pt-BR").select(1_000_000)).toBe("many");
    expect(pluralForm("pt-BR", "live.framesDone", 1_000_000)).toBe("live.framesDone.other");
    expect(pt("live.framesDone", { count: 1_000_000 })).toBe("1000000 quadros");
  });

  it("have an `other` form for every plural message, and only forms the languages' rules can pick", () => {
    const keys = Object.keys(DICTIONARIES.en) as MessageKey[];
    const bases = [...new Set(keys.filter((k) => /\.(zero|one|two|few|many|other)$/.test(k)).map((k) => k.replace(/\.[a-z]+$/, "")))];
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) {
      expect(isPluralKey(base), base).toBe(true);
      for (const locale of ["en", "pt-BR"] as const) {
        const categories = new Intl.PluralRules(locale).resolvedOptions().pluralCategories as string[];
        const forms = keys.filter((k) => k.startsWith(`${base}.`)).map((k) => k.slice(base.length + 1));
        expect(forms, `${locale} ${base}`).toContain("other");
        for (const form of forms) expect(categories, `${locale} ${base}.${form}`).toContain(form);
        expect(DICTIONARIES[locale][`${base}.other` as MessageKey]).toContain("{count}");
      }
    }
    // A plain message is not a plural one.
    expect(isPluralKey("upload.title")).toBe(false);
    const base: PluralKey = "live.frames";
    expect(isPluralKey(base)).toBe(true);
  });
});

describe("rate limits (429)", () => {
  const t = translator("en");

  it("reads Retry-After as seconds, or as an HTTP date", () => {
    expect(retryAfterSecs("30")).toBe(30);
    expect(retryAfterSecs(" 7 ")).toBe(7);
    expect(retryAfterSecs(null)).toBeUndefined();
    expect(retryAfterSecs("soon")).toBeUndefined();
    const now = Date.parse("2026-11-22T18:00:00Z");
    expect(retryAfterSecs("Sun, 22 Nov 2026 18:00:42 GMT", now)).toBe(42);
    expect(retryAfterSecs("Sun, 22 Nov 2026 17:00:00 GMT", now)).toBe(0);
  });

  it("keep the server's message and Retry-After in the ApiError of a call", async () => {
    const message = "you already have 2 videos waiting or processing (limit 2); retry when some finish";
    const base = async () =>
      new Response(JSON.stringify({ code: "rate_limited", message }), {
        status: 429,
        headers: { "Content-Type": "application/json", "Retry-After": "30" },
      });
    const api = createApi({ token: () => "t", renew: async () => false }, base);
    const error = await unwrap(api.GET("/api/v1/me")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "rate_limited", message, status: 429, retryAfter: 30 });
    expect((await errorFrom(await base())).retryAfter).toBe(30);
    // What the user reads: the server's message and the wait.
    expect(errorText(t, error)).toBe(`Too many requests (${message}). Try again in 30 seconds.`);
  });

  it("say the server's message, the wait in the user's language, or only the message when there is no wait", () => {
    const limited = (retryAfter?: number) => new ApiError("rate_limited", "too many attempts; retry later", 429, retryAfter);
    expect(errorText(t, limited(1))).toBe("Too many requests (too many attempts; retry later). Try again in 1 second.");
    expect(errorText(translator("pt-BR"), limited(5))).toBe(
      "Muitas requisições (too many attempts; retry later). Tente de novo em 5 segundos.",
    );
    expect(errorText(t, limited())).toBe("Too many requests (too many attempts; retry later). Wait a moment and try again.");
    expect(errorText(t, new ApiError("rate_limited", "", 429))).toBe("Too many requests (rate_limited). Wait a moment and try again.");
  });
});

describe("routes", () => {
  it("maps paths to screens, share tokens from the fragment", () => {
    const id = "0193a8f2-0000-7000-8000-00000000beef";
    expect(parseRoute("/")).toEqual({ name: "videos" });
    expect(parseRoute(`/videos/${id}`)).toEqual({ name: "video", id });
    expect(parseRoute("/videos/not-an-id")).toEqual({ name: "notFound" });
    expect(parseRoute(`/share/${id}`, "#token=abc%2Bdef")).toEqual({ name: "share", id, token: "abc+def" });
    const url = shareUrl("http://x", id, "a+b/c=");
    const parsed = new URL(url);
    expect(parseRoute(parsed.pathname, parsed.hash)).toEqual({ name: "share", id, token: "a+b/c=" });
  });
});

describe("authenticated fetch", () => {
  it("sends the bearer token and retries once after renewing an expired one", async () => {
    let token = "old";
    const renew = vi.fn(async () => {
      token = "new";
      return true;
    });
    const seen: string[] = [];
    const base = vi.fn(async (request: Request) => {
      seen.push(request.headers.get("Authorization") ?? "");
      return token === "old" ? json(401, { code: "token_expired", message: "expired" }) : json(200, { ok: true });
    });
    const fetcher = authenticatedFetch({ token: () => token, renew }, base);
    const response = await fetcher(new Request("http://x/api/v1/me", { method: "POST", body: "{}" }));
    expect(response.status).toBe(200);
    expect(seen).toEqual(["Bearer old", "Bearer new"]);
    expect(renew).toHaveBeenCalledTimes(1);
  });

  it("sends no token to the session endpoints and never renews from one (the refresh would wait on itself)", async () => {
    const renew = vi.fn(async () => true);
    const seen: (string | null)[] = [];
    const base = vi.fn(async (request: Request) => {
      seen.push(request.headers.get("Authorization"));
      return json(401, { code: "token_expired", message: "expired" });
    });
    const response = await authenticatedFetch({ token: () => "old", renew }, base)(
      new Request("http://x/api/v1/auth/refresh", { method: "POST", body: "{}" }),
    );
    expect(response.status).toBe(401);
    expect(seen).toEqual([null]);
    expect(renew).not.toHaveBeenCalled();
  });

  it("renews once after invalid_token too (rotated key, or a refusal by mistake), never twice", async () => {
    const renew = vi.fn(async () => true);
    const base = vi.fn(async () => json(401, { code: "invalid_token", message: "malformed" }));
    const response = await authenticatedFetch({ token: () => "t", renew }, base)(new Request("http://x/a"));
    expect(response.status).toBe(401);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(base).toHaveBeenCalledTimes(2);
  });

  it("does not renew on other 401 codes", async () => {
    const renew = vi.fn(async () => true);
    const base = vi.fn(async () => json(401, { code: "token_revoked", message: "revoked" }));
    const response = await authenticatedFetch({ token: () => "t", renew }, base)(new Request("http://x/"));
    expect(response.status).toBe(401);
    expect(renew).not.toHaveBeenCalled();
    expect((await errorFrom(response)).code).toBe("token_revoked");
  });
});

describe("session", () => {
  const user = { id: "u", email: "a@b.c", display_name: "A", locale: "en" as const, created_at: "2026-01-01T00:00:00Z" };
  const session = (access: string, refresh: string) => ({
    access_token: access,
    access_expires_at: "2026-01-01T00:15:00Z",
    refresh_token: refresh,
    refresh_expires_at: "2026-01-02T00:00:00Z",
    token_type: "Bearer" as const,
    user,
  });

  it("keeps the access token in memory, the refresh token in storage, and renews once for many callers", async () => {
    const calls: string[] = [];
    const base = vi.fn(async (request: Request) => {
      calls.push(new URL(request.url).pathname);
      if (request.url.endsWith("/auth/login")) return json(200, session("a1", "r1"));
      const body = (await request.json()) as { refresh_token: string };
      expect(body.refresh_token).toBe("r1");
      return json(200, session("a2", "r2"));
    });
    const storage = new Map<string, string>();
    const fakeStorage = memoryStorage(storage);
    const store = new SessionStore(fakeStorage, base);
    await store.login("a@b.c", "password123");
    expect(store.token()).toBe("a1");
    expect([...storage.values()]).toEqual(["r1"]);
    const results = await Promise.all([store.renew(), store.renew(), store.renew()]);
    expect(results).toEqual([true, true, true]);
    expect(calls.filter((c) => c.endsWith("/refresh"))).toHaveLength(1);
    expect(store.token()).toBe("a2");
    expect([...storage.values()]).toEqual(["r2"]);
  });

  it("forgets everything when the refresh token is refused", async () => {
    const storage = new Map<string, string>([["fiapx.refresh_token", "stale"]]);
    const fakeStorage = memoryStorage(storage);
    const store = new SessionStore(fakeStorage, async () => json(401, { code: "invalid_token", message: "no" }));
    const seen: unknown[] = [];
    store.subscribe((u) => seen.push(u));
    expect(store.hasStoredSession()).toBe(true);
    expect(await store.renew()).toBe(false);
    expect(store.hasStoredSession()).toBe(false);
    expect(seen).toEqual([null]);
  });
});

describe("frames", () => {
  it("puts the token in an image's address (an <img> cannot send headers)", () => {
    const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    expect(frameHref("v 1", 0, sha, "a+b/c")).toBe("/api/v1/videos/v%201/frames/0?v=0123456789abcdef&access_token=a%2Bb%2Fc");
    // Another image at the same index (the video processed again) is another address.
    expect(frameHref("v", 12, "f".repeat(64), null)).toBe("/api/v1/videos/v/frames/12?v=ffffffffffffffff");
  });

  it("tells a time in a video as m:ss, with hundredths when there is a fraction, in the user's language", () => {
    const en = makeI18n("en", () => undefined);
    expect([0, 1, 2.5, 59.999, 61.25, 600].map(en.formatTime)).toEqual(["0:00", "0:01", "0:02.5", "1:00", "1:01.25", "10:00"]);
    expect(makeI18n("pt-BR", () => undefined).formatTime(2.5)).toBe("0:02,5");
  });
});
