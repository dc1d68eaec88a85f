//! The resource limits: `memory = "256M"` (bytes), `pids = 128` and
//! `cpu = "1.5"` (thousandths of a core), in the grammar of
//! `isolated_test_values` (the one `ISOLATED_TEST_MEMORY`, `_PIDS`, `_CPU`
//! and `isolated-test run --memory`, `--pids`, `--cpu` take), with its
//! bounds (at least 4 MiB, 16 processes, 0.01 core; at most 1024 cores).

use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Meta};

use super::value::value;

/// Parses `memory = "256M"` into bytes; the error is on the literal.
pub(super) fn parse_memory(lit: &LitStr) -> syn::Result<u64> {
    isolated_test_values::parse_memory(&lit.value()).map_err(|e| syn::Error::new_spanned(lit, e))
}

/// The integer literal of `pids = 128`, unsuffixed and in the grammar of
/// `isolated_test_values::parse_pids`, or an error on whatever stands
/// instead.
pub(super) fn pids_value(meta: &Meta) -> syn::Result<(LitInt, u64)> {
    let expected = "expected `pids = 128`";
    let value = value(meta, "pids", expected)?;
    let Expr::Lit(ExprLit { lit: Lit::Int(lit), .. }) = value else {
        return Err(syn::Error::new_spanned(value, format!("`pids` takes an integer literal: {expected}")));
    };
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            lit,
            format!("`pids` takes an integer literal without a suffix: {expected}"),
        ));
    }
    // The literal's value in decimal digits (`0x100` is `256`, `1_000` is
    // `1000`), with a `-` where syn reads `-1` as one negative literal.
    let pids = isolated_test_values::parse_pids(lit.base10_digits()).map_err(|e| syn::Error::new_spanned(lit, e))?;
    Ok((lit.clone(), pids))
}

/// Parses `cpu = "1.5"` into thousandths of a core; the error is on the literal.
pub(super) fn parse_cpu(lit: &LitStr) -> syn::Result<u64> {
    isolated_test_values::parse_cpu(&lit.value()).map_err(|e| syn::Error::new_spanned(lit, e))
}

#[cfg(test)]
mod tests {
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

    #[test]
    fn resource_limits_parse() {
        let (args, errors) = parse(quote!(memory = "256M", pids = 128, cpu = "1.5"));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        let memory = args.memory.unwrap();
        assert_eq!(
            (memory.key.to_string(), memory.lit.value(), memory.value),
            ("memory".into(), "256M".into(), 256 << 20)
        );
        let pids = args.pids.unwrap();
        assert_eq!((pids.key.to_string(), pids.lit.to_string(), pids.value), ("pids".into(), "128".into(), 128));
        let cpu = args.cpu.unwrap();
        assert_eq!((cpu.key.to_string(), cpu.lit.value(), cpu.value), ("cpu".into(), "1.5".into(), 1500));
    }

    #[test]
    fn memory_bad_values() {
        let not_a_size = |text: &str, what: &str| {
            format!(
                "`{text}` is not a memory size: {what}; expected a whole number with an optional binary unit `K`, \
                 `M`, `G` or `T` (1K = 1024 bytes; `B` or `iB` may follow, no unit is bytes), e.g. `256M`, `1G` or \
                 `512MiB`"
            )
        };
        assert_eq!(messages(&parse(quote!(memory = "256X")).1), [not_a_size("256X", "unknown unit `X`")]);
        assert_eq!(messages(&parse(quote!(memory = "")).1), [not_a_size("", "it is empty")]);
        assert_eq!(
            messages(&parse(quote!(memory = "0.5G")).1),
            [not_a_size("0.5G", "it has a fraction (use a smaller unit: `1536M`, not `1.5G`)")]
        );
        assert_eq!(
            messages(&parse(quote!(memory = "99999999T")).1),
            ["`99999999T` is too large: a memory size is at most 2^64 - 1 bytes (16 EiB)"]
        );
        let below = |text: &str| {
            format!("`{text}` is below the 4 MiB a sandbox needs to start (the test binary itself); use at least `4M`")
        };
        assert_eq!(messages(&parse(quote!(memory = "1M")).1), [below("1M")]);
        assert_eq!(messages(&parse(quote!(memory = "0")).1), [below("0")]);
        assert_eq!(messages(&parse(quote!(memory = "4194303")).1), [below("4194303")]);
        assert_eq!(parse(quote!(memory = "4M")).0.memory.unwrap().value, 4 << 20);
        assert_eq!(
            messages(&parse(quote!(memory = 256)).1),
            ["`memory` takes a string literal: expected `memory = \"256M\"`"]
        );
        assert_eq!(messages(&parse(quote!(memory)).1), ["`memory` needs a value: expected `memory = \"256M\"`"]);
    }

    #[test]
    fn pids_bad_values() {
        assert_eq!(parse(quote!(pids = 16)).0.pids.unwrap().value, 16);
        assert_eq!(parse(quote!(pids = 0x100)).0.pids.unwrap().value, 256);
        assert_eq!(parse(quote!(pids = 1_000)).0.pids.unwrap().value, 1000);
        let not_int = "`pids` takes an integer literal: expected `pids = 128`";
        assert_eq!(messages(&parse(quote!(pids = "128")).1), [not_int]);
        assert_eq!(messages(&parse(quote!(pids = 1.5)).1), [not_int]);
        assert_eq!(messages(&parse(quote!(pids)).1), ["`pids` needs a value: expected `pids = 128`"]);
        assert_eq!(
            messages(&parse(quote!(pids = 128u32)).1),
            ["`pids` takes an integer literal without a suffix: expected `pids = 128`"]
        );
        let too_few = |text: &str| {
            format!(
                "`{text}` leaves no room for the sandbox's own processes and the test harness's threads; \
                 use at least 16"
            )
        };
        assert_eq!(messages(&parse(quote!(pids = 8)).1), [too_few("8")]);
        assert_eq!(messages(&parse(quote!(pids = 0x8)).1), [too_few("8")]);
        assert_eq!(messages(&parse(quote!(pids = -1)).1), [too_few("-1")]);
        assert_eq!(
            messages(&parse(quote!(pids = 18446744073709551616)).1),
            ["`18446744073709551616` is too large: a process count is at most 2^64 - 1"]
        );
    }

    #[test]
    fn cpu_bad_values() {
        let not_cores = |text: &str, what: &str| {
            format!(
                "`{text}` is not a number of cores: {what}; expected a number of cores with at most 3 decimals, \
                 e.g. `1.5`, `0.25` or `2`"
            )
        };
        assert_eq!(messages(&parse(quote!(cpu = "1.2345")).1), [not_cores("1.2345", "it has 4 decimals")]);
        assert_eq!(messages(&parse(quote!(cpu = "fast")).1), [not_cores("fast", "`f` is not a digit")]);
        assert_eq!(messages(&parse(quote!(cpu = ".5")).1), [not_cores(".5", "no digit before the `.` (write `0.5`)")]);
        let below =
            |text: &str| format!("`{text}` is below the kernel's minimum CPU quota of 0.01 core; use at least `0.01`");
        assert_eq!(messages(&parse(quote!(cpu = "0")).1), [below("0")]);
        assert_eq!(messages(&parse(quote!(cpu = "0.009")).1), [below("0.009")]);
        assert_eq!(parse(quote!(cpu = "0.01")).0.cpu.unwrap().value, 10);
        assert_eq!(messages(&parse(quote!(cpu = "1024.001")).1), ["`1024.001` is above the maximum of 1024 cores"]);
        assert_eq!(
            messages(&parse(quote!(cpu = "99999999999999999999")).1),
            ["`99999999999999999999` is above the maximum of 1024 cores"]
        );
        assert_eq!(messages(&parse(quote!(cpu = 1.5)).1), ["`cpu` takes a string literal: expected `cpu = \"1.5\"`"]);
    }
}
