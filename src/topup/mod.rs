//! Top-up: adding to a balance, by redemption code or by online payment.

pub mod codes;
pub mod payments;
