//! Money: the money type, the append-only ledger, balances, holds, and the audit that proves them.

pub mod money;
