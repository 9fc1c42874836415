//! Price lists: every model's prices as a member pays them (after their group's multiplier) for
//! `GET /api/models` and the console's Models & Prices page, and as configured for the admin's
//! `GET /api/admin/prices`.

use axum::extract::State;
use axum::Json;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{ModelPrice, PriceTable, Rate, Tier};
use crate::accounts::session::Session;
use crate::error::ApiResult;
use crate::extract::QueryParams;
use crate::openapi::MemberErrors;
use crate::state::AppState;

/// USD per 1M tokens of each kind and per request, as decimal strings. A cache price the config
/// does not set is the input price, and shown as such.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Prices {
    #[schema(example = "3")]
    pub input: String,
    #[schema(example = "15")]
    pub output: String,
    #[schema(example = "0.3")]
    pub cache_read: String,
    #[schema(example = "3.75")]
    pub cache_write: String,
    #[schema(example = "6")]
    pub cache_write_1h: String,
    #[schema(example = "0")]
    pub per_request: String,
}

/// A long-context tier: its prices for prompts above `above_input_tokens`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierPrices {
    #[schema(example = 200000)]
    pub above_input_tokens: u64,
    #[serde(flatten)]
    pub prices: Prices,
}

/// One model's prices.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelPrices {
    pub model: String,
    /// Served without charge: the model name ends in `:free`.
    pub free: bool,
    /// `null` for a free model.
    #[schema(required = true)]
    pub prices: Option<Prices>,
    pub tiers: Vec<TierPrices>,
}

/// A model's prices with a tier over them (if any), × `multiplier`.
fn prices_of(price: &ModelPrice, tier: Option<&Tier>, multiplier: Decimal) -> Prices {
    let sheet = super::sheet_of(price, tier, Decimal::ONE);
    let text = |d: Decimal| (d * multiplier).normalize().to_string();
    Prices {
        input: text(sheet.input),
        output: text(sheet.output),
        cache_read: text(sheet.cache_read),
        cache_write: text(sheet.cache_write),
        cache_write_1h: text(sheet.cache_write_1h),
        per_request: text(sheet.per_request),
    }
}

/// The prices of `model` × `multiplier` (1 for the configured prices).
pub fn model_prices(table: &PriceTable, model: &str, multiplier: Decimal) -> ModelPrices {
    let price = table.price(model);
    ModelPrices {
        model: model.to_string(),
        free: table.is_free(model),
        prices: price.map(|p| prices_of(p, None, multiplier)),
        tiers: price
            .map(|p| {
                p.tiers
                    .iter()
                    .map(|t| TierPrices {
                        above_input_tokens: t.above_input_tokens,
                        prices: prices_of(p, Some(t), multiplier),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// A decimal string of a configured rate.
pub fn rate_text(rate: Rate) -> String {
    rate.0.normalize().to_string()
}

/// What `GET /api/models` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberPriceList {
    /// The models the member's keys can call, with the member's prices.
    pub data: Vec<ModelPrices>,
    /// The member's price group and its multiplier, already applied to every price here.
    #[schema(example = "default")]
    pub group: String,
    #[schema(example = "1")]
    pub multiplier: String,
    /// The unit of token prices: `USD per 1M tokens`.
    pub unit: String,
}

/// `GET /api/models` query.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelsQuery {
    /// Every served model, whatever the member's keys allow (for choosing a new key's models).
    pub all: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/api/models",
    tag = "models",
    summary = "Models and prices",
    description = "The models the member's API keys can call (every served model when a key \
        allows all, or when there is no key yet), each with its prices per 1M tokens of each kind \
        and per request after the member's group multiplier, long-context tiers included. A cache \
        price the operator did not set is the input price.",
    params(ModelsQuery),
    security(("cr_session" = [])),
    responses(
        (status = 200, description = "The member's price list", body = MemberPriceList),
        (status = 400, description = "A malformed query (`invalid_query`)", body = crate::error::ErrorBody),
        MemberErrors,
    ),
)]
pub async fn list_models(
    State(state): State<AppState>,
    session: Session,
    QueryParams(query): QueryParams<ModelsQuery>,
) -> ApiResult<Json<MemberPriceList>> {
    let user_id = session.user.id;
    let allowed = if query.all == Some(true) {
        None
    } else {
        state
            .db
            .read(move |conn| crate::keys::allowed_models_of_user(conn, user_id))
            .await?
    };
    let prices = state.prices();
    let upstreams = state.upstreams();
    let multiplier = prices.group_rate(&session.user.group);
    let data = upstreams
        .models()
        .into_iter()
        .filter(|m| prices.is_served(m))
        .filter(|m| {
            allowed
                .as_ref()
                .is_none_or(|list| list.iter().any(|a| a == m))
        })
        .map(|m| model_prices(&prices, m, multiplier))
        .collect();
    Ok(Json(MemberPriceList {
        data,
        group: session.user.group.clone(),
        multiplier: multiplier.normalize().to_string(),
        unit: "USD per 1M tokens".into(),
    }))
}
