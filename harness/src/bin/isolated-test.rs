//! The `isolated-test` command line: `doctor` probes what this host can do.
//! All logic lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    isolated_test::__cli::main()
}
