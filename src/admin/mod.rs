//! The admin API: accounts (list, search, adjust balance). Every handler takes the `Admin` extractor.

pub mod users;
