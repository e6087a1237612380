//! The few FFmpeg calls rsmpeg 0.14 has no safe wrapper for, each kept as small as possible.

use std::ffi::{CStr, c_char, c_int, c_void};

use rsmpeg::{
    avcodec::AVCodecContext,
    avformat::{AVFormatContextInput, AVStream},
    ffi,
};

use crate::rgb_image::RgbImage;

/// Sets `skip_frame` before a packet is sent. rsmpeg exposes no setter; the field is a plain enum that
/// `avcodec_send_packet` reads (frame threads copy it per packet), so writing it between calls is what FFmpeg's
/// own tools do.
#[expect(unsafe_code, reason = "rsmpeg has no setter for AVCodecContext::skip_frame")]
pub(crate) fn set_skip_frame(decoder: &mut AVCodecContext, discard: ffi::AVDiscard) {
    // SAFETY: the context is valid and owned; no other thread touches it between FFmpeg calls.
    unsafe { (*decoder.as_mut_ptr()).skip_frame = discard };
}

/// Sets the packet time base so the decoder computes `best_effort_timestamp` and durations like ffmpeg does.
#[expect(unsafe_code, reason = "rsmpeg has no setter for AVCodecContext::pkt_timebase")]
pub(crate) fn set_pkt_timebase(decoder: &mut AVCodecContext, time_base: ffi::AVRational) {
    // SAFETY: as above, before the codec is opened.
    unsafe { (*decoder.as_mut_ptr()).pkt_timebase = time_base };
}

/// The stream's 3x3 display matrix (rotation/flip of phone videos), if the container has one.
#[expect(
    unsafe_code,
    reason = "reading stream side data needs av_stream_get_side_data"
)]
pub(crate) fn display_matrix(stream: &AVStream) -> Option<[i32; 9]> {
    let mut size = 0usize;
    // SAFETY: the stream is valid for the borrow; FFmpeg returns null or a pointer to `size` bytes it owns.
    let data = unsafe {
        ffi::av_stream_get_side_data(
            stream.as_ptr(),
            ffi::AVPacketSideDataType_AV_PKT_DATA_DISPLAYMATRIX,
            &mut size,
        )
    };
    if data.is_null() || size < 36 {
        return None;
    }
    let mut matrix = [0i32; 9];
    // SAFETY: at least 36 bytes are readable; the matrix is native-endian int32 and may be unaligned.
    let bytes = unsafe { std::slice::from_raw_parts(data, 36) };
    for (value, chunk) in matrix.iter_mut().zip(bytes.chunks_exact(4)) {
        *value = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(matrix)
}

/// The name FFmpeg gives a codec id (works for codecs without a decoder too).
#[expect(unsafe_code, reason = "avcodec_get_name has no rsmpeg wrapper")]
pub(crate) fn codec_name(id: ffi::AVCodecID) -> String {
    // SAFETY: avcodec_get_name returns a static string for any id ("unknown_codec" at worst).
    unsafe { CStr::from_ptr(ffi::avcodec_get_name(id)) }
        .to_string_lossy()
        .into_owned()
}

/// Short name of the demuxer that recognised the input.
#[expect(unsafe_code, reason = "AVInputFormat::name is a raw C string")]
pub(crate) fn container_name(demuxer: &AVFormatContextInput) -> String {
    let name = demuxer.iformat().name;
    if name.is_null() {
        return String::new();
    }
    // SAFETY: a demuxer's name is a static, NUL-terminated string (checked non-null above).
    unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
}

/// The name of a pixel format, as filter arguments expect it.
#[expect(unsafe_code, reason = "av_get_pix_fmt_name has no rsmpeg wrapper")]
pub(crate) fn pix_fmt_name(format: ffi::AVPixelFormat) -> Option<String> {
    // SAFETY: returns null or a static string.
    let name = unsafe { ffi::av_get_pix_fmt_name(format) };
    (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned())
}

/// Routes FFmpeg's log lines into `tracing` (target `ffmpeg`) instead of stderr. Installed once per process.
pub(crate) fn route_log_to_tracing() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(install_log_callback);
}

#[expect(unsafe_code, reason = "installing a C log callback")]
fn install_log_callback() {
    // SAFETY: the callback is a plain function valid for the whole process and is thread-safe.
    unsafe { ffi::av_log_set_callback(Some(log_callback)) };
}

#[expect(unsafe_code, reason = "FFmpeg calls this with a C va_list")]
unsafe extern "C" fn log_callback(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    vl: *mut ffi::__va_list_tag,
) {
    let level = match level {
        l if l <= ffi::AV_LOG_FATAL as c_int => tracing::Level::ERROR,
        // FFmpeg's errors are about the input; the engine reports the outcome as a typed error, logged once by
        // whoever handles it, so these are context, not errors of ours.
        l if l <= ffi::AV_LOG_WARNING as c_int => tracing::Level::WARN,
        l if l <= ffi::AV_LOG_INFO as c_int => tracing::Level::DEBUG,
        l if l <= ffi::AV_LOG_DEBUG as c_int => tracing::Level::TRACE,
        _ => return,
    };
    let enabled = match level {
        tracing::Level::ERROR => tracing::enabled!(target: "ffmpeg", tracing::Level::ERROR),
        tracing::Level::WARN => tracing::enabled!(target: "ffmpeg", tracing::Level::WARN),
        tracing::Level::DEBUG => tracing::enabled!(target: "ffmpeg", tracing::Level::DEBUG),
        _ => tracing::enabled!(target: "ffmpeg", tracing::Level::TRACE),
    };
    if !enabled {
        return;
    }
    let mut line = [0 as c_char; 1024];
    let mut print_prefix: c_int = 1;
    // SAFETY: FFmpeg passes a valid format and va_list; the buffer is large enough and always NUL-terminated.
    unsafe {
        ffi::av_log_format_line2(
            avcl,
            level_to_av(level),
            fmt,
            vl,
            line.as_mut_ptr(),
            line.len() as c_int,
            &mut print_prefix,
        )
    };
    // SAFETY: av_log_format_line2 NUL-terminates within the buffer.
    let message = unsafe { CStr::from_ptr(line.as_ptr()) }.to_string_lossy();
    let message = message.trim_end();
    if message.is_empty() {
        return;
    }
    match level {
        tracing::Level::ERROR => tracing::error!(target: "ffmpeg", "{message}"),
        tracing::Level::WARN => tracing::warn!(target: "ffmpeg", "{message}"),
        tracing::Level::DEBUG => tracing::debug!(target: "ffmpeg", "{message}"),
        _ => tracing::trace!(target: "ffmpeg", "{message}"),
    }
}

fn level_to_av(level: tracing::Level) -> c_int {
    match level {
        tracing::Level::ERROR => ffi::AV_LOG_ERROR as c_int,
        tracing::Level::WARN => ffi::AV_LOG_WARNING as c_int,
        tracing::Level::DEBUG => ffi::AV_LOG_INFO as c_int,
        _ => ffi::AV_LOG_DEBUG as c_int,
    }
}

/// Copies an `rgb24` frame into a tightly packed buffer.
#[expect(unsafe_code, reason = "rsmpeg exposes frame planes only as raw pointers")]
pub(crate) fn packed_rgb24(frame: &rsmpeg::avutil::AVFrame) -> RgbImage {
    let width = frame.width.max(0) as usize;
    let height = frame.height.max(0) as usize;
    let stride = frame.linesize[0] as isize;
    let row = width * 3;
    let mut data = Vec::with_capacity(row * height);
    for y in 0..height {
        // SAFETY: an rgb24 frame from the buffersink holds `height` rows of at least `width * 3` bytes at
        // `data[0] + y * linesize[0]`; the frame outlives this borrow.
        let line = unsafe { std::slice::from_raw_parts(frame.data[0].offset(y as isize * stride), row) };
        data.extend_from_slice(line);
    }
    RgbImage {
        width: width as u32,
        height: height as u32,
        data,
    }
}

/// The rows of one plane of a decoded picture, as the `select` filter's scene score reads them.
pub(crate) struct PlaneRows<'a> {
    rows: Vec<&'a [u8]>,
}

impl PlaneRows<'_> {
    /// Each row's bytes, `width` samples of the plane.
    pub fn rows(&self) -> &[&[u8]] {
        &self.rows
    }
}

/// The planes of `frame` that FFmpeg's scene detection (libavfilter/vf_select.c) compares, and the depth of its
/// samples in bits: every plane of a YUV format, the first one otherwise (packed RGB, gray), each row as wide as
/// `av_image_get_linesize` says. `None` for formats it cannot read (hardware, bitstream, palette) or a frame
/// without data.
#[expect(unsafe_code, reason = "rsmpeg exposes frame planes only as raw pointers")]
pub(crate) fn scene_planes(frame: &rsmpeg::avutil::AVFrame) -> Option<(Vec<PlaneRows<'_>>, u32)> {
    // SAFETY: av_pix_fmt_desc_get returns null or a pointer to a static descriptor.
    let desc = unsafe { ffi::av_pix_fmt_desc_get(frame.format).as_ref() }?;
    let unreadable =
        u64::from(ffi::AV_PIX_FMT_FLAG_HWACCEL | ffi::AV_PIX_FMT_FLAG_BITSTREAM | ffi::AV_PIX_FMT_FLAG_PAL);
    if desc.flags & unreadable != 0 || frame.width <= 0 || frame.height <= 0 {
        return None;
    }
    let depth = u32::try_from(desc.comp[0].depth).ok()?;
    let is_yuv = desc.flags & u64::from(ffi::AV_PIX_FMT_FLAG_RGB) == 0 && desc.nb_components >= 3;
    // SAFETY: a plain function of a valid format.
    let planes = if is_yuv {
        unsafe { ffi::av_pix_fmt_count_planes(frame.format) }
    } else {
        1
    };
    let mut out = Vec::new();
    for plane in 0..usize::try_from(planes).ok()? {
        // SAFETY: a plain function of a valid format, width and plane index.
        let line = unsafe { ffi::av_image_get_linesize(frame.format, frame.width, plane as c_int) };
        let line = usize::try_from(line).ok().filter(|&l| l > 0)?;
        let rows = if plane == 1 || plane == 2 {
            (frame.height + (1 << desc.log2_chroma_h) - 1) >> desc.log2_chroma_h
        } else {
            frame.height
        };
        let stride = isize::try_from(frame.linesize[plane]).ok()?;
        if frame.data[plane].is_null() || stride.unsigned_abs() < line {
            return None;
        }
        let rows = (0..rows as isize)
            .map(|y| {
                // SAFETY: a decoded frame holds `rows` rows of at least `line` bytes at `data + y * linesize` for
                // this plane (checked above: the stride covers the line); the frame outlives the borrow.
                unsafe { std::slice::from_raw_parts(frame.data[plane].offset(y * stride), line) }
            })
            .collect();
        out.push(PlaneRows { rows });
    }
    Some((out, depth))
}

/// Fills `buf` with FFmpeg's text for an error code.
#[expect(unsafe_code, reason = "av_strerror writes into a caller buffer")]
fn av_strerror(code: c_int, buf: &mut [c_char]) {
    // SAFETY: the buffer is valid for its length; av_strerror NUL-terminates within it.
    unsafe { ffi::av_strerror(code, buf.as_mut_ptr(), buf.len()) };
}

/// Names the container `head` (the first bytes of a file) looks like, by content alone, if any.
#[expect(unsafe_code, reason = "av_probe_input_format has no rsmpeg wrapper")]
pub(crate) fn probe_format(head: &[u8]) -> Option<String> {
    // FFmpeg's probes may read a little past the end: the buffer needs zeroed padding.
    let mut buf = head.to_vec();
    buf.resize(head.len() + ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let probe = ffi::AVProbeData {
        filename: c"".as_ptr(),
        buf: buf.as_mut_ptr(),
        buf_size: head.len() as c_int,
        mime_type: std::ptr::null(),
    };
    // SAFETY: the probe data points at a live, padded buffer; the result is null or a static format.
    let format = unsafe { ffi::av_probe_input_format(&probe, 1) };
    if format.is_null() {
        return None;
    }
    // SAFETY: a registered format's name is a static C string.
    let name = unsafe { (*format).name };
    (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned())
}

/// Text for an FFmpeg error code.
pub(crate) fn av_error_text(code: i32) -> String {
    let mut buf = [0 as std::ffi::c_char; 128];
    av_strerror(code, &mut buf);
    // SAFETY-free: av_strerror always NUL-terminates within the buffer.
    CStr::from_bytes_until_nul(&buf.map(|c| c as u8))
        .map_or_else(|_| format!("error {code}"), |s| s.to_string_lossy().into_owned())
}

/// What the demuxer's index says of the keyframes around `timestamp` (stream time base).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexedKeyframes {
    /// The last keyframe at or before it.
    pub at_or_before: Option<i64>,
    /// The first keyframe after that one.
    pub next: Option<i64>,
    /// The index's last entry: an index that ends where reading got to is only what was read so far (MPEG-TS, or
    /// Matroska before its cues are read).
    pub last: i64,
}

/// What the demuxer's index says of the keyframes around `timestamp` (stream time base); `None` without an index.
#[expect(unsafe_code, reason = "the stream index has no rsmpeg wrapper")]
pub(crate) fn indexed_keyframe_at_or_before(stream: &AVStream, timestamp: i64) -> Option<IndexedKeyframes> {
    let stream = stream.as_ptr().cast_mut();
    // SAFETY: the stream is valid for the borrow; each entry pointer is read at once, before any other call on the
    // demuxer (FFmpeg only guarantees it until then). Without AVSEEK_FLAG_ANY only keyframes are returned.
    unsafe {
        let count = ffi::avformat_index_get_entries_count(stream);
        if count <= 0 {
            return None;
        }
        let last = ffi::avformat_index_get_entry(stream, count - 1);
        if last.is_null() {
            return None;
        }
        let last = (*last).timestamp;
        let entry = ffi::avformat_index_get_entry_from_timestamp(
            stream,
            timestamp,
            ffi::AVSEEK_FLAG_BACKWARD as c_int,
        );
        let at_or_before = (!entry.is_null()).then(|| (*entry).timestamp);
        let next = at_or_before.and_then(|keyframe| {
            let entry = ffi::avformat_index_get_entry_from_timestamp(stream, keyframe + 1, 0);
            (!entry.is_null()).then(|| (*entry).timestamp)
        });
        Some(IndexedKeyframes {
            at_or_before,
            next,
            last,
        })
    }
}

/// Moves the demuxer to the keyframe of stream `stream_index` at or before `timestamp` (its time base).
#[expect(unsafe_code, reason = "av_seek_frame has no rsmpeg wrapper")]
pub(crate) fn seek_to_keyframe(
    demuxer: &mut AVFormatContextInput,
    stream_index: i32,
    timestamp: i64,
) -> Result<(), i32> {
    // SAFETY: the context is valid and owned; nothing else uses it during the call.
    let code = unsafe {
        ffi::av_seek_frame(
            demuxer.as_mut_ptr(),
            stream_index,
            timestamp,
            ffi::AVSEEK_FLAG_BACKWARD as c_int,
        )
    };
    if code < 0 { Err(code) } else { Ok(()) }
}

/// Drops every packet and frame inside the decoder (after a seek), as `avcodec_flush_buffers`.
#[expect(unsafe_code, reason = "avcodec_flush_buffers has no rsmpeg wrapper")]
pub(crate) fn flush_decoder(decoder: &mut AVCodecContext) {
    // SAFETY: the context is valid, open and owned; no other thread touches it between FFmpeg calls.
    unsafe { ffi::avcodec_flush_buffers(decoder.as_mut_ptr()) };
}

/// Whether the demuxer seeks by its own means (Matroska reads its cues only on the first seek, so its index is
/// empty until then), rather than by FFmpeg's generic search over timestamps (MPEG-TS, raw streams), which can
/// land anywhere.
#[expect(
    unsafe_code,
    reason = "AVInputFormat's seek callbacks are only reachable as raw fields"
)]
pub(crate) fn demuxer_seeks_itself(demuxer: &AVFormatContextInput) -> bool {
    // SAFETY: an open input context always has its input format, which is static.
    unsafe {
        let format = &*demuxer.iformat;
        format.read_seek.is_some() || format.read_seek2.is_some()
    }
}
