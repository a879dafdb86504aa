use linli_core::Error as CoreError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Core(#[from] CoreError),

    /// The engine's writer thread is gone: shut down, or stopped after a failed commit.
    #[error("the engine has stopped{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Stopped { reason: Option<String> },

    #[error("could not start the engine's writer thread: {0}")]
    Spawn(std::io::Error),
}
