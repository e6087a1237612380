//! The fast first content gate: container magic bytes in the first bytes of the body.
//!
//! This only keeps obvious non-videos (an image, a PDF, text) out of storage before a byte is stored. It is not the
//! real check: the processor probes the source with FFmpeg and fails the job with `unsupported_format` when the
//! content is not a decodable video. The upload service deliberately does not link FFmpeg.

/// How many leading bytes the gate looks at (enough for every signature below, including three MPEG-TS packets).
pub const SNIFF_LEN: usize = 64 * 1024;

/// A recognised container and the MIME type recorded for the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Container {
    /// Short name, for logs.
    pub name: &'static str,
    /// MIME type stored with the object and in the `uploaded` event.
    pub mime: &'static str,
}

const fn container(name: &'static str, mime: &'static str) -> Option<Container> {
    Some(Container { name, mime })
}

/// The container the leading bytes belong to, if any.
pub fn sniff(head: &[u8]) -> Option<Container> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    // ISO BMFF (MP4, MOV, 3GP, M4V): a box size then `ftyp`; old QuickTime files may start with other atoms.
    if at(4, b"ftyp") {
        return if at(8, b"qt  ") {
            container("mov", "video/quicktime")
        } else {
            container("mp4", "video/mp4")
        };
    }
    if at(4, b"moov") || at(4, b"mdat") || at(4, b"wide") {
        return container("mov", "video/quicktime");
    }
    // EBML: Matroska or WebM (the doctype sits in the EBML header, within the first bytes).
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        let header = &head[..head.len().min(64)];
        return if header.windows(4).any(|w| w == b"webm") {
            container("webm", "video/webm")
        } else {
            container("matroska", "video/x-matroska")
        };
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return container("avi", "video/x-msvideo");
    }
    if at(0, b"FLV") && head.get(3) == Some(&1) {
        return container("flv", "video/x-flv");
    }
    if at(0, &[0x00, 0x00, 0x01, 0xBA]) || at(0, &[0x00, 0x00, 0x01, 0xB3]) {
        return container("mpeg-ps", "video/mpeg");
    }
    if at(0, b"OggS") {
        return container("ogg", "video/ogg");
    }
    if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return container("asf", "video/x-ms-asf");
    }
    if sync_bytes_every(head, 0, 188) {
        return container("mpeg-ts", "video/mp2t");
    }
    // M2TS (Blu-ray): 4-byte timestamp before each 188-byte packet.
    if sync_bytes_every(head, 4, 192) {
        return container("m2ts", "video/mp2t");
    }
    None
}

/// MPEG-TS: a 0x47 sync byte at the start of each of the first packets (at least two, up to three).
fn sync_bytes_every(head: &[u8], offset: usize, stride: usize) -> bool {
    let positions: Vec<usize> = (0..3)
        .map(|i| offset + i * stride)
        .filter(|&p| p < head.len())
        .collect();
    positions.len() >= 2 && positions.iter().all(|&p| head[p] == 0x47)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(bytes: &[u8]) -> Option<&'static str> {
        sniff(bytes).map(|c| c.name)
    }

    fn padded(prefix: &[u8]) -> Vec<u8> {
        let mut bytes = prefix.to_vec();
        bytes.resize(1024, 0xAB);
        bytes
    }

    #[test]
    fn recognises_each_container() {
        assert_eq!(name(&padded(b"\0\0\0\x20ftypisom\0\0\x02\0")), Some("mp4"));
        assert_eq!(
            sniff(&padded(b"\0\0\0\x14ftypqt  ")).unwrap().mime,
            "video/quicktime"
        );
        assert_eq!(name(&padded(b"\0\0\0\x08wide\0\0\0\x10mdat")), Some("mov"));
        assert_eq!(
            name(&padded(b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm")),
            Some("webm")
        );
        assert_eq!(
            name(&padded(
                b"\x1A\x45\xDF\xA3\xA3\x42\x86\x81\x01\x42\x82\x88matroska"
            )),
            Some("matroska")
        );
        assert_eq!(name(&padded(b"RIFF\x24\0\0\0AVI LIST")), Some("avi"));
        assert_eq!(name(&padded(b"FLV\x01\x05")), Some("flv"));
        assert_eq!(name(&padded(b"\0\0\x01\xBA\x44")), Some("mpeg-ps"));
        assert_eq!(name(&padded(b"\0\0\x01\xB3\x14")), Some("mpeg-ps"));
        assert_eq!(name(&padded(b"OggS\0\x02")), Some("ogg"));
        assert_eq!(
            name(&padded(b"\x30\x26\xB2\x75\x8E\x66\xCF\x11\xA6\xD9")),
            Some("asf")
        );
        let mut ts = vec![0xFF_u8; 188 * 3];
        for p in [0, 188, 376] {
            ts[p] = 0x47;
        }
        assert_eq!(name(&ts), Some("mpeg-ts"));
        let mut m2ts = vec![0xFF_u8; 192 * 3];
        for p in [4, 196, 388] {
            m2ts[p] = 0x47;
        }
        assert_eq!(name(&m2ts), Some("m2ts"));
    }

    #[test]
    fn rejects_non_videos() {
        let png = padded(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        let jpeg = padded(b"\xFF\xD8\xFF\xE0\0\x10JFIF");
        let pdf = padded(b"%PDF-1.7\n");
        let wav = padded(b"RIFF\x24\0\0\0WAVEfmt ");
        let text = b"hello, this is definitely not a video file at all".to_vec();
        let zip = padded(b"PK\x03\x04");
        for bytes in [png, jpeg, pdf, wav, text, zip, vec![0x47], vec![]] {
            assert_eq!(sniff(&bytes), None, "{:?}", &bytes[..bytes.len().min(8)]);
        }
        // A lone 0x47 followed by something else is not a transport stream.
        let mut not_ts = vec![0_u8; 400];
        not_ts[0] = 0x47;
        assert_eq!(sniff(&not_ts), None);
    }
}
