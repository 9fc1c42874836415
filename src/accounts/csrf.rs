//! Same-origin checks on `/api` requests that change state, against request forgery from
//! another origin of the same site.
//!
//! SameSite=Lax keeps the session cookie on requests from any origin of the same site: another
//! port of the same host, or a sibling subdomain. A `<form enctype="text/plain">` there can post
//! a JSON-looking body with the console's cookie, and a form needs no CORS preflight. So a
//! request that changes state is refused (403) when:
//! - it comes from another origin: its `Origin` (or, without one, `Sec-Fetch-Site`) names
//!   neither the request's own `Host` nor `[server] public_url` (a reverse proxy may pass on a
//!   Host of its own, but the browser's Origin is the public one);
//! - it carries the session cookie and a body that is not `application/json`: a form cannot
//!   send that type, and a page of another origin cannot either without a preflight we never
//!   answer. A request without a body needs no Content-Type (a DELETE from the console).
//!
//! Requests with neither `Origin` nor `Sec-Fetch-Site` come from no browser (a script or curl):
//! browsers send `Origin` on every cross-origin request that changes state. Payment providers'
//! callbacks (`/api/payments/...`) are posted by their servers as forms and are checked by
//! signature instead.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use reqwest::Url;

use super::session::read_token;
use crate::error::ApiError;
use crate::state::AppState;

/// The layer on the `/api` routes: refuses a forged request before any handler runs.
pub async fn refuse_forged_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let public_url = state.config().server.public_url.clone();
    match check(
        request.method(),
        request.uri().path(),
        request.headers(),
        &public_url,
    ) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            tracing::warn!(
                method = %request.method(),
                path = %request.uri().path(),
                origin = ?request.headers().get(header::ORIGIN),
                content_type = ?request.headers().get(header::CONTENT_TYPE),
                code = refused.code,
                "refused a request that may be forged"
            );
            refused.into_response()
        }
    }
}

/// The checks themselves, on what a request says about itself.
pub fn check(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    public_url: &str,
) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || !path.starts_with("/api/")
        || path.starts_with("/api/payments/")
    {
        return Ok(());
    }
    if !same_origin(headers, public_url) {
        return Err(ApiError::forbidden(
            "cross_origin_request",
            "refused: this request comes from another origin than this server's; the API takes \
             requests that change state only from its own pages",
        ));
    }
    if read_token(headers).is_some() && !json_or_empty(headers) {
        return Err(ApiError::forbidden(
            "json_required",
            "refused: a request signed in with the session cookie must send its body as \
             Content-Type: application/json",
        ));
    }
    Ok(())
}

/// Whether the request comes from this server's own origin, or from no browser at all.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text(header::ORIGIN.as_str()) {
        // "null" (a sandboxed frame, a data: URL) and anything unparsable is foreign.
        let Some(origin) = OriginKey::of(origin) else {
            return false;
        };
        let own_host = text(header::HOST.as_str())
            .and_then(|host| OriginKey::of(&format!("{}://{host}", origin.scheme)));
        return own_host.as_ref() == Some(&origin) || OriginKey::of(public_url) == Some(origin);
    }
    match text("sec-fetch-site") {
        Some(site) => site.eq_ignore_ascii_case("same-origin"),
        None => true,
    }
}

/// No body, or a JSON one (`application/json`, parameters such as `charset` allowed).
fn json_or_empty(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json")),
        None => {
            let length = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .map(str::trim);
            !headers.contains_key(header::TRANSFER_ENCODING) && matches!(length, None | Some("0"))
        }
    }
}

/// An origin as compared: scheme, host and port (the scheme's default when none is written).
#[derive(Debug, PartialEq, Eq)]
struct OriginKey {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OriginKey {
    fn of(text: &str) -> Option<OriginKey> {
        let url = Url::parse(text.trim()).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        Some(OriginKey {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        let public = "https://router.example.com";
        let ok = [
            vec![
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000"),
            ],
            vec![("origin", "http://LOCALHOST"), ("host", "localhost:80")],
            vec![("origin", "http://[::1]:3000"), ("host", "[::1]:3000")],
            vec![
                ("origin", "https://router.example.com"),
                ("host", "10.0.0.5:3000"),
            ],
            vec![("sec-fetch-site", "same-origin"), ("host", "h")],
            vec![("host", "h")],
        ];
        for pairs in ok {
            assert!(same_origin(&headers(&pairs), public), "{pairs:?}");
        }
        let refused = [
            vec![
                ("origin", "http://127.0.0.1:3001"),
                ("host", "127.0.0.1:3000"),
            ],
            vec![("origin", "null"), ("host", "127.0.0.1:3000")],
            vec![
                ("origin", "http://router.example.com"),
                ("host", "10.0.0.5"),
            ],
            vec![
                ("origin", "https://a.router.example.com"),
                ("host", "10.0.0.5"),
            ],
            vec![("sec-fetch-site", "same-site"), ("host", "h")],
            vec![("sec-fetch-site", "none"), ("host", "h")],
        ];
        for pairs in refused {
            assert!(!same_origin(&headers(&pairs), public), "{pairs:?}");
        }
    }

    #[test]
    fn only_json_or_no_body_passes_with_a_cookie() {
        let cookie = ("cookie", "cr_session=abc");
        let post = |pairs: &[(&'static str, &str)]| {
            check(
                &Method::POST,
                "/api/keys",
                &headers(pairs),
                "http://localhost:3000",
            )
        };
        assert!(post(&[cookie, ("content-type", "application/json")]).is_ok());
        assert!(post(&[cookie, ("content-type", "Application/JSON; charset=utf-8")]).is_ok());
        assert!(post(&[cookie]).is_ok());
        assert!(post(&[cookie, ("content-length", "0")]).is_ok());
        for bad in [
            vec![cookie, ("content-type", "text/plain")],
            vec![cookie, ("content-type", "application/json-seq")],
            vec![cookie, ("content-length", "12")],
            vec![cookie, ("transfer-encoding", "chunked")],
        ] {
            assert_eq!(post(&bad).unwrap_err().code, "json_required", "{bad:?}");
        }
        // Without the cookie there is no session to ride; reads and callbacks are not checked.
        assert!(post(&[("content-type", "text/plain")]).is_ok());
        let get = check(
            &Method::GET,
            "/api/me",
            &headers(&[cookie, ("origin", "http://e.x")]),
            "http://l",
        );
        assert!(get.is_ok());
        let callback = headers(&[
            cookie,
            ("origin", "http://pay.x"),
            ("content-type", "text/plain"),
        ]);
        assert!(check(
            &Method::POST,
            "/api/payments/epay/notify",
            &callback,
            "http://l"
        )
        .is_ok());
    }
}
