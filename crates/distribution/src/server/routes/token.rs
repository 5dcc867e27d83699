//! `GET /token`: the built-in token service (only in token-auth mode).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::server::auth::Auth;
use crate::server::error::RegistryError;
use crate::server::AppState;

pub async fn token(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let Auth::Token(issuer) = &st.auth else {
        return RegistryError::Unsupported("this registry does not issue tokens".into())
            .into_response();
    };
    let scopes: Vec<String> = q
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect();
    match issuer.issue(&headers, &scopes) {
        Ok(t) => axum::Json(t).into_response(),
        Err(e) => e.into_response(),
    }
}
