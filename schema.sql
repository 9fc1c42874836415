-- Code Router database schema (the whole current schema; applied to a new, empty file).
-- Later changes are migrations in src/db/migrate.rs, folded in here as well; PRAGMA user_version
-- records the schema version of a file.
--
-- MONEY: every amount column is an INTEGER count of nano-dollars, 1 unit = 10^-9 USD
-- (1 USD = 1,000,000,000 units). The cheapest realistic price, $0.01 per 1M tokens, is 10 units
-- per token, so no real price is rounded away. Costs are computed exactly in decimal and rounded
-- UP to the next whole unit, once, at the end (a charge is never less than what was used).
-- The API and the config speak decimal strings ("0.000150"); no floating point anywhere.
-- LIMITS: no amount one operation moves exceeds $1,000,000,000 (10^18 units), and no balance
-- or reward_balance is credited past $1,000,000,000 (Money::MAX_AMOUNT, ledger::MAX_BALANCE).
-- The sum of the two is a ninth of the largest INTEGER, so `balance + amount` never overflows
-- into a REAL.
--
-- TIME: every *_at column is Unix seconds (UTC).

-- Accounts, with their two balances. A balance is always the sum of its ledger rows.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash  TEXT    NOT NULL,                  -- argon2id PHC string
    role           TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    user_group     TEXT    NOT NULL DEFAULT 'default', -- selects the [groups] price multiplier
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    referral_code  TEXT    NOT NULL UNIQUE,
    inviter_id     INTEGER REFERENCES users(id),
    balance        INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),        -- committed; holds of requests in flight live in memory
    reward_balance INTEGER NOT NULL DEFAULT 0 CHECK (reward_balance >= 0), -- referral rewards
    created_at     INTEGER NOT NULL
);

-- Console sessions; the cookie carries a random token, the table only its SHA-256.
CREATE TABLE sessions (
    token_hash  BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ip          TEXT    NOT NULL DEFAULT '',
    user_agent  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- API keys. The secret is shown once; the table keeps its keyed hash and a short display prefix.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    name          TEXT    NOT NULL,
    key_hash      BLOB    NOT NULL UNIQUE,
    key_hint      TEXT    NOT NULL,                 -- e.g. "sk-abcd…wxyz", for recognising a key
    spend_limit   INTEGER CHECK (spend_limit IS NULL OR spend_limit >= 0), -- NULL = unlimited
    used          INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0), -- committed charges
    expires_at    INTEGER,
    models        TEXT    NOT NULL DEFAULT '[]',    -- JSON array; empty = every model
    ip_allowlist  TEXT    NOT NULL DEFAULT '[]',    -- JSON array of addresses / CIDR ranges
    rpm           INTEGER CHECK (rpm IS NULL OR rpm > 0),
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    deleted       INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)), -- kept for the ledger's links
    last_used_at  INTEGER,
    created_at    INTEGER NOT NULL
);
CREATE INDEX api_keys_by_user ON api_keys(user_id);

-- The ledger: one row per change of any balance, append-only (see the triggers below).
-- amount is signed; balance_after is the balance of `account` right after this row.
CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    account       TEXT    NOT NULL CHECK (account IN ('balance', 'reward')),
    -- 'hold' and 'release' rows were written by versions that kept holds in the database; the
    -- server writes neither now (holds live in memory), but old files keep them.
    kind          TEXT    NOT NULL CHECK (kind IN ('topup', 'redeem', 'hold', 'settle', 'release',
                                                   'refund', 'referral_reward', 'commission',
                                                   'transfer', 'adjust')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    ref_type      TEXT    NOT NULL DEFAULT '',       -- request | code | order | user | admin
    ref_id        TEXT    NOT NULL DEFAULT '',
    key_id        INTEGER REFERENCES api_keys(id),   -- the key a request's charge counts against
    created_at    INTEGER NOT NULL
);
CREATE INDEX ledger_by_user ON ledger(user_id, id);
-- Every index here is written on every billed request.

CREATE TRIGGER ledger_is_append_only_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
CREATE TRIGGER ledger_is_append_only_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;

-- Server-wide secrets and settings made at first start (e.g. the API key hashing secret).
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);

-- The prices requests were billed at, each set once: canonical JSON of decimal strings (USD per
-- 1M tokens of each kind, the flat price, the group multiplier, the long-context tier), so any
-- charge can be checked by hand: tokens of each kind × their price / 1M + flat, × multiplier,
-- rounded up to the nano-dollar once.
CREATE TABLE price_sheets (
    id     INTEGER PRIMARY KEY,
    sheet  TEXT    NOT NULL UNIQUE
);

-- One row per /v1 request, failed ones too. cost is what the ledger charged (0 when not billed).
-- Token columns count each kind once: input_tokens are prompt tokens read fresh (neither from a
-- cache nor written to one), then cache reads, 5-minute and 1-hour cache writes; output_tokens
-- include reasoning_tokens.
CREATE TABLE request_logs (
    id            INTEGER PRIMARY KEY,
    request_id    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    user_id       INTEGER,
    key_id        INTEGER,
    key_name      TEXT    NOT NULL DEFAULT '',
    endpoint      TEXT    NOT NULL DEFAULT '',
    model         TEXT    NOT NULL DEFAULT '',
    upstream      TEXT    NOT NULL DEFAULT '',
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost          INTEGER NOT NULL DEFAULT 0,
    status        INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL DEFAULT 0,
    stream        INTEGER NOT NULL DEFAULT 0,
    client_ip     TEXT    NOT NULL DEFAULT '',
    usage_source  TEXT    NOT NULL DEFAULT '',      -- upstream | counted | '' (nothing to count)
    error         TEXT    NOT NULL DEFAULT '',      -- the detail, in English, for the operator
    cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens    INTEGER NOT NULL DEFAULT 0,   -- 5-minute
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens      INTEGER NOT NULL DEFAULT 0,   -- part of output_tokens
    sheet_id              INTEGER REFERENCES price_sheets(id),  -- the prices billed (NULL: none)
    error_code    TEXT    NOT NULL DEFAULT '',      -- what went wrong as a stable code the console
                                                    -- translates ('' for none, or a row older than it)
    uncollected   INTEGER NOT NULL DEFAULT 0        -- the part of cost the balance could not cover
);
-- Rows are appended in time order, so ids order them by time: time ranges and pruning walk ids,
-- and a lookup by request id reads the time its id carries (src/request_id.rs) and searches the
-- rows of that moment (an id of the older form, without a time, scans). Every index but the
-- partial ones is written on every request: by account; by model, for each account and for
-- everyone (a filter on a rare model reads only its rows); and failed requests alone (few), by
-- account and for everyone.
CREATE INDEX request_logs_by_user ON request_logs(user_id, id);
CREATE INDEX request_logs_by_user_model ON request_logs(user_id, model, id);
CREATE INDEX request_logs_by_model ON request_logs(model, id);
CREATE INDEX request_logs_failed_by_user ON request_logs(user_id, id) WHERE status >= 400;
CREATE INDEX request_logs_failed ON request_logs(status, id) WHERE status >= 400;

-- What request logs add up to, per account, key, model, day and status: written by the request
-- writer in the same transaction as the log rows it sums (so the two never differ), and read by
-- usage charts, the operator's overview and the totals of a log filter, which then read days
-- instead of requests. Pruning logs prunes their whole days here too. Amounts as in request_logs.
CREATE TABLE usage_daily (
    user_id               INTEGER NOT NULL,          -- 0: no account (the request named no valid key)
    day                   INTEGER NOT NULL,          -- Unix day, UTC: created_at / 86400
    key_id                INTEGER NOT NULL,          -- 0: no key
    model                 TEXT    NOT NULL,
    status                INTEGER NOT NULL,
    requests              INTEGER NOT NULL,
    charged               INTEGER NOT NULL,          -- requests with a cost, each one ledger row
    input_tokens          INTEGER NOT NULL,
    cache_read_tokens     INTEGER NOT NULL,
    cache_write_tokens    INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    reasoning_tokens      INTEGER NOT NULL,
    cost                  INTEGER NOT NULL,
    uncollected           INTEGER NOT NULL,
    uncollected_requests  INTEGER NOT NULL,
    PRIMARY KEY (user_id, day, key_id, model, status)
) WITHOUT ROWID;
CREATE INDEX usage_daily_by_day ON usage_daily(day);

-- The same sums for the operator, without the account and key: per day, model and status
-- (the overview's days and models, the totals of a log filter that names no account or key),
-- and per day and account (active and top members). Kept from usage_daily by the triggers
-- below, so in the request writer's transaction and equal to it, whoever writes usage_daily.
CREATE TABLE usage_daily_models (
    day                   INTEGER NOT NULL,
    model                 TEXT    NOT NULL,
    status                INTEGER NOT NULL,
    requests              INTEGER NOT NULL,
    charged               INTEGER NOT NULL,
    input_tokens          INTEGER NOT NULL,
    cache_read_tokens     INTEGER NOT NULL,
    cache_write_tokens    INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    reasoning_tokens      INTEGER NOT NULL,
    cost                  INTEGER NOT NULL,
    uncollected           INTEGER NOT NULL,
    uncollected_requests  INTEGER NOT NULL,
    PRIMARY KEY (day, model, status)
) WITHOUT ROWID;
CREATE TABLE usage_daily_members (
    day       INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    requests  INTEGER NOT NULL,
    charged   INTEGER NOT NULL,
    cost      INTEGER NOT NULL,
    PRIMARY KEY (day, user_id)
) WITHOUT ROWID;
CREATE TRIGGER usage_daily_insert AFTER INSERT ON usage_daily
BEGIN
    INSERT INTO usage_daily_models VALUES (NEW.day, NEW.model, NEW.status, NEW.requests,
        NEW.charged, NEW.input_tokens, NEW.cache_read_tokens, NEW.cache_write_tokens,
        NEW.cache_write_1h_tokens, NEW.output_tokens, NEW.reasoning_tokens, NEW.cost,
        NEW.uncollected, NEW.uncollected_requests)
    ON CONFLICT (day, model, status) DO UPDATE SET
        requests = requests + excluded.requests,
        charged = charged + excluded.charged,
        input_tokens = input_tokens + excluded.input_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
        cache_write_1h_tokens = cache_write_1h_tokens + excluded.cache_write_1h_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
        cost = cost + excluded.cost,
        uncollected = uncollected + excluded.uncollected,
        uncollected_requests = uncollected_requests + excluded.uncollected_requests;
    INSERT INTO usage_daily_members VALUES (NEW.day, NEW.user_id, NEW.requests, NEW.charged, NEW.cost)
    ON CONFLICT (day, user_id) DO UPDATE SET
        requests = requests + excluded.requests,
        charged = charged + excluded.charged,
        cost = cost + excluded.cost;
END;
CREATE TRIGGER usage_daily_update AFTER UPDATE ON usage_daily
BEGIN
    UPDATE usage_daily_models SET
        requests = requests - OLD.requests + NEW.requests,
        charged = charged - OLD.charged + NEW.charged,
        input_tokens = input_tokens - OLD.input_tokens + NEW.input_tokens,
        cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens + NEW.cache_read_tokens,
        cache_write_tokens = cache_write_tokens - OLD.cache_write_tokens + NEW.cache_write_tokens,
        cache_write_1h_tokens = cache_write_1h_tokens - OLD.cache_write_1h_tokens + NEW.cache_write_1h_tokens,
        output_tokens = output_tokens - OLD.output_tokens + NEW.output_tokens,
        reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens + NEW.reasoning_tokens,
        cost = cost - OLD.cost + NEW.cost,
        uncollected = uncollected - OLD.uncollected + NEW.uncollected,
        uncollected_requests = uncollected_requests - OLD.uncollected_requests + NEW.uncollected_requests
    WHERE day = NEW.day AND model = NEW.model AND status = NEW.status;
    UPDATE usage_daily_members SET
        requests = requests - OLD.requests + NEW.requests,
        charged = charged - OLD.charged + NEW.charged,
        cost = cost - OLD.cost + NEW.cost
    WHERE day = NEW.day AND user_id = NEW.user_id;
END;
CREATE TRIGGER usage_daily_delete AFTER DELETE ON usage_daily
BEGIN
    UPDATE usage_daily_models SET
        requests = requests - OLD.requests,
        charged = charged - OLD.charged,
        input_tokens = input_tokens - OLD.input_tokens,
        cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens,
        cache_write_tokens = cache_write_tokens - OLD.cache_write_tokens,
        cache_write_1h_tokens = cache_write_1h_tokens - OLD.cache_write_1h_tokens,
        output_tokens = output_tokens - OLD.output_tokens,
        reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens,
        cost = cost - OLD.cost,
        uncollected = uncollected - OLD.uncollected,
        uncollected_requests = uncollected_requests - OLD.uncollected_requests
    WHERE day = OLD.day AND model = OLD.model AND status = OLD.status;
    DELETE FROM usage_daily_models
    WHERE day = OLD.day AND model = OLD.model AND status = OLD.status AND requests = 0;
    UPDATE usage_daily_members SET
        requests = requests - OLD.requests,
        charged = charged - OLD.charged,
        cost = cost - OLD.cost
    WHERE day = OLD.day AND user_id = OLD.user_id;
    DELETE FROM usage_daily_members WHERE day = OLD.day AND user_id = OLD.user_id AND requests = 0;
END;

-- Redemption codes. The code itself is shown once, when generated; the table keeps only its
-- SHA-256 (so a leaked file hands out no unused code) and `hint`, its first characters, for the
-- admin list. used_by/used_at are set together, once, by the conditional UPDATE that redeems it.
CREATE TABLE redemption_codes (
    id          INTEGER PRIMARY KEY,
    code_hash   BLOB    NOT NULL UNIQUE,
    hint        TEXT    NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    note        TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',         -- admin username, or `cli`
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,                             -- NULL = never
    used_by     INTEGER REFERENCES users(id),
    used_at     INTEGER,
    voided_at   INTEGER,                             -- an operator withdrew the unused code
    CHECK ((used_by IS NULL) = (used_at IS NULL))
);
CREATE INDEX redemption_codes_by_user ON redemption_codes(used_by) WHERE used_by IS NOT NULL;

-- Referral rewards, one row per invited account: what registration promised (per [referral] at
-- that moment) and when the inviter's share was paid. paid_at stays NULL while the reward waits
-- for the invitee's first top-up (reward_on = "first_topup"); the invitee_id key and the
-- conditional UPDATE of paid_at make a reward impossible to pay twice.
CREATE TABLE referral_rewards (
    invitee_id      INTEGER PRIMARY KEY REFERENCES users(id),
    inviter_id      INTEGER NOT NULL REFERENCES users(id),
    inviter_reward  INTEGER NOT NULL CHECK (inviter_reward >= 0),
    invitee_reward  INTEGER NOT NULL CHECK (invitee_reward >= 0),
    created_at      INTEGER NOT NULL,
    paid_at         INTEGER
);
CREATE INDEX referral_rewards_by_inviter ON referral_rewards(inviter_id);
CREATE INDEX users_by_inviter ON users(inviter_id) WHERE inviter_id IS NOT NULL;

-- Online payment orders (Stripe, Creem, EPay, BTCPay, NOWPayments): recorded 'pending' at
-- checkout, then moved to 'paid' by a verified callback in the same transaction as its ledger row
-- (kind 'topup', ref_type 'order', ref_id order_no); 'failed' when the provider opened no checkout
-- or reports the payment failed, 'expired' when the provider closed the checkout unpaid.
-- 'processing' (crypto seen, waiting for confirmations) and 'partially_paid' (less than the price
-- arrived) are shown to the member and credit nothing; such an order can still be paid.
-- amount is what the balance gets (nano-dollars); pay_amount is what the provider must report as
-- paid, an integer of pay_currency's minor unit (cents; pay_decimals places), as sent to it.
CREATE TABLE orders (
    id            INTEGER PRIMARY KEY,
    order_no      TEXT    NOT NULL UNIQUE,           -- public id, sent to the provider
    user_id       INTEGER NOT NULL REFERENCES users(id),
    provider      TEXT    NOT NULL CHECK (provider IN ('stripe', 'creem', 'epay', 'btcpay',
                                                       'nowpayments')),
    pay_type      TEXT    NOT NULL DEFAULT '',       -- EPay: alipay, wxpay, usdt, ...
    amount        INTEGER NOT NULL CHECK (amount > 0),
    pay_amount    INTEGER NOT NULL CHECK (pay_amount > 0),
    pay_currency  TEXT    NOT NULL,                  -- lowercase ISO code, e.g. 'usd', 'cny'
    pay_decimals  INTEGER NOT NULL CHECK (pay_decimals BETWEEN 0 AND 3),
    status        TEXT    NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'processing', 'partially_paid', 'paid',
                                            'failed', 'expired')),
    provider_ref  TEXT,                              -- Stripe session, Creem checkout, EPay trade_no,
                                                     -- BTCPay invoice, NOWPayments invoice
    note          TEXT    NOT NULL DEFAULT '',       -- why it failed, or the last refused callback
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    paid_at       INTEGER,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX orders_by_user ON orders(user_id, id);

-- Referral commission (ledger kind 'commission', to the inviter's reward balance) names its cause,
-- the order or code; this index makes a second commission for one cause impossible.
CREATE UNIQUE INDEX ledger_commission_once ON ledger(ref_type, ref_id) WHERE kind = 'commission';
-- Reward balance rows (rewards, commission, transfers) by account, for the referral figures; only
-- those rows are written to it, never a request's charge.
CREATE INDEX ledger_reward_by_user ON ledger(user_id, kind) WHERE account = 'reward';
-- Credits from outside (paid top-ups, redeemed codes), few among the request charges, by time,
-- for the operator's overview.
CREATE INDEX ledger_credits ON ledger(created_at) WHERE kind IN ('topup', 'redeem');

-- A member's low-balance warning: the console shows a banner while the balance is below
-- `threshold` (0: never). Without a row the threshold is a day of the member's recent spend.
CREATE TABLE low_balance_alerts (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id),
    threshold   INTEGER NOT NULL CHECK (threshold >= 0),
    updated_at  INTEGER NOT NULL
);
