// A completed video's frames, one by one (GET /api/v1/videos/{id}/frames: the archive's manifest, a page at a
// time; GET /api/v1/videos/{id}/frames/{index}: a 302 to a presigned URL of that one image), so that the video
// page shows them without the ZIP.

/** Frames asked for at a time (the server allows 1 to 100). */
export const FRAMES_PAGE = 12;

/**
 * The address of one frame's image, for an `<img src>`: an image request cannot send headers, so the token goes in
 * `?access_token=` (the server answers with a redirect to the image itself). `version` (the frame's SHA-256, as
 * its list gave it) rides along as `v=`, which the server ignores: a video processed again has other images at the
 * same indexes, and without it the browser would show the old one it holds for the same address.
 */
export function frameHref(videoId: string, index: number, version: string, token: string | null): string {
  const query = new URLSearchParams({ v: version.slice(0, 16) });
  if (token) query.set("access_token", token);
  return `/api/v1/videos/${encodeURIComponent(videoId)}/frames/${index}?${query.toString()}`;
}
