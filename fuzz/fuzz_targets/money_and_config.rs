//! Amounts and config files as people type them: money parses exactly and round-trips through
//! its text form; config parsing never panics.
#![no_main]

use code_router::config::Config;
use code_router::ledger::money::Money;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(money) = Money::parse(&text) {
        assert_eq!(Money::parse(&money.to_string()), Ok(money));
    }
    let _ = Config::parse(&text, "fuzz.toml");
});
