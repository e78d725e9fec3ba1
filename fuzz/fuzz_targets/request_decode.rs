//! Arbitrary request frames (after the size prefix) through the server's header parsing,
//! per-API bounds checks and `kafka-protocol` decoding, exactly as a connection runs them
//! before calling a handler. Nothing may panic or allocate from a count the bytes cannot
//! back (an allocation of gigabytes aborts the fuzzer, which counts as a crash).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = myelin_server::apis::decode_frame(bytes::Bytes::copy_from_slice(data));
});
