// The storyboard's WebVTT index as the video page reads it (src/api/storyboard.ts).
import { describe, expect, it } from "vitest";
import { cueAt, parseStoryboard, sheetHref, storyboardDuration, storyboardPath } from "../src/api/storyboard";

const ID = "0193a8f2-0000-7000-8000-00000000beef";

/** An index as the server writes it: 10 s tiles, 160×90, two per row, two sheets. */
const VTT = `WEBVTT

00:00:00.000 --> 00:00:10.000
storyboard/0.jpg#xywh=0,0,160,90

00:00:10.000 --> 00:00:20.000
storyboard/0.jpg#xywh=160,0,160,90

00:00:20.000 --> 00:00:30.000
storyboard/0.jpg#xywh=0,90,160,90

00:00:30.000 --> 00:00:34.500
storyboard/1.jpg#xywh=0,0,160,90
`;

describe("storyboard index", () => {
  it("reads each cue's time range and the tile of its sheet", () => {
    expect(parseStoryboard(VTT)).toEqual([
      { start: 0, end: 10, sheet: "storyboard/0.jpg", x: 0, y: 0, w: 160, h: 90 },
      { start: 10, end: 20, sheet: "storyboard/0.jpg", x: 160, y: 0, w: 160, h: 90 },
      { start: 20, end: 30, sheet: "storyboard/0.jpg", x: 0, y: 90, w: 160, h: 90 },
      { start: 30, end: 34.5, sheet: "storyboard/1.jpg", x: 0, y: 0, w: 160, h: 90 },
    ]);
  });

  it("reads times with and without hours, CRLF lines, a BOM, cue identifiers and cue settings", () => {
    const text =
      "\uFEFFWEBVTT\r\n\r\n1\r\n01:02.500 --> 01:05.250\r\nstoryboard/0.jpg#xywh=0,0,96,54\r\n\r\n" +
      "two\r\n01:00:00.000 --> 01:00:02.001 align:start\r\nstoryboard/3.jpg#xywh=96,54,96,54\r\n" +
      "\r\n100:00:00.000 --> 100:00:01.000\r\nstoryboard/9.jpg#xywh=0,0,96,54\r\n";
    expect(parseStoryboard(text)).toEqual([
      { start: 62.5, end: 65.25, sheet: "storyboard/0.jpg", x: 0, y: 0, w: 96, h: 54 },
      { start: 3600, end: 3602.001, sheet: "storyboard/3.jpg", x: 96, y: 54, w: 96, h: 54 },
      { start: 360_000, end: 360_001, sheet: "storyboard/9.jpg", x: 0, y: 0, w: 96, h: 54 },
    ]);
  });

  it("skips what it cannot read: malformed times, tiles and lines, and keeps the rest in time order", () => {
    const text = [
      "WEBVTT",
      "NOTE made by hand",
      "",
      "00:00:20.000 --> 00:00:30.000",
      "storyboard/0.jpg#xywh=0,90,160,90",
      "",
      "00:00:61.000 --> 00:01:10.000", // 61 seconds
      "storyboard/0.jpg#xywh=0,0,160,90",
      "00:00.5 --> 00:01.000", // not three decimals
      "storyboard/0.jpg#xywh=0,0,160,90",
      "00:00:10.000 -> 00:00:20.000", // not -->
      "storyboard/0.jpg#xywh=0,0,160,90",
      "00:00:12.000 --> 00:00:11.000", // ends before it starts
      "storyboard/0.jpg#xywh=0,0,160,90",
      "00:00:00.000 --> 00:00:10.000",
      "storyboard/0.jpg#xywh=0,0,160", // three numbers
      "00:00:00.000 --> 00:00:10.000",
      "storyboard/0.jpg#xywh=0,0,0,90", // no width
      "00:00:00.000 --> 00:00:10.000",
      "storyboard/0.jpg", // no tile
      "00:00:00.000 --> 00:00:10.000",
      "", // nothing after the timing
      "garbage --> more garbage",
      "storyboard/0.jpg#xywh=-1,0,160,90",
      "00:00:00.000 --> 00:00:10.000",
      "storyboard/0.jpg#xywh=0,0,160,90",
    ].join("\n");
    expect(parseStoryboard(text)).toEqual([
      { start: 0, end: 10, sheet: "storyboard/0.jpg", x: 0, y: 0, w: 160, h: 90 },
      { start: 20, end: 30, sheet: "storyboard/0.jpg", x: 0, y: 90, w: 160, h: 90 },
    ]);
    expect(parseStoryboard("")).toEqual([]);
    expect(parseStoryboard("WEBVTT\n\nnot a storyboard\n")).toEqual([]);
    expect(parseStoryboard('{"code":"not_found"}')).toEqual([]);
  });

  it("finds the cue of a time: the one that holds it, the first before all, the last after all", () => {
    const cues = parseStoryboard(VTT);
    expect(cueAt(cues, 0)?.x).toBe(0);
    expect(cueAt(cues, 9.99)?.start).toBe(0);
    expect(cueAt(cues, 10)?.start).toBe(10);
    expect(cueAt(cues, 25)?.start).toBe(20);
    expect(cueAt(cues, 34.5)?.sheet).toBe("storyboard/1.jpg");
    expect(cueAt(cues, 99)?.start).toBe(30);
    expect(cueAt(cues, -1)?.start).toBe(0);
    expect(cueAt([], 5)).toBeUndefined();
    expect(storyboardDuration(cues)).toBe(34.5);
    expect(storyboardDuration([])).toBe(0);
  });

  it("resolves a sheet against the index's address, with the job and the token in the query", () => {
    expect(storyboardPath(ID)).toBe(`/api/v1/videos/${ID}/storyboard.vtt`);
    expect(sheetHref(ID, "storyboard/0.jpg", 2, "t o k")).toBe(
      `/api/v1/videos/${ID}/storyboard/0.jpg?v=2&access_token=t+o+k`,
    );
    expect(sheetHref(ID, "storyboard/1.jpg", 0, null)).toBe(`/api/v1/videos/${ID}/storyboard/1.jpg?v=0`);
    // A sheet elsewhere is taken as it is, without the token.
    expect(sheetHref(ID, "https://cdn.example.com/s/0.jpg", 0, "t")).toBe("https://cdn.example.com/s/0.jpg");
  });
});
