/// A message from the wire that does not make a valid core value.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("{message}: `{field}` is missing")]
    Missing { message: &'static str, field: &'static str },

    #[error("{message}: `{field}` does not fit this platform's integers")]
    OutOfRange { message: &'static str, field: &'static str },

    #[error("{message}: `{field}` {reason}")]
    Invalid { message: &'static str, field: &'static str, reason: String },

    #[error("{message}: `{field}` is not valid JSON: {reason}")]
    BadJson { message: &'static str, field: String, reason: String },

    #[error("{message}: {source}")]
    Core { message: &'static str, source: Box<linli_core::Error> },
}
