//! Payment provider callbacks as an attacker sends them: signature checks and event parsing
//! never panic, and no forged Stripe, Creem, BTCPay or NOWPayments signature passes.
#![no_main]

use code_router::topup::payments::{btcpay, creem, epay, nowpayments, stripe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = usize::from(data.first().copied().unwrap_or(0)).min(data.len());
    let (head, body) = data.split_at(split);
    let header = String::from_utf8_lossy(head);
    // Random bytes cannot carry a valid HMAC: anything that verifies is a forgery let through.
    assert!(stripe::verify_signature(&header, body, "whsec_fuzz_secret", 1_700_000_000).is_err());
    let _ = stripe::interpret_event(body);
    assert!(!creem::verify_signature(&header, body, "creem_fuzz_secret"));
    let _ = creem::interpret_event(body);
    assert!(!btcpay::verify_signature(
        &header,
        body,
        "btcpay_fuzz_secret"
    ));
    let _ = btcpay::interpret_event(body, &btcpay::BtcpayConfig::default());
    assert!(!nowpayments::verify_signature(
        &header,
        body,
        "nowpayments_fuzz_secret"
    ));
    let _ = nowpayments::sorted_json(body);
    let _ = nowpayments::interpret_ipn(body);
    if let Ok(params) = epay::parse_params(&String::from_utf8_lossy(body)) {
        let _ = epay::verify(&params, "epay-fuzz-key");
    }
});
