// A completed video's storyboard (scrub previews), when its spec asked for one: GET /api/v1/videos/{id}/storyboard.vtt,
// a WebVTT file whose cues map a time range to a tile of a JPEG sprite sheet
// (`00:00:10.000 --> 00:00:20.000` then `storyboard/0.jpg#xywh=160,0,160,90`, the sheet relative to the .vtt), and
// GET /api/v1/videos/{id}/storyboard/{file}, a 302 to that sheet. This reads the cues and gives the sheets'
// addresses; the video page shows the tile of the time under its slider.

/** One cue: from `start` to `end` seconds, the tile at `x`,`y` (its top left corner), `w` by `h` pixels of `sheet`. */
export interface StoryboardCue {
  start: number;
  end: number;
  /** The sheet as the file names it (relative to the .vtt's address, e.g. `storyboard/0.jpg`). */
  sheet: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The address of a video's storyboard index (what its sheets are relative to). */
export function storyboardPath(videoId: string): string {
  return `/api/v1/videos/${encodeURIComponent(videoId)}/storyboard.vtt`;
}

/** A WebVTT timestamp, `[HH:]MM:SS.mmm` (hours of any length, minutes and seconds under 60), as seconds, or null. */
const TIMESTAMP = /^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$/;

function seconds(text: string): number | null {
  const match = TIMESTAMP.exec(text);
  if (!match) return null;
  const [, hours = "0", minutes = "0", secs = "0", millis = "0"] = match;
  return Number(hours) * 3600 + Number(minutes) * 60 + Number(secs) + Number(millis) / 1000;
}

/** `start --> end` (cue settings after the end allowed), or null. */
function timing(line: string): { start: number; end: number } | null {
  const match = /^(\S+)[ \t]+-->[ \t]+(\S+)(?:[ \t].*)?$/.exec(line.trim());
  if (!match) return null;
  const start = seconds(match[1] ?? "");
  const end = seconds(match[2] ?? "");
  return start !== null && end !== null && end > start ? { start, end } : null;
}

/** `<sheet>#xywh=x,y,w,h` (whole pixels, a tile at least 1 by 1), or null. */
function tile(line: string): Pick<StoryboardCue, "sheet" | "x" | "y" | "w" | "h"> | null {
  const match = /^([^#\s]+)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(line.trim());
  if (!match) return null;
  const [, sheet = "", x, y, w, h] = match;
  const box = { sheet, x: Number(x), y: Number(y), w: Number(w), h: Number(h) };
  return box.w > 0 && box.h > 0 ? box : null;
}

/**
 * The cues of a storyboard's WebVTT text, in time order. A cue is a timing line (`00:01.000 --> 00:02.000` or
 * `00:00:01.000 --> 00:00:02.000`, optionally after an identifier line) whose next line is a tile
 * (`storyboard/0.jpg#xywh=0,0,160,90`); anything else (the `WEBVTT` header, notes, a malformed timing or tile) is
 * skipped, so that what can be read is shown.
 */
export function parseStoryboard(text: string): StoryboardCue[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
  const cues: StoryboardCue[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const times = timing(lines[i] ?? "");
    if (!times) continue;
    const box = tile(lines[i + 1] ?? "");
    if (!box) continue;
    cues.push({ ...times, ...box });
    i += 1;
  }
  return cues.sort((a, b) => a.start - b.start);
}

/**
 * The cue shown at `time` seconds: the one whose range holds it (the last one starting at or before it, so that a
 * gap shows the tile before it), the first before them all, the last after them all; undefined without cues.
 */
export function cueAt(cues: readonly StoryboardCue[], time: number): StoryboardCue | undefined {
  let found = cues[0];
  for (const cue of cues) {
    if (cue.start > time) break;
    found = cue;
  }
  return found;
}

/** How long the storyboard covers: the end of its last cue (0 without cues). */
export function storyboardDuration(cues: readonly StoryboardCue[]): number {
  return cues.reduce((end, cue) => Math.max(end, cue.end), 0);
}

/**
 * The address of a sheet for an `<img src>`: resolved against the .vtt's address (`storyboard/0.jpg` is
 * `/api/v1/videos/{id}/storyboard/0.jpg`), with the token in `?access_token=` (an image request cannot send
 * headers; the server answers with a redirect to the sheet) and `v=` the video's job (which the server ignores: a
 * video processed again has other sheets at the same addresses). A sheet elsewhere (an absolute address to another
 * origin) is taken as it is, without the token.
 */
export function sheetHref(videoId: string, sheet: string, job: number, token: string | null): string {
  const origin = "http://api.invalid";
  const url = new URL(sheet, origin + storyboardPath(videoId));
  if (url.origin !== origin) return sheet;
  url.searchParams.set("v", String(job));
  if (token) url.searchParams.set("access_token", token);
  return url.pathname + url.search;
}
