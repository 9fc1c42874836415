//! An upstream's stream, cut into chunks anywhere: splitting, usage and output counting never
//! panic, and every event the splitter returns ends in a blank line.
#![no_main]

use code_router::relay::sse::{data_of, EventSplitter};
use code_router::relay::usage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut splitter = EventSplitter::default();
    for chunk in data.chunks(step) {
        let Ok(events) = splitter.push(chunk) else { return };
        for event in events {
            assert!(event.ends_with(b"\n\n") || event.ends_with(b"\r\n\r\n"));
            if let Some(payload) = data_of(&event) {
                let _ = usage::reported_usage(payload.as_bytes());
                let _ = usage::count_output(payload.as_bytes());
            }
        }
    }
    let _ = splitter.finish();
    let _ = usage::response_usage(data);
});
