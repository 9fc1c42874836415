//! Integration tests: the real router on an ephemeral port with a temp-dir database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod admin;
mod cli;
mod codes;
mod commission;
mod console;
mod console_api;
mod crypto;
mod csrf;
mod db;
mod errors;
mod fake_anthropic;
mod fake_providers;
mod fake_responses;
mod fake_upstream;
mod faults;
mod funds;
mod helpers;
mod install;
mod keys;
mod ledger;
mod limits;
mod logs;
mod messages;
mod openapi;
mod payments;
mod pricing;
mod process;
mod recovery;
mod referral;
mod relay;
mod responses;
