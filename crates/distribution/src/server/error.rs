//! Registry errors and their wire form.
//!
//! Every failure a handler can produce is a [`RegistryError`]; its
//! `IntoResponse` writes the spec's error body
//! `{"errors":[{"code":..,"message":..,"detail":..}]}` with the status code the
//! distribution spec assigns to that code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The error codes of the OCI distribution spec (plus `UNSUPPORTED`/`DENIED`
/// semantics the spec leaves to the registry), each with its status.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown(String),
    #[error("blob upload invalid")]
    BlobUploadInvalid(String),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown(String),
    #[error("provided digest did not match uploaded content")]
    DigestInvalid(String),
    #[error("blob unknown to registry")]
    ManifestBlobUnknown(String),
    #[error("manifest invalid")]
    ManifestInvalid(String),
    #[error("manifest unknown")]
    ManifestUnknown(String),
    #[error("invalid repository name")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown(String),
    #[error("provided length did not match content length")]
    SizeInvalid(String),
    #[error("authentication required")]
    Unauthorized {
        detail: String,
        /// The `WWW-Authenticate` challenge to send back.
        challenge: String,
    },
    #[error("requested access to the resource is denied")]
    Denied(String),
    #[error("the operation is unsupported")]
    Unsupported(String),
    #[error("requested range not satisfiable")]
    RangeInvalid { detail: String, size: u64 },
    #[error("too many requests")]
    TooManyRequests(String),
    #[error("internal error")]
    Internal(String),
}

impl RegistryError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BlobUnknown(_) => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid(_) => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid(_) => "DIGEST_INVALID",
            Self::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid(_) => "MANIFEST_INVALID",
            Self::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            Self::NameInvalid(_) => "NAME_INVALID",
            Self::NameUnknown(_) => "NAME_UNKNOWN",
            Self::SizeInvalid(_) => "SIZE_INVALID",
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::Denied(_) => "DENIED",
            Self::Unsupported(_) => "UNSUPPORTED",
            Self::RangeInvalid { .. } => "BLOB_UPLOAD_INVALID",
            Self::TooManyRequests(_) => "TOOMANYREQUESTS",
            Self::Internal(_) => "UNKNOWN",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BlobUnknown(_)
            | Self::BlobUploadUnknown(_)
            | Self::ManifestUnknown(_)
            | Self::NameUnknown(_) => StatusCode::NOT_FOUND,
            Self::BlobUploadInvalid(_)
            | Self::DigestInvalid(_)
            | Self::ManifestBlobUnknown(_)
            | Self::ManifestInvalid(_)
            | Self::NameInvalid(_)
            | Self::SizeInvalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Denied(_) => StatusCode::FORBIDDEN,
            Self::Unsupported(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RangeInvalid { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> &str {
        match self {
            Self::BlobUnknown(d)
            | Self::BlobUploadInvalid(d)
            | Self::BlobUploadUnknown(d)
            | Self::DigestInvalid(d)
            | Self::ManifestBlobUnknown(d)
            | Self::ManifestInvalid(d)
            | Self::ManifestUnknown(d)
            | Self::NameInvalid(d)
            | Self::NameUnknown(d)
            | Self::SizeInvalid(d)
            | Self::Denied(d)
            | Self::Unsupported(d)
            | Self::TooManyRequests(d)
            | Self::Internal(d) => d,
            Self::Unauthorized { detail, .. } | Self::RangeInvalid { detail, .. } => detail,
        }
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self::Internal(what.to_string())
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        Self::Internal(format!("storage: {e}"))
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        if let Self::Internal(d) = &self {
            // Internal details go to the log, where an operator can act on them.
            eprintln!("registry: internal error: {d}");
        }
        let body = serde_json::json!({
            "errors": [{
                "code": self.code(),
                "message": self.to_string(),
                "detail": self.detail(),
            }]
        });
        let mut resp = (self.status(), axum::Json(body)).into_response();
        match &self {
            Self::Unauthorized { challenge, .. } => {
                if let Ok(v) = HeaderValue::from_str(challenge) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Self::RangeInvalid { size, .. } => {
                // Tells a chunked uploader where to resume.
                let end = size.saturating_sub(1);
                if let Ok(v) = HeaderValue::from_str(&format!("0-{end}")) {
                    resp.headers_mut().insert(header::RANGE, v);
                }
            }
            _ => {}
        }
        resp
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
