//! A `--prefix` value (up to the first NUL) compiled and used on the lines
//! after it, and prefix inference from those lines.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pgconn::fuzz::prefix(data);
});
