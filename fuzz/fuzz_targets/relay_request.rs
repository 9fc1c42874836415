//! A client's request body: whatever parses is rewritten for an upstream as valid JSON with the
//! mapped model, and its token bound never panics.
#![no_main]

use code_router::relay::request::{ClientRequest, Endpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for endpoint in [Endpoint::Chat, Endpoint::Completions, Endpoint::Embeddings] {
        let Ok(request) = ClientRequest::parse(endpoint, data) else { continue };
        let body = request.upstream_body("mapped-model");
        let value: serde_json::Value =
            serde_json::from_slice(&body).expect("the upstream body is valid JSON");
        assert_eq!(value["model"], "mapped-model");
        if request.stream {
            assert_eq!(value["stream_options"]["include_usage"], true);
        }
        let _ = request.input_token_bound();
    }
});
