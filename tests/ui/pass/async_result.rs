//! An `async fn` returning a `Result`.
use isolated_test::isolated_test;

#[isolated_test]
async fn async_result() -> std::io::Result<()> {
    std::fs::metadata("/").map(drop)
}

fn main() {}
