//! `crate = "..."` names the runtime crate when it is reachable under another path.
extern crate isolated_test as renamed;

#[renamed::test(crate = "renamed")]
async fn via_extern_crate() {}

mod nested {
    use ::isolated_test as runtime;

    #[runtime::isolated_test(crate = "runtime", timeout = "10s")]
    fn via_use() -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
