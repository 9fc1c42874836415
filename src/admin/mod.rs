//! The admin API: the overview, accounts, upstream health and tests, prices and reload. Every handler takes the `Admin`
//! extractor, so none can be reached without the role.

pub mod overview;
pub mod system;
pub mod upstream_test;
pub mod users;
