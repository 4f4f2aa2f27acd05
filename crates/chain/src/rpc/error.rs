//! Errors as the API returns them: a status and `{"code", "message", ...}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fat_types::TxRejection;
use serde_json::{Value, json};

use crate::error::ChainError;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    /// 404 with a message.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            body: json!({"code": "not_found", "message": format!("{what} not found")}),
        }
    }

    /// 404 for a path the API does not serve.
    pub fn no_route() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            body: json!({"code": "no_route", "message": "no such route"}),
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({"code": "bad_request", "message": message.to_string()}),
        }
    }
}

impl From<TxRejection> for ApiError {
    fn from(rejection: TxRejection) -> Self {
        let status = match rejection {
            TxRejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            TxRejection::AlreadyKnown => StatusCode::CONFLICT,
            TxRejection::MempoolFull { .. } | TxRejection::MempoolBytesFull { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut body =
            serde_json::to_value(&rejection).unwrap_or_else(|_| json!({"code": rejection.code()}));
        body["message"] = Value::String(rejection.to_string());
        Self { status, body }
    }
}

impl From<ChainError> for ApiError {
    fn from(error: ChainError) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: json!({"code": "internal", "message": message}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
