//! Where the generated import fixtures are (`make_fixtures.sh` writes them), shared by the
//! tests that read them (`crates/net/tests/imports.rs`, the app's UI tests, the CLI tests).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `crates/net/tests/imports/generated`.
pub fn generated() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../net/tests/imports/generated")
}

/// A generated file, or `None` (printed) when the fixtures were not made here. With
/// FEATURESCOPE_REQUIRE_IMPORT_FIXTURES set (CI sets it), a missing file is a failure.
pub fn fixture(name: &str) -> Option<PathBuf> {
    let p = generated().join(name);
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("FEATURESCOPE_REQUIRE_IMPORT_FIXTURES").is_none(),
        "{} is missing: run crates/net/tests/imports/make_fixtures.sh",
        p.display()
    );
    eprintln!(
        "SKIPPED: {} is absent (run crates/net/tests/imports/make_fixtures.sh)",
        p.display()
    );
    None
}
