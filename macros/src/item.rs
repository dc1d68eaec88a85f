//! Validation of the annotated function into a checked [`TestFn`]: no
//! parameters, generics, `const`, `unsafe`, `extern` or variadics, and no second
//! test attribute below ours. The attributes are sorted here into those for
//! the outer `#[test]` function and the lint attributes for the user's body.

use syn::{
    Attribute, Block, Expr, ExprLit, ItemFn, Lit, LitStr, Meta, MetaNameValue, ReturnType, Signature, Type, Visibility,
};

/// A function that `#[isolated_test]` can expand.
#[derive(Debug, Clone)]
pub(crate) struct TestFn {
    /// Attributes for the generated `#[test]` function, in their original order.
    pub(crate) outer_attrs: Vec<Attribute>,
    /// Lint attributes (`allow`, `warn`, `deny`, `expect`, `forbid`) for the user's function.
    pub(crate) lint_attrs: Vec<Attribute>,
    /// The user's visibility, given to the generated function.
    pub(crate) vis: Visibility,
    /// The user's signature: at most `async`, the name, a `where` clause and the return type.
    pub(crate) sig: Signature,
    /// The user's body.
    pub(crate) block: Box<Block>,
    /// Whether a `#[should_panic]` attribute is present.
    pub(crate) should_panic: bool,
    /// Its `expected` text, if it has one (`#[should_panic = "..."]`,
    /// `#[should_panic(expected = "...")]`).
    pub(crate) panic_expected: Option<LitStr>,
}

const LINT_ATTRS: [&str; 5] = ["allow", "warn", "deny", "expect", "forbid"];

impl TestFn {
    /// Checks `item`; returns every problem found, each on its offending token.
    pub(crate) fn validate(item: ItemFn) -> Result<Self, Vec<syn::Error>> {
        let ItemFn { attrs, vis, sig, block } = item;
        // Below `#[rstest]` the parameters are its cases; its own error says how to fix both.
        let rstest_below = attrs.iter().any(is_rstest);
        let mut errors = check_signature(&sig, !rstest_below);
        let mut outer_attrs = Vec::new();
        let mut lint_attrs = Vec::new();
        let mut should_panic = false;
        let mut panic_expected = None;
        for attr in attrs {
            if let Some(message) = conflicting_attr(&attr) {
                errors.push(syn::Error::new_spanned(&attr, message));
            } else if LINT_ATTRS.iter().any(|name| attr.path().is_ident(name)) {
                lint_attrs.push(attr);
            } else {
                if attr.path().is_ident("should_panic") {
                    should_panic = true;
                    panic_expected = expected_text(&attr);
                }
                outer_attrs.push(attr);
            }
        }
        if should_panic {
            errors.extend(check_should_panic_output(&sig));
        }
        if errors.is_empty() {
            Ok(Self { outer_attrs, lint_attrs, vis, sig, block, should_panic, panic_expected })
        } else {
            Err(errors)
        }
    }
}

/// The `expected` text of a `#[should_panic]`; `None` without one, or when
/// the attribute is malformed (rustc reports that on the attribute itself).
fn expected_text(attr: &Attribute) -> Option<LitStr> {
    match &attr.meta {
        Meta::NameValue(MetaNameValue { value: Expr::Lit(ExprLit { lit: Lit::Str(text), .. }), .. }) => {
            Some(text.clone())
        }
        Meta::List(list) => {
            let mut expected = None;
            let _ = list.parse_nested_meta(|meta| {
                if meta.path.is_ident("expected") {
                    expected = Some(meta.value()?.parse::<LitStr>()?);
                }
                Ok(())
            });
            expected
        }
        _ => None,
    }
}

/// libtest refuses `#[should_panic]` on a test that returns something
/// (an `Err` is a failure, not a panic); so do we, on the return type.
fn check_should_panic_output(sig: &Signature) -> Option<syn::Error> {
    match &sig.output {
        ReturnType::Type(_, ty) if !matches!(&**ty, Type::Tuple(unit) if unit.elems.is_empty()) => {
            Some(syn::Error::new_spanned(
                ty,
                "a `#[should_panic]` test must return `()`: an `Err` is reported as a failure, not a panic; \
                 remove the return type (and `?`), or remove `#[should_panic]` and return the `Err`",
            ))
        }
        _ => None,
    }
}

fn is_rstest(attr: &Attribute) -> bool {
    attr.path().segments.last().is_some_and(|segment| segment.ident == "rstest")
}

fn check_signature(sig: &Signature, check_inputs: bool) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    let mut refuse = |tokens: &dyn quote::ToTokens, message: &str| {
        errors.push(syn::Error::new_spanned(tokens, message));
    };
    if let Some(constness) = &sig.constness {
        refuse(constness, "isolated tests cannot be `const fn`; remove `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        refuse(unsafety, "isolated tests cannot be `unsafe fn`; remove `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        refuse(abi, "isolated tests cannot have an `extern` ABI; remove it");
    }
    if !sig.generics.params.is_empty() {
        refuse(&sig.generics, "isolated tests cannot be generic; remove the generic parameters");
    }
    if let Some(first) = sig.inputs.first().filter(|_| check_inputs) {
        refuse(
            first,
            "isolated tests take no arguments; to parametrise, put `#[rstest]` above \
             `#[isolated_test::test]` and rstest passes the cases",
        );
    }
    if let Some(variadic) = &sig.variadic {
        refuse(variadic, "isolated tests cannot be variadic; remove `...`");
    }
    errors
}

/// The message for an attribute that cannot sit below `#[isolated_test]`, if `attr` is one.
fn conflicting_attr(attr: &Attribute) -> Option<String> {
    let path = attr.path();
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let first = segments.first()?.as_str();
    let last = segments.last()?.as_str();
    let written = format!("{}{}", if path.leading_colon.is_some() { "::" } else { "" }, segments.join("::"));
    if last == "isolated_test" || (last == "test" && first == "isolated_test") {
        return Some("duplicate `#[isolated_test]`".to_owned());
    }
    if is_rstest(attr) {
        return Some(
            "put `#[rstest]` above `#[isolated_test::test]`: rstest must expand first so every \
             case becomes its own isolated test"
                .to_owned(),
        );
    }
    if last != "test" {
        return None;
    }
    let what = if segments.len() == 1 || written == "::core::prelude::v1::test" {
        "it already registers the test"
    } else if first == "tokio" {
        "it already registers the test and runs an `async fn` on a tokio runtime inside the sandbox"
    } else {
        "it already registers the test and runs an `async fn` inside the sandbox"
    };
    // rstest adds a `#[test]` of its own (spanned at `#[rstest]`) unless the
    // test attribute it finds is called `test`.
    let rstest = if written == "test" {
        " (with `#[rstest]`, which adds one, write `#[isolated_test::test]` instead of `#[isolated_test]`)"
    } else {
        ""
    };
    Some(format!("`#[{written}]` cannot be combined with `#[isolated_test]`: {what}; remove `#[{written}]`{rstest}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn errors(item: ItemFn) -> Vec<String> {
        TestFn::validate(item).expect_err("expected validation errors").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn sorts_attributes() {
        let f = TestFn::validate(parse_quote! {
            /// doc
            #[ignore]
            #[allow(unused)]
            #[should_panic(expected = "boom")]
            #[cfg_attr(all(), deny(warnings))]
            #[expect(dead_code)]
            pub async fn t() {}
        })
        .unwrap();
        let names = |attrs: &[Attribute]| -> Vec<String> {
            attrs.iter().map(|a| a.path().get_ident().unwrap().to_string()).collect()
        };
        assert_eq!(names(&f.outer_attrs), ["doc", "ignore", "should_panic", "cfg_attr"]);
        assert_eq!(names(&f.lint_attrs), ["allow", "expect"]);
        assert!(f.should_panic);
        assert!(f.sig.asyncness.is_some());
    }

    #[test]
    fn should_panic_forms() {
        for item in [
            parse_quote!(
                #[should_panic]
                fn bare() {}
            ),
            parse_quote!(
                #[should_panic = "boom"]
                fn t() {}
            ),
            parse_quote!(
                #[should_panic(expected = "boom")]
                fn t() {}
            ),
        ] {
            let f = TestFn::validate(item).unwrap();
            assert!(f.should_panic);
            let expected = f.panic_expected.map(|text| text.value());
            assert_eq!(expected.as_deref(), (f.sig.ident != "bare").then_some("boom"), "{}", f.sig.ident);
        }
        assert!(
            !TestFn::validate(parse_quote!(
                fn t() {}
            ))
            .unwrap()
            .should_panic
        );
    }

    #[test]
    fn any_return_type_and_where_clause_are_accepted() {
        TestFn::validate(parse_quote!(
            fn t() -> Result<(), String> {
                Ok(())
            }
        ))
        .unwrap();
        TestFn::validate(parse_quote!(
            fn t() -> i32
            where
                String: Clone,
            {
                1
            }
        ))
        .unwrap();
    }

    #[test]
    fn parameters_are_refused() {
        assert_eq!(
            errors(parse_quote!(
                fn t(a: u32, b: u32) {}
            )),
            ["isolated tests take no arguments; to parametrise, put `#[rstest]` above \
              `#[isolated_test::test]` and rstest passes the cases"]
        );
    }

    #[test]
    fn signature_qualifiers_are_refused() {
        assert_eq!(
            errors(parse_quote!(
                const unsafe extern "C" fn t<T>() {}
            )),
            [
                "isolated tests cannot be `const fn`; remove `const`",
                "isolated tests cannot be `unsafe fn`; remove `unsafe`",
                "isolated tests cannot have an `extern` ABI; remove it",
                "isolated tests cannot be generic; remove the generic parameters",
            ]
        );
        assert_eq!(
            errors(parse_quote!(
                fn t<'a>() {}
            )),
            ["isolated tests cannot be generic; remove the generic parameters"]
        );
        let variadic = errors(parse_quote!(
            unsafe extern "C" fn t(...) {}
        ));
        assert_eq!(variadic.last().unwrap(), "isolated tests cannot be variadic; remove `...`");
    }

    #[test]
    fn second_test_attribute_is_refused() {
        assert_eq!(
            errors(parse_quote!(
                #[tokio::test]
                async fn t() {}
            )),
            ["`#[tokio::test]` cannot be combined with `#[isolated_test]`: it already registers \
              the test and runs an `async fn` on a tokio runtime inside the sandbox; remove \
              `#[tokio::test]`"]
        );
        assert_eq!(
            errors(parse_quote!(
                #[tokio::test(flavor = "multi_thread")]
                async fn t() {}
            ))
            .len(),
            1
        );
        assert_eq!(
            errors(parse_quote!(
                #[test]
                fn t() {}
            )),
            ["`#[test]` cannot be combined with `#[isolated_test]`: it already registers the \
              test; remove `#[test]` (with `#[rstest]`, which adds one, write \
              `#[isolated_test::test]` instead of `#[isolated_test]`)"]
        );
        assert_eq!(
            errors(parse_quote!(
                #[::core::prelude::v1::test]
                fn t() {}
            )),
            ["`#[::core::prelude::v1::test]` cannot be combined with `#[isolated_test]`: it \
              already registers the test; remove `#[::core::prelude::v1::test]`"]
        );
        assert_eq!(
            errors(parse_quote!(
                #[async_std::test]
                async fn t() {}
            )),
            ["`#[async_std::test]` cannot be combined with `#[isolated_test]`: it already \
              registers the test and runs an `async fn` inside the sandbox; remove \
              `#[async_std::test]`"]
        );
    }

    #[test]
    fn rstest_below_is_refused() {
        let message = "put `#[rstest]` above `#[isolated_test::test]`: rstest must expand first \
                       so every case becomes its own isolated test";
        // The parameters are rstest's cases: one error, not two.
        assert_eq!(
            errors(parse_quote!(
                #[rstest]
                #[case(1)]
                fn t(#[case] x: u32) {}
            )),
            [message]
        );
        assert_eq!(
            errors(parse_quote!(
                #[rstest]
                fn t() {}
            )),
            [message]
        );
        assert_eq!(
            errors(parse_quote!(
                #[rstest::rstest]
                fn t() {}
            )),
            [message]
        );
    }

    #[test]
    fn duplicate_isolated_test_is_refused() {
        for item in [
            parse_quote!(
                #[isolated_test]
                fn t() {}
            ),
            parse_quote!(
                #[isolated_test::test]
                fn t() {}
            ),
            parse_quote!(
                #[isolated_test::isolated_test(timeout = "1s")]
                fn t() {}
            ),
        ] {
            assert_eq!(errors(item), ["duplicate `#[isolated_test]`"]);
        }
    }

    #[test]
    fn all_problems_are_reported() {
        assert_eq!(
            errors(parse_quote!(
                #[test]
                #[should_panic]
                #[tokio::test]
                fn t<T>(x: T) {}
            ))
            .len(),
            4
        );
    }
}
