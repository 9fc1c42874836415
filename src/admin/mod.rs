//! The admin API: accounts, upstream health, prices and reload. Every handler takes the `Admin`
//! extractor, so none can be reached without the role.

pub mod system;
pub mod users;
