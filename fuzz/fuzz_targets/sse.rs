//! The Server-Sent Events of the block stream and of a query's progress: the same events
//! come out however the bytes are cut into chunks.
#![no_main]

use fat_proto::{SseDecoder, SseEvent};
use libfuzzer_sys::fuzz_target;

fn events(chunks: impl Iterator<Item = impl AsRef<[u8]>>) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::default();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk.as_ref());
        while let Some(event) = decoder.next_event() {
            out.push(event);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let whole = events(std::iter::once(stream));
    let chunked = events(stream.chunks(usize::from(size).max(1)));
    assert_eq!(whole, chunked);
});
