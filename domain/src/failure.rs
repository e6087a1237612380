//! Why a processing attempt failed, as a closed set of stable codes, each with whether a retry can help and the
//! message a user reads, in English and Brazilian Portuguese.
//!
//! The texts live here, in the innermost crate, so that every outer one (the query views, the notifier's e-mails
//! and webhooks, the OpenAPI document, docs/notifications.md) shows the same words without depending on another.

use std::fmt;
use std::str::FromStr;

/// A typed processing failure. The string form is stable: it is persisted in events and shown by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// The content is not a video container/codec we can decode.
    UnsupportedFormat,
    /// The file is damaged beyond decoding.
    CorruptInput,
    /// The file ends before its declared duration.
    TruncatedInput,
    /// Larger (in bytes) than the configured maximum.
    TooLarge,
    /// Longer than the configured maximum duration.
    TooLong,
    /// Larger than the configured maximum resolution.
    ResolutionTooHigh,
    /// The spec would produce more frames than allowed.
    TooManyFrames,
    /// The spec asks for a frame at a time past the end of the video.
    PositionPastEnd,
    /// Decoding took longer than the configured maximum.
    DecodeTimeout,
    /// Object storage could not be reached (transient).
    StorageUnavailable,
    /// The processing node's local disk (the spool of the source) was full (transient: another node, or the
    /// same one after space is freed, may succeed).
    DiskFull,
    /// Every delivery of the job failed.
    AttemptsExhausted,
    /// A bug or an unclassified fault.
    Internal,
}

impl FailureCode {
    /// Every code, in a stable order.
    pub const ALL: [Self; 13] = [
        Self::UnsupportedFormat,
        Self::CorruptInput,
        Self::TruncatedInput,
        Self::TooLarge,
        Self::TooLong,
        Self::ResolutionTooHigh,
        Self::TooManyFrames,
        Self::PositionPastEnd,
        Self::DecodeTimeout,
        Self::StorageUnavailable,
        Self::DiskFull,
        Self::AttemptsExhausted,
        Self::Internal,
    ];

    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedFormat => "unsupported_format",
            Self::CorruptInput => "corrupt_input",
            Self::TruncatedInput => "truncated_input",
            Self::TooLarge => "too_large",
            Self::TooLong => "too_long",
            Self::ResolutionTooHigh => "resolution_too_high",
            Self::TooManyFrames => "too_many_frames",
            Self::PositionPastEnd => "position_past_end",
            Self::DecodeTimeout => "decode_timeout",
            Self::StorageUnavailable => "storage_unavailable",
            Self::DiskFull => "disk_full",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::Internal => "internal",
        }
    }

    /// Whether another attempt may succeed. Bad input never gets better by retrying, and a decode that blew its
    /// time budget is treated as a limit of the input (like duration or resolution), not as a transient fault.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::StorageUnavailable | Self::DiskFull | Self::Internal)
    }
}

/// A language the user-facing texts are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English (`en`), the default.
    #[default]
    English,
    /// Brazilian Portuguese (`pt-BR`).
    PortugueseBrazil,
}

impl Language {
    /// Every language, in a stable order.
    pub const ALL: [Self; 2] = [Self::English, Self::PortugueseBrazil];

    /// The BCP 47 tag stored as a user's `locale`.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::PortugueseBrazil => "pt-BR",
        }
    }

    /// The language of a user's `locale` tag: `pt-BR` (or any `pt`) is Portuguese, anything else English.
    pub fn from_locale(locale: &str) -> Self {
        let primary = locale.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("pt") {
            Self::PortugueseBrazil
        } else {
            Self::English
        }
    }
}

impl FailureCode {
    /// What the user is told, in `language`. Written for people: what happened and what they can do.
    pub const fn user_message(self, language: Language) -> &'static str {
        use Language::{English as En, PortugueseBrazil as Pt};
        match (self, language) {
            (Self::UnsupportedFormat, En) => {
                "The file is not a video format we can read. Upload an MP4, MOV, MKV, WebM or AVI file."
            }
            (Self::UnsupportedFormat, Pt) => {
                "O arquivo não está em um formato de vídeo que conseguimos ler. Envie um arquivo MP4, MOV, MKV, WebM ou AVI."
            }
            (Self::CorruptInput, En) => {
                "The video file is damaged and cannot be decoded. Export it again and upload the new file."
            }
            (Self::CorruptInput, Pt) => {
                "O arquivo de vídeo está danificado e não pode ser decodificado. Exporte-o novamente e envie o novo arquivo."
            }
            (Self::TruncatedInput, En) => {
                "The video file ends before its declared length; the upload was probably incomplete. Upload it again."
            }
            (Self::TruncatedInput, Pt) => {
                "O arquivo de vídeo termina antes da duração declarada; o envio provavelmente ficou incompleto. Envie-o novamente."
            }
            (Self::TooLarge, En) => "The file is larger than the maximum size allowed.",
            (Self::TooLarge, Pt) => "O arquivo é maior que o tamanho máximo permitido.",
            (Self::TooLong, En) => {
                "The video is longer than the maximum duration allowed. Cut it and upload the parts."
            }
            (Self::TooLong, Pt) => {
                "O vídeo é mais longo que a duração máxima permitida. Corte-o e envie as partes."
            }
            (Self::ResolutionTooHigh, En) => {
                "The video's resolution is higher than the maximum allowed. Reduce it and upload again."
            }
            (Self::ResolutionTooHigh, Pt) => {
                "A resolução do vídeo é maior que a máxima permitida. Reduza-a e envie novamente."
            }
            (Self::TooManyFrames, En) => {
                "The extraction would produce more images than allowed. Ask for fewer frames (a lower fps or a count)."
            }
            (Self::TooManyFrames, Pt) => {
                "A extração geraria mais imagens que o permitido. Peça menos quadros (um fps menor ou uma contagem)."
            }
            (Self::PositionPastEnd, En) => {
                "A frame was asked for at a time past the end of the video. Ask for times within it, or a percentage."
            }
            (Self::PositionPastEnd, Pt) => {
                "Um quadro foi pedido em um instante além do fim do vídeo. Peça instantes dentro dele, ou uma porcentagem."
            }
            (Self::DecodeTimeout, En) => {
                "Decoding the video took longer than the time allowed. Try a shorter or lighter video."
            }
            (Self::DecodeTimeout, Pt) => {
                "A decodificação do vídeo demorou mais que o tempo permitido. Tente um vídeo mais curto ou mais leve."
            }
            (Self::StorageUnavailable, En) => {
                "Our file storage was temporarily unavailable. We will try again automatically."
            }
            (Self::StorageUnavailable, Pt) => {
                "Nosso armazenamento de arquivos ficou indisponível temporariamente. Tentaremos novamente de forma automática."
            }
            (Self::DiskFull, En) => {
                "Our processing server ran out of disk space for your video. We will try again automatically."
            }
            (Self::DiskFull, Pt) => {
                "Nosso servidor de processamento ficou sem espaço em disco para o seu vídeo. Tentaremos novamente de forma automática."
            }
            (Self::AttemptsExhausted, En) => {
                "Processing failed on every attempt because of a temporary problem on our side. Request a reprocess to try again."
            }
            (Self::AttemptsExhausted, Pt) => {
                "O processamento falhou em todas as tentativas por um problema temporário do nosso lado. Solicite um reprocessamento para tentar de novo."
            }
            (Self::Internal, En) => {
                "An internal error interrupted processing. We will try again automatically."
            }
            (Self::Internal, Pt) => {
                "Um erro interno interrompeu o processamento. Tentaremos novamente de forma automática."
            }
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code string that is not in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure code `{0}`")]
pub struct UnknownFailureCode(pub String);

impl FromStr for FailureCode {
    type Err = UnknownFailureCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownFailureCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_strings() {
        for code in FailureCode::ALL {
            assert_eq!(code.as_str().parse::<FailureCode>(), Ok(code));
        }
        assert!("nope".parse::<FailureCode>().is_err());
    }

    #[test]
    fn bad_input_is_never_retryable() {
        for code in [
            FailureCode::UnsupportedFormat,
            FailureCode::CorruptInput,
            FailureCode::TruncatedInput,
            FailureCode::TooLarge,
            FailureCode::TooLong,
            FailureCode::ResolutionTooHigh,
            FailureCode::TooManyFrames,
            FailureCode::DecodeTimeout,
            FailureCode::AttemptsExhausted,
        ] {
            assert!(!code.is_retryable(), "{code}");
        }
        assert!(FailureCode::StorageUnavailable.is_retryable());
        assert!(FailureCode::DiskFull.is_retryable());
    }

    #[test]
    fn every_code_has_a_distinct_message_in_every_language() {
        for language in Language::ALL {
            let mut seen = std::collections::HashSet::new();
            for code in FailureCode::ALL {
                let message = code.user_message(language);
                assert!(message.ends_with('.'), "{code} {language:?}: {message}");
                assert!(seen.insert(message), "{code} {language:?} repeats a message");
            }
        }
        assert_ne!(
            FailureCode::CorruptInput.user_message(Language::English),
            FailureCode::CorruptInput.user_message(Language::PortugueseBrazil)
        );
    }

    #[test]
    fn locales_map_to_languages() {
        assert_eq!(Language::from_locale("pt-BR"), Language::PortugueseBrazil);
        assert_eq!(Language::from_locale("pt_br"), Language::PortugueseBrazil);
        assert_eq!(Language::from_locale("en"), Language::English);
        assert_eq!(Language::from_locale(""), Language::English);
        assert_eq!(Language::from_locale("fr"), Language::English);
        for language in Language::ALL {
            assert_eq!(Language::from_locale(language.tag()), language);
        }
    }
}
