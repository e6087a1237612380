// A few extracted frames for the preview strip, read in the browser from the archive itself: the download link
// redirects to a presigned S3 URL, the ZIP is streamed through fflate's Unzip (the processor writes Stored
// entries with their sizes in the local headers, frames first, manifest.json last), and the read stops as soon as
// `wanted` images are in, so a large archive costs only its first frames.
import { Unzip, UnzipInflate, UnzipPassThrough } from "fflate";

export interface Frame {
  name: string;
  url: string;
}

const IMAGE_TYPES: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp" };

export function imageType(name: string): string | null {
  const extension = name.split(".").pop()?.toLowerCase() ?? "";
  return IMAGE_TYPES[extension] ?? null;
}

/** Reads up to `wanted` images from the start of a ZIP stream. */
export async function firstImages(
  body: ReadableStream<Uint8Array>,
  wanted: number,
  toUrl: (blob: Blob) => string = (blob) => URL.createObjectURL(blob),
): Promise<Frame[]> {
  const frames: Frame[] = [];
  const pending: Promise<void>[] = [];
  const unzip = new Unzip((file) => {
    const type = imageType(file.name);
    if (!type || pending.length >= wanted) return;
    const chunks: Uint8Array[] = [];
    pending.push(
      new Promise<void>((resolve, reject) => {
        file.ondata = (error, chunk, final) => {
          if (error) return reject(error);
          chunks.push(chunk);
          if (final) {
            frames.push({ name: file.name, url: toUrl(new Blob(chunks as BlobPart[], { type })) });
            resolve();
          }
        };
      }),
    );
    file.start();
  });
  unzip.register(UnzipPassThrough);
  unzip.register(UnzipInflate);
  const reader = body.getReader();
  try {
    while (frames.length < wanted) {
      const { done, value } = await reader.read();
      if (done) {
        unzip.push(new Uint8Array(0), true);
        break;
      }
      unzip.push(value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  await Promise.all(pending.filter((_, i) => i < frames.length));
  return frames.sort((a, b) => a.name.localeCompare(b.name));
}

/** The download link refused the archive (`status`: 409 while the read model does not have it yet). */
export class PreviewError extends Error {
  constructor(readonly status: number) {
    super(`download answered ${status}`);
    this.name = "PreviewError";
  }
}

/** Fetches the archive through the download link and returns its first frames. */
export async function loadPreview(downloadUrl: string, wanted = 4): Promise<Frame[]> {
  const response = await fetch(downloadUrl);
  if (!response.ok || !response.body) throw new PreviewError(response.status);
  return firstImages(response.body, wanted);
}
