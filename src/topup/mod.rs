//! Top-up: adding to a balance, by online payment (and, from another branch, redemption codes).

pub mod payments;
