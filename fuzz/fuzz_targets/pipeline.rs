//! The whole pipeline (format detection, parsing, tracking, report) on
//! arbitrary bytes, in a mode the first byte picks, read in chunks the
//! second byte sizes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pgconn::fuzz::pipeline(data);
});
