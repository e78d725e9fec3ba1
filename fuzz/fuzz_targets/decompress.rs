//! Arbitrary bytes through every codec: the first byte picks the codec and the output
//! limit. Decompression must never panic nor exceed its limit, and what a codec compresses
//! must come back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_log::compression::{compress, decompress, Compression};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let codec = Compression::ALL[usize::from(selector % 5)];
    let limit = 1usize << (selector / 5 % 21);
    if let Ok(out) = decompress(codec, input, limit) {
        assert!(
            out.len() <= limit,
            "{codec}: {} bytes past the limit {limit}",
            out.len()
        );
    }
    let packed = compress(codec, input).expect("compressing in memory");
    let unpacked = decompress(codec, &packed, input.len()).expect("a round trip decompresses");
    assert_eq!(unpacked, input, "{codec}: round trip");
    if !input.is_empty() {
        assert!(
            decompress(codec, &packed, input.len() - 1).is_err(),
            "{codec}: limit ignored"
        );
    }
});
