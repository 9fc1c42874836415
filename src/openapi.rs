//! The OpenAPI 3 document of the `/api` surface, generated from the handlers' annotations and
//! served at `GET /api/openapi.json`. `tests/it/openapi.rs` checks it against `router.rs`.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::error::ErrorBody;
use crate::{accounts, admin, keys, ledger, logs, referral, system, topup};

/// The session cookie scheme's name in the document; member routes require it, admin routes
/// require it with the `admin` role.
pub const SESSION_SCHEME: &str = "cr_session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Code Router API",
        version = env!("CARGO_PKG_VERSION"),
        description = "The account, billing and admin API of Code Router, a self-hosted \
            OpenAI-compatible LLM gateway. The OpenAI-compatible gateway itself is under `/v1` \
            and is not described here.\n\n\
            Sign in with `POST /api/auth/login`: it sets the `cr_session` cookie that member \
            routes require; admin routes also require the account's `admin` role. Money is a \
            decimal string in USD (`\"0.050000\"`), never a JSON number; times are RFC 3339 \
            strings in UTC. Lists are newest first and page with `next_cursor`: pass it back as \
            `cursor` until it is `null`. Every error answers `{\"error\": {\"message\", \"type\", \
            \"code\"}}`.\n\n\
            A request that changes state (any method but GET, HEAD and OPTIONS) is refused with 403 \
            when its `Origin` (or, without one, `Sec-Fetch-Site`) is not this server's own — its \
            `Host` or `server.public_url` — (`cross_origin_request`), or when it carries the \
            session cookie and a body that is not `Content-Type: application/json` \
            (`json_required`). Scripts that send no `Origin` are unaffected, and so are the \
            payment providers' callbacks under `/api/payments/`.",
        license(name = "MIT"),
    ),
    paths(
        system::status,
        openapi_json,
        accounts::handlers::register,
        accounts::handlers::login,
        accounts::handlers::logout,
        accounts::handlers::change_password,
        accounts::handlers::me,
        ledger::handlers::list_ledger,
        ledger::handlers::charges_per_day,
        ledger::low_balance::get_balance_alert,
        ledger::low_balance::put_balance_alert,
        keys::handlers::list_keys,
        keys::handlers::create_key,
        keys::handlers::update_key,
        keys::handlers::delete_key,
        logs::handlers::list_logs,
        logs::handlers::export_csv,
        logs::handlers::usage,
        crate::pricing::list::list_models,
        referral::handlers::summary,
        referral::handlers::transfer,
        topup::codes::handlers::redeem,
        topup::payments::handlers::list_methods,
        topup::payments::handlers::checkout,
        topup::payments::handlers::list_my_orders,
        topup::payments::handlers::stripe_webhook,
        topup::payments::handlers::creem_webhook,
        topup::payments::handlers::epay_notify,
        topup::payments::webhooks::btcpay_webhook,
        topup::payments::webhooks::nowpayments_ipn,
        admin::overview::overview,
        admin::users::list_users,
        admin::users::create_user,
        admin::users::update_user,
        admin::users::adjust_user,
        admin::users::reset_password,
        topup::codes::handlers::list,
        topup::codes::handlers::generate,
        topup::codes::handlers::void,
        topup::payments::handlers::list_all_orders,
        logs::handlers::list_all_logs,
        logs::handlers::export_all_csv,
        admin::system::list_upstreams,
        admin::upstream_test::test_upstream,
        admin::system::list_prices,
        admin::system::reload,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SessionCookie, &SplitEpayNotify),
    tags(
        (name = "system", description = "The server itself: status and this document"),
        (name = "accounts", description = "Registration, sign-in and the signed-in account"),
        (name = "ledger", description = "Every change to the member's balances"),
        (name = "keys", description = "The member's API keys for `/v1`"),
        (name = "logs", description = "The member's request logs and usage totals"),
        (name = "models", description = "The models a member can call and their prices"),
        (name = "referral", description = "Referral code, rewards and reward transfers"),
        (name = "topup", description = "Adding balance: redemption codes and online payment"),
        (name = "payments", description = "Callbacks from payment providers, verified by signature"),
        (name = "admin", description = "Operator routes; every one requires an admin account"),
    ),
)]
pub struct ApiDoc;

/// Adds the session cookie as the security scheme that operations name.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "cr_session",
                "The session cookie set by `POST /api/auth/login`. Operations that require the \
                 `admin` role also need the account to be an admin (403 otherwise).",
            ))),
        );
    }
}

/// `#[utoipa::path(method(get, post))]` gives both methods of the EPay notify one operation, but
/// operation ids must be unique, and the parameters are in the query on GET and in a form body on
/// POST: each method gets its own id and only its own way in.
struct SplitEpayNotify;

impl Modify for SplitEpayNotify {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(item) = openapi.paths.paths.get_mut("/api/payments/epay/notify") else {
            return;
        };
        if let Some(get) = item.get.as_mut() {
            get.operation_id = Some("epay_notify_get".into());
            get.request_body = None;
        }
        if let Some(post) = item.post.as_mut() {
            post.operation_id = Some("epay_notify_post".into());
            post.parameters = None;
            // A POST with an empty body is read from its query string instead.
            if let Some(body) = post.request_body.as_mut() {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

/// Built once: the document depends only on the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "system",
    responses((status = 200, description = "The OpenAPI 3 document of `/api`", body = Object)),
)]
pub async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

/// What a route that reads or writes the database may answer besides its own outcomes.
#[derive(IntoResponses)]
pub enum ServerErrors {
    #[response(
        status = 500,
        description = "Internal error (`internal_error`); the server log has the details"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "The database is busy (`busy`); retry shortly"
    )]
    Busy(ErrorBody),
}

/// A member route's common answers: no valid session, or the server failing.
#[derive(IntoResponses)]
pub enum MemberErrors {
    #[response(
        status = 401,
        description = "Not signed in (`not_signed_in`): no session cookie, or it expired, or the \
            account is disabled"
    )]
    NotSignedIn(ErrorBody),
    #[response(
        status = 500,
        description = "Internal error (`internal_error`); the server log has the details"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "The database is busy (`busy`); retry shortly"
    )]
    Busy(ErrorBody),
}

/// An admin route's common answers: the member ones, and 403 for a member who is not an admin.
#[derive(IntoResponses)]
pub enum AdminErrors {
    #[response(
        status = 401,
        description = "Not signed in (`not_signed_in`): no session cookie, or it expired, or the \
            account is disabled"
    )]
    NotSignedIn(ErrorBody),
    #[response(
        status = 403,
        description = "Signed in, but not an admin (`admin_only`)"
    )]
    AdminOnly(ErrorBody),
    #[response(
        status = 500,
        description = "Internal error (`internal_error`); the server log has the details"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "The database is busy (`busy`); retry shortly"
    )]
    Busy(ErrorBody),
}

/// A route with a JSON body refuses one larger than `server.api_body_limit_kb`.
#[derive(IntoResponses)]
pub enum BodyTooLarge {
    #[response(
        status = 413,
        description = "The body is larger than `server.api_body_limit_kb` (`body_too_large`)"
    )]
    TooLarge(ErrorBody),
}
