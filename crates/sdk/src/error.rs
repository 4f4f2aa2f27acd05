use crate::bindings::fat::contract::types::Error as HostError;

/// What an SDK call can fail with.
///
/// HTTP errors name the origin (`scheme://host:port`) only, never the path or the query,
/// so that a secret carried in a URL cannot leak through an error message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host refused the call in this mode (e.g. a storage write in a query).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// A limit of the call was reached; the string names it.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The host found the arguments of a call invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A job of [`jobs::map`](crate::jobs::map) failed.
    #[error("job {name} #{index} failed: {message}")]
    Job {
        /// The job's name.
        name: String,
        /// Its position among the inputs.
        index: usize,
        /// Its error: the contract's, or why no worker could run it.
        message: String,
    },
    /// A value could not be encoded as JSON.
    #[error("cannot encode {what} as JSON: {source}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// Bytes that should hold a JSON value do not hold the expected one.
    #[error("malformed JSON in {what}: {source}")]
    Decode {
        /// Where the bytes came from.
        what: String,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// A URL the HTTP client cannot use.
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP request failed before a response arrived, or while reading it.
    #[error("HTTP request to {origin} failed: {message}")]
    Http {
        /// `scheme://authority` of the request.
        origin: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with a status that is not a success (see
    /// [`http::Response::error_for_status`](crate::http::Response::error_for_status)).
    #[error("{origin} answered HTTP {status}")]
    Status {
        /// `scheme://authority` of the request.
        origin: String,
        /// The status code.
        status: u16,
    },
    /// A request was redirected more often than the client follows.
    #[error("too many redirects (more than {max}) starting at {origin}")]
    TooManyRedirects {
        /// `scheme://authority` of the first request.
        origin: String,
        /// The number of redirects followed.
        max: u8,
    },
    /// A response body is larger than the client accepts.
    #[error("the response body from {origin} exceeds {limit} bytes")]
    BodyTooLarge {
        /// `scheme://authority` of the request.
        origin: String,
        /// The limit in bytes.
        limit: usize,
    },
}

/// `Result` with the SDK's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<HostError> for Error {
    fn from(error: HostError) -> Self {
        match error {
            HostError::NotAllowed(what) => Error::NotAllowed(what),
            HostError::LimitExceeded(what) => Error::LimitExceeded(what),
            HostError::InvalidInput(what) => Error::InvalidInput(what),
        }
    }
}
