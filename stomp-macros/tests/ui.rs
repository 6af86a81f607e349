//! Compile-time behaviour of the macros: what must compile, and the errors for what must
//! not (`.stderr` files blessed with `TRYBUILD=overwrite` on the pinned toolchain).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
