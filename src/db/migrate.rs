//! Schema versions: a new file gets `schema.sql` whole; an older file gets each later migration in
//! order, one transaction each; `PRAGMA user_version` records where a file stands.

use rusqlite::{params, Connection, Transaction};

/// The full, current schema, applied to an empty database.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// One step from a schema version to the next: plain SQL, or SQL that needs a loop around it.
pub enum Migration {
    Sql(&'static str),
    Steps(fn(&Transaction) -> rusqlite::Result<()>),
}

/// Migrations from version N (index N-1) to N+1. The schema version is one more than their count.
/// Add a migration here AND fold the same change into schema.sql.
pub const MIGRATIONS: &[Migration] = &[
    // 1 → 2: the `holds` table and the ledger's `hold_id` go (holds live in memory); the ledger
    // learns the `commission` kind.
    Migration::Steps(drop_holds),
    // 2 → 3: orders take the crypto providers and the states a crypto payment passes through;
    // the ledger gets one commission per cause, and an index of reward balance rows.
    Migration::Sql(CRYPTO_ORDERS),
    // 3 → 4: request logs count cache reads, cache writes (5-minute and 1-hour) and reasoning
    // tokens, and name the prices they were billed at.
    Migration::Sql(TOKEN_KINDS),
    // 4 → 5: what the console shows of a request log row in any language (a stable error code
    // and the uncollected part of its cost as a number), codes an operator voids, and each
    // account's low-balance threshold.
    Migration::Steps(console_columns),
    // 5 → 6: daily usage rollups, backfilled from the logs there are, so charts and totals read
    // days instead of requests; log indexes by model and of failed requests, so a filter reads
    // only the rows it matches; an index of the ledger's credits for the operator's overview.
    Migration::Steps(usage_rollups),
    // 6 → 7: the operator's rollups (per day, model and status; per day and account), summed
    // from the per-account ones and kept equal to them by triggers, so the overview and the
    // unfiltered totals read days, not accounts × keys × days.
    Migration::Sql(OPERATOR_ROLLUPS),
];

/// Version 7 (the same as in schema.sql, then the sums of the rollups there are).
const OPERATOR_ROLLUPS: &str = "
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
    INSERT INTO usage_daily_models
    SELECT day, model, status, sum(requests), sum(charged), sum(input_tokens),
           sum(cache_read_tokens), sum(cache_write_tokens), sum(cache_write_1h_tokens),
           sum(output_tokens), sum(reasoning_tokens), sum(cost), sum(uncollected),
           sum(uncollected_requests)
    FROM usage_daily GROUP BY day, model, status;
    INSERT INTO usage_daily_members
    SELECT day, user_id, sum(requests), sum(charged), sum(cost) FROM usage_daily GROUP BY day, user_id;
";

/// Version 6. The rollups are summed from every log row in one pass (a file of millions of rows
/// takes a while once, at the first start of this version).
fn usage_rollups(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE INDEX request_logs_by_user_model ON request_logs(user_id, model, id);
         CREATE INDEX request_logs_by_model ON request_logs(model, id);
         CREATE INDEX request_logs_failed_by_user ON request_logs(user_id, id) WHERE status >= 400;
         CREATE INDEX request_logs_failed ON request_logs(status, id) WHERE status >= 400;
         CREATE TABLE usage_daily (
             user_id               INTEGER NOT NULL,
             day                   INTEGER NOT NULL,
             key_id                INTEGER NOT NULL,
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
             PRIMARY KEY (user_id, day, key_id, model, status)
         ) WITHOUT ROWID;
         CREATE INDEX usage_daily_by_day ON usage_daily(day);
         CREATE INDEX ledger_credits ON ledger(created_at) WHERE kind IN ('topup', 'redeem');",
    )?;
    tx.execute_batch(crate::logs::usage::SUM_EVERY_LOG)
}

const TOKEN_KINDS: &str = "
    CREATE TABLE price_sheets (
        id     INTEGER PRIMARY KEY,
        sheet  TEXT    NOT NULL UNIQUE
    );
    ALTER TABLE request_logs ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE request_logs ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE request_logs ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE request_logs ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE request_logs ADD COLUMN sheet_id INTEGER REFERENCES price_sheets(id);
";

/// Version 3. SQLite cannot change a CHECK in place, so `orders` is rebuilt under its own name
/// (the old table is moved aside first, which keeps the new one's SQL as schema.sql states it).
const CRYPTO_ORDERS: &str = "
    ALTER TABLE orders RENAME TO orders_v2;
    CREATE TABLE orders (
        id            INTEGER PRIMARY KEY,
        order_no      TEXT    NOT NULL UNIQUE,
        user_id       INTEGER NOT NULL REFERENCES users(id),
        provider      TEXT    NOT NULL CHECK (provider IN ('stripe', 'creem', 'epay', 'btcpay',
                                                           'nowpayments')),
        pay_type      TEXT    NOT NULL DEFAULT '',
        amount        INTEGER NOT NULL CHECK (amount > 0),
        pay_amount    INTEGER NOT NULL CHECK (pay_amount > 0),
        pay_currency  TEXT    NOT NULL,
        pay_decimals  INTEGER NOT NULL CHECK (pay_decimals BETWEEN 0 AND 3),
        status        TEXT    NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'processing', 'partially_paid', 'paid',
                                                'failed', 'expired')),
        provider_ref  TEXT,
        note          TEXT    NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        paid_at       INTEGER,
        UNIQUE (provider, provider_ref)
    );
    INSERT INTO orders (id, order_no, user_id, provider, pay_type, amount, pay_amount,
                        pay_currency, pay_decimals, status, provider_ref, note, created_at,
                        updated_at, paid_at)
        SELECT id, order_no, user_id, provider, pay_type, amount, pay_amount, pay_currency,
               pay_decimals, status, provider_ref, note, created_at, updated_at, paid_at
        FROM orders_v2 ORDER BY id;
    DROP TABLE orders_v2;
    CREATE INDEX orders_by_user ON orders(user_id, id);
    CREATE UNIQUE INDEX ledger_commission_once ON ledger(ref_type, ref_id) WHERE kind = 'commission';
    CREATE INDEX ledger_reward_by_user ON ledger(user_id, kind) WHERE account = 'reward';
";

/// Version 4: new columns are appended with ALTER TABLE (request logs can be large, and adding a
/// column with a constant default rewrites nothing); old rows that said "N of the cost could not
/// be collected" in words get that amount as a number, so sums over it are exact.
fn console_columns(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE request_logs ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
         ALTER TABLE request_logs ADD COLUMN uncollected INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE redemption_codes ADD COLUMN voided_at INTEGER;
         CREATE TABLE low_balance_alerts (
             user_id     INTEGER PRIMARY KEY REFERENCES users(id),
             threshold   INTEGER NOT NULL CHECK (threshold >= 0),
             updated_at  INTEGER NOT NULL
         );",
    )?;
    const SAID: &str = " of the cost could not be collected";
    let said: Vec<(i64, String)> = {
        let mut stmt = tx.prepare(
            "SELECT id, error FROM request_logs WHERE error LIKE '% of the cost could not be collected'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, error) in said {
        let amount = error
            .strip_suffix(SAID)
            .and_then(|a| crate::ledger::money::Money::parse(a).ok());
        if let Some(amount) = amount.filter(|a| a.is_positive()) {
            tx.execute(
                "UPDATE request_logs SET error_code = 'uncollected', uncollected = ?1 WHERE id = ?2",
                params![amount.units(), id],
            )?;
        }
    }
    Ok(())
}

pub const SCHEMA_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    let version = user_version(conn).map_err(|e| e.to_string())?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "this database has schema version {version}, newer than this binary understands \
             ({SCHEMA_VERSION}); run the newer code-router or restore a backup"
        ));
    }
    if version == 0 {
        let has_tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| e.to_string())?;
        if has_tables > 0 {
            return Err("this file holds tables but no Code Router schema version; \
                        it is not a Code Router database"
                .into());
        }
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(SCHEMA)
            .map_err(|e| format!("applying schema.sql: {e}"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        return Ok(());
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Rebuilding a table (SQLite's way to change a column or a CHECK) needs foreign keys off,
    // which can only change outside a transaction; each migration checks them before it commits.
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(|e| e.to_string())?;
    let result = run_migrations(conn, version);
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(|e| e.to_string())?;
    result
}

fn run_migrations(conn: &mut Connection, version: i64) -> Result<(), String> {
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let to = index as i64 + 2;
        if version >= to {
            continue;
        }
        let failed = |e: rusqlite::Error| format!("migration to version {to}: {e}");
        let tx = conn.transaction().map_err(failed)?;
        match migration {
            Migration::Sql(sql) => tx.execute_batch(sql).map_err(failed)?,
            Migration::Steps(steps) => steps(&tx).map_err(failed)?,
        }
        let broken: i64 = tx
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .map_err(failed)?;
        if broken > 0 {
            return Err(format!(
                "migration to version {to}: {broken} rows would break foreign keys; nothing changed"
            ));
        }
        tx.pragma_update(None, "user_version", to).map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(version = to, "database migrated");
    }
    Ok(())
}

/// Version 2: releases what an old file still holds (the requests behind open holds died with
/// the process that took them), then rebuilds the ledger without `hold_id` and drops `holds`.
fn drop_holds(tx: &Transaction) -> rusqlite::Result<()> {
    let open: Vec<(i64, i64, Option<i64>, i64, String)> = {
        let mut stmt = tx.prepare(
            "SELECT id, user_id, key_id, amount, request_id FROM holds WHERE state = 'open' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for (id, user_id, key_id, amount, request_id) in open {
        let after: i64 = tx.query_row(
            "UPDATE users SET balance = balance + ?1 WHERE id = ?2 RETURNING balance",
            params![amount, user_id],
            |r| r.get(0),
        )?;
        if let Some(key_id) = key_id {
            tx.execute(
                "UPDATE api_keys SET used = used - ?1 WHERE id = ?2",
                params![amount, key_id],
            )?;
        }
        tx.execute(
            "INSERT INTO ledger (user_id, account, kind, amount, balance_after, reason, ref_type,
                                 ref_id, key_id, created_at)
             VALUES (?1, 'balance', 'release', ?2, ?3, 'released at upgrade: request did not finish',
                     'request', ?4, ?5, ?6)",
            params![user_id, amount, after, request_id, key_id, now],
        )?;
        tx.execute(
            "UPDATE holds SET state = 'released', cost = 0, closed_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
    }
    tx.execute_batch(
        "CREATE TABLE ledger_v2 (
             id            INTEGER PRIMARY KEY,
             user_id       INTEGER NOT NULL REFERENCES users(id),
             account       TEXT    NOT NULL CHECK (account IN ('balance', 'reward')),
             kind          TEXT    NOT NULL CHECK (kind IN ('topup', 'redeem', 'hold', 'settle', 'release',
                                                            'refund', 'referral_reward', 'commission',
                                                            'transfer', 'adjust')),
             amount        INTEGER NOT NULL,
             balance_after INTEGER NOT NULL,
             reason        TEXT    NOT NULL DEFAULT '',
             ref_type      TEXT    NOT NULL DEFAULT '',
             ref_id        TEXT    NOT NULL DEFAULT '',
             key_id        INTEGER REFERENCES api_keys(id),
             created_at    INTEGER NOT NULL
         );
         INSERT INTO ledger_v2 (id, user_id, account, kind, amount, balance_after, reason, ref_type,
                                ref_id, key_id, created_at)
             SELECT id, user_id, account, kind, amount, balance_after, reason, ref_type, ref_id,
                    key_id, created_at
             FROM ledger ORDER BY id;
         DROP TABLE ledger;
         ALTER TABLE ledger_v2 RENAME TO ledger;
         CREATE INDEX ledger_by_user ON ledger(user_id, id);
         CREATE TRIGGER ledger_is_append_only_update BEFORE UPDATE ON ledger
         BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
         CREATE TRIGGER ledger_is_append_only_delete BEFORE DELETE ON ledger
         BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
         DROP TABLE holds;",
    )
}
