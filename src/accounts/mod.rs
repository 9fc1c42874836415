//! Accounts: users and roles, their creation and lookup, and the first admin.

pub mod csrf;
pub mod handlers;
pub mod password;
pub mod session;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{Store, StoreError};
use crate::error::{ApiError, ApiResult};
use crate::ledger::money::Money;
use crate::random;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    fn from_db(s: &str) -> Role {
        if s == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub group: String,
    pub disabled: bool,
    pub referral_code: String,
    pub balance: Money,
    pub reward_balance: Money,
    pub created_at: i64,
}

pub const USER_COLUMNS: &str =
    "id, username, role, user_group, disabled, referral_code, balance, reward_balance, created_at";

impl User {
    pub fn from_row(row: &Row) -> rusqlite::Result<User> {
        Ok(User {
            id: row.get(0)?,
            username: row.get(1)?,
            role: Role::from_db(&row.get::<_, String>(2)?),
            group: row.get(3)?,
            disabled: row.get(4)?,
            referral_code: row.get(5)?,
            balance: Money::from_units(row.get(6)?),
            reward_balance: Money::from_units(row.get(7)?),
            created_at: row.get(8)?,
        })
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Usernames: 3 to 32 letters, digits, `_`, `-` or `.`.
pub fn check_username(username: &str) -> Result<(), ApiError> {
    let ok = (3..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_username",
            "username must be 3 to 32 letters, digits, '_', '-' or '.'",
        ))
    }
}

pub fn find_user_by_id(conn: &Connection, id: i64) -> ApiResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    Ok(conn
        .query_row(&sql, [id], User::from_row)
        .optional()
        .store("find the user")?)
}

/// The user and their password hash, for login.
pub fn find_user_for_login(conn: &Connection, username: &str) -> ApiResult<Option<(User, String)>> {
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1");
    Ok(conn
        .query_row(&sql, [username], |row| {
            Ok((User::from_row(row)?, row.get(9)?))
        })
        .optional()
        .store("find the user to log in")?)
}

pub fn find_user_by_username(conn: &Connection, username: &str) -> ApiResult<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1");
    conn.query_row(&sql, [username], User::from_row)
        .optional()
        .store("find the user by name")?
        .ok_or_else(|| ApiError::not_found("user_not_found", format!("no user named {username}")))
}

/// Every account by id, for the command line.
pub fn find_all_users(conn: &Connection) -> ApiResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
    let mut stmt = conn.prepare(&sql).store("prepare the list of users")?;
    let rows = stmt.query_map([], User::from_row).store("list the users")?;
    Ok(rows.collect::<Result<_, _>>().store("read the users")?)
}

/// Replaces the password hash and ends every session of the account, in one transaction: a
/// new password set by an operator (a reset, or a lost one) must not leave old sign-ins open.
/// Returns the number of sessions ended.
pub fn set_password_hash(conn: &mut Connection, user_id: i64, hash: &str) -> ApiResult<usize> {
    let tx = crate::db::immediate(conn)?;
    let changed = tx
        .execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2",
            params![hash, user_id],
        )
        .store("update the password")?;
    if changed == 0 {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    }
    let ended = session::delete_sessions_of_user(&tx, user_id)?;
    tx.commit().store("commit the password change")?;
    Ok(ended)
}

/// Disables or enables an account; disabling ends its sessions in the same transaction (its API
/// keys stop at the next check: the key check reads the owner's state). Returns the number of
/// sessions ended.
pub fn set_disabled(conn: &mut Connection, user_id: i64, disabled: bool) -> ApiResult<usize> {
    let tx = crate::db::immediate(conn)?;
    let changed = tx
        .execute(
            "UPDATE users SET disabled = ?1 WHERE id = ?2",
            params![disabled, user_id],
        )
        .store("update whether the account is disabled")?;
    if changed == 0 {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    }
    let ended = if disabled {
        session::delete_sessions_of_user(&tx, user_id)?
    } else {
        0
    };
    tx.commit().store("commit the change to the account")?;
    Ok(ended)
}

pub fn find_user_id_by_referral_code(conn: &Connection, code: &str) -> ApiResult<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM users WHERE referral_code = ?1",
            [code],
            |row| row.get(0),
        )
        .optional()
        .store("find the user by referral code")?)
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub inviter_id: Option<i64>,
}

/// Inserts an account with a fresh unique referral code; a taken username is a 409.
pub fn create_user(conn: &Connection, new: &NewUser, now: i64) -> ApiResult<User> {
    check_username(new.username)?;
    for _ in 0..8 {
        let code = random::readable(8);
        let inserted = conn.execute(
            "INSERT INTO users (username, password_hash, role, referral_code, inviter_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                new.username,
                new.password_hash,
                new.role.as_str(),
                code,
                new.inviter_id,
                now
            ],
        );
        match inserted {
            Ok(_) => {
                let id = conn.last_insert_rowid();
                return find_user_by_id(conn, id)?
                    .ok_or_else(|| ApiError::internal("user vanished after insert"));
            }
            Err(rusqlite::Error::SqliteFailure(f, Some(msg)))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                if msg.contains("users.username") {
                    return Err(ApiError::conflict(
                        "username_taken",
                        "that username is already taken",
                    ));
                }
                if !msg.contains("users.referral_code") {
                    return Err(ApiError::internal(format!("creating user: {msg}")));
                }
                // A referral code collision: draw another.
            }
            Err(e) => return Err(StoreError::new("add the account", e).into()),
        }
    }
    Err(ApiError::internal("could not draw a unique referral code"))
}

pub fn admin_exists(conn: &Connection) -> ApiResult<bool> {
    Ok(conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')",
            [],
            |row| row.get(0),
        )
        .store("check whether an admin exists")?)
}

/// When no admin exists, creates one with a random password and returns (username, password)
/// so the caller can print it once.
pub fn ensure_admin(conn: &mut Connection, now: i64) -> ApiResult<Option<(String, String)>> {
    if admin_exists(conn)? {
        return Ok(None);
    }
    let password = random::alphanumeric(20);
    let hash = password::hash(&password)?;
    let taken: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE username = 'admin')",
            [],
            |row| row.get(0),
        )
        .store("check whether the admin name is taken")?;
    let username = if taken {
        format!("admin-{}", random::readable(4).to_lowercase())
    } else {
        "admin".to_string()
    };
    let user = create_user(
        conn,
        &NewUser {
            username: &username,
            password_hash: &hash,
            role: Role::Admin,
            inviter_id: None,
        },
        now,
    )?;
    Ok(Some((user.username, password)))
}
