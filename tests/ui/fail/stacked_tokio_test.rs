#[isolated_test::test]
#[tokio::test]
async fn stacked_tokio_test() {}

fn main() {}
