//! Rendering of the generated test: an outer `#[test]` function that holds the
//! user's function, a static `TestSpec` (with a private `fn() -> Rootfs`
//! beside it when the root filesystem is configured), and one call into the runtime.
//! Everything here is a pure function over `proc_macro2::TokenStream`.

use proc_macro2::{Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, LitStr, ReturnType};

use crate::args::{self, Args, Base, Entry};
use crate::item::TestFn;

/// Parses, validates and renders one `#[isolated_test(args)] item`.
///
/// Errors are emitted as `compile_error!` items next to the output, never inside
/// the generated function: that function is `#[test]` and disappears outside
/// `cargo test`, the errors must not. With bad arguments the function is still
/// rendered (the bad arguments left at their defaults); with a bad function the
/// item is passed through unchanged so the rest of the crate still resolves.
pub(crate) fn isolated_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, mut errors) = args::parse(args);
    let checked = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(item_fn)) => TestFn::validate(item_fn),
        Ok(other) => Err(vec![syn::Error::new_spanned(other, "`#[isolated_test]` can only be applied to a function")]),
        Err(e) => Err(vec![e]),
    };
    let output = match checked {
        Ok(test_fn) => render(&args, &test_fn),
        Err(item_errors) => {
            errors.extend(item_errors);
            item
        }
    };
    with_errors(output, errors)
}

/// Appends every error as a `::core::compile_error! { ... }` item.
fn with_errors(mut output: TokenStream, errors: Vec<syn::Error>) -> TokenStream {
    if let Some(error) = errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    }) {
        output.extend(error.to_compile_error());
    }
    output
}

/// `tokens` with every token moved to `span`, so an error on the expression
/// they form is reported there rather than on the attribute.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// Renders the test for a checked function.
pub(crate) fn render(args: &Args, test_fn: &TestFn) -> TokenStream {
    let krate = match &args.krate {
        Some(arg) => {
            let path = &arg.value;
            quote!(#path)
        }
        None => quote!(::isolated_test),
    };
    let TestFn { outer_attrs, lint_attrs, vis, sig, block, should_panic, panic_expected } = test_fn;
    let ident = &sig.ident;
    // Written as libtest names the test: a raw identifier keeps its `r#`.
    let name = LitStr::new(&ident.to_string(), ident.span());

    // Builder calls carry the key's span, their values the literal's.
    let hostname = args.hostname.as_ref().map(|arg| {
        let lit = &arg.lit;
        quote_spanned!(arg.key.span()=> .hostname(#lit))
    });
    let timeout =
        args.timeout.as_ref().map(|arg| u64_call("timeout_millis", arg.key.span(), arg.value, arg.lit.span()));
    let memory = args.memory.as_ref().map(|arg| u64_call("memory_bytes", arg.key.span(), arg.value, arg.lit.span()));
    let pids = args.pids.as_ref().map(|arg| u64_call("pids", arg.key.span(), arg.value, arg.lit.span()));
    let cpu = args.cpu.as_ref().map(|arg| u64_call("cpu_millis", arg.key.span(), arg.value, arg.lit.span()));
    let should_panic = should_panic.then(|| quote!(.should_panic(true)));
    let panic_expected = panic_expected.as_ref().map(|text| quote!(.panic_expected(#text)));
    let privileged = args.privileged.as_ref().map(|(key, lit)| quote_spanned!(key.span()=> .privileged(#lit)));
    let forbid =
        args.forbid_pollution.as_ref().map(|(key, lits)| quote_spanned!(key.span()=> .forbid_pollution(&[#(#lits),*])));
    let teardown = args
        .teardown
        .as_ref()
        .filter(|arg| arg.value)
        .map(|arg| quote_spanned!(arg.key.span()=> .teardown_verify(true)));
    let (rootfs_fn, rootfs) = rootfs(args, &krate);

    let call = if sig.asyncness.is_some() { quote!(#krate::__private::block_on(#ident())) } else { quote!(#ident()) };
    // A return type the runtime does not accept is reported on the return type:
    // the whole `run` path carries its span.
    let ret_span = match &sig.output {
        ReturnType::Default => ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let run_krate = respan(krate.clone(), ret_span);
    let run = quote_spanned! {ret_span=>
        #run_krate::__private::run(&__ISOLATED_TEST_SPEC, || #call)
    };

    // Registered for the zygote's PID 2, which finds the test by its
    // libtest name without entering libtest (`self::` names this outer
    // function, which the user's function of the same name shadows here).
    let register = quote! {
        #[#krate::__private::linkme::distributed_slice(#krate::__private::TESTS)]
        #[linkme(crate = #krate::__private::linkme)]
        static __ISOLATED_TEST_REGISTERED: #krate::__private::Registered =
            #krate::__private::Registered::new(::core::module_path!(), #name, self::#ident);
    };

    quote! {
        #(#outer_attrs)*
        #[::core::prelude::v1::test]
        #vis fn #ident() {
            #(#lint_attrs)*
            #sig #block
            #rootfs_fn
            #register
            static __ISOLATED_TEST_SPEC: #krate::__private::TestSpec = #krate::__private::TestSpec::new(
                #name,
                ::core::module_path!(),
                ::core::env!("CARGO_MANIFEST_DIR"),
            )
            #hostname
            #timeout
            #memory
            #pids
            #cpu
            #privileged
            #teardown
            #forbid
            #rootfs
            #should_panic
            #panic_expected;
            #run
        }
    }
}

/// `.method(VALUEu64)`: the call carries the key's span, the value the literal's.
fn u64_call(method: &str, key_span: Span, value: u64, lit_span: Span) -> TokenStream {
    let method = Ident::new(method, key_span);
    let mut value = Literal::u64_suffixed(value);
    value.set_span(lit_span);
    quote_spanned!(key_span=> .#method(#value))
}

/// The root filesystem of the spec: the private builder fn to put beside it
/// (when one is needed) and the `.rootfs(...)` call; both empty when nothing
/// is configured.
///
/// Each builder call carries the span of the literal (or path) it comes from,
/// so a type error is reported on what the user wrote.
fn rootfs(args: &Args, krate: &TokenStream) -> (Option<TokenStream>, Option<TokenStream>) {
    let base = args.base.as_ref().map(|(_, base)| base);
    if let (Some(Base::Fn(path)), true) = (base, args.entries.is_empty()) {
        return (None, Some(quote_spanned!(path.span()=> .rootfs(#path))));
    }
    if base.is_none() && args.entries.is_empty() {
        return (None, None);
    }
    // A user's fn is first bound to a typed `fn` pointer, so a wrong signature is
    // reported on the path ("expected fn pointer `fn() -> Rootfs`"), not on the first entry.
    let user_fn = match base {
        Some(Base::Fn(path)) => {
            Some(quote_spanned!(path.span()=> let __isolated_test_base: fn() -> #krate::Rootfs = #path;))
        }
        _ => None,
    };
    let base = match base {
        None => quote!(#krate::Rootfs::host()),
        Some(Base::Named(name)) => quote_spanned!(name.span()=> #krate::Rootfs::#name()),
        Some(Base::Fn(path)) => quote_spanned!(path.span()=> __isolated_test_base()),
        Some(Base::Dir(lit)) => quote_spanned!(lit.span()=> #krate::Rootfs::dir(#lit)),
        Some(Base::Layers(lits)) => quote_spanned!(lits[0].span()=> #krate::Rootfs::layers([#(#lits),*])),
        Some(Base::Tar(lit)) => quote_spanned!(lit.span()=> #krate::Rootfs::tar(#lit)),
        Some(Base::Debootstrap(lit)) => quote_spanned!(lit.span()=> #krate::Rootfs::debootstrap(#lit)),
    };
    let entries = args.entries.iter().map(|entry| match entry {
        Entry::Bind { src, dst, rw: false } => quote_spanned!(src.span()=> .bind(#src, #dst)),
        Entry::Bind { src, dst, rw: true } => quote_spanned!(src.span()=> .bind_rw(#src, #dst)),
        Entry::Tmpfs { dst } => quote_spanned!(dst.span()=> .tmpfs(#dst)),
        Entry::File { dst, contents } => quote_spanned!(dst.span()=> .file(#dst, #contents)),
        Entry::Symlink { link, target } => quote_spanned!(link.span()=> .symlink(#link, #target)),
        Entry::SeedFile { dst, contents } => quote_spanned!(dst.span()=> .seed_file(#dst, #contents)),
        Entry::Sysctl { name, value } => quote_spanned!(name.span()=> .sysctl(#name, #value)),
    });
    let builder = quote! {
        fn __isolated_test_rootfs() -> #krate::Rootfs {
            #user_fn
            #base #(#entries)*
        }
    };
    (Some(builder), Some(quote!(.rootfs(__isolated_test_rootfs))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;
    use syn::{Expr, ItemFn, ItemMacro, Stmt};

    /// Expands and parses the output back as a file.
    fn expand(args: TokenStream, item: TokenStream) -> syn::File {
        let output = isolated_test(args, item);
        syn::parse2(output.clone()).unwrap_or_else(|e| panic!("{e}: {output}"))
    }

    fn only_fn(file: &syn::File) -> &ItemFn {
        let fns: Vec<&ItemFn> = file
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Fn(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(fns.len(), 1, "expected one fn");
        fns[0]
    }

    fn compile_errors(file: &syn::File) -> Vec<String> {
        file.items
            .iter()
            .filter_map(|item| match item {
                Item::Macro(ItemMacro { mac, .. }) => {
                    assert_eq!(tokens(&mac.path), ":: core :: compile_error");
                    let lit: LitStr = mac.parse_body().unwrap();
                    Some(lit.value())
                }
                _ => None,
            })
            .collect()
    }

    fn tokens(t: &impl ToTokens) -> String {
        t.to_token_stream().to_string()
    }

    /// `text` parsed as an expression and printed the way `tokens` prints.
    fn expr(text: &str) -> String {
        tokens(&syn::parse_str::<Expr>(text).unwrap())
    }

    fn attrs(f: &ItemFn) -> Vec<String> {
        f.attrs.iter().map(tokens).collect()
    }

    /// The outer fn's statements: inner fn, spec static, run call.
    fn parts(outer: &ItemFn) -> (&ItemFn, &syn::ItemStatic, &Expr) {
        let (inner, builder, spec, run) = parts_with_rootfs(outer);
        assert!(builder.is_none(), "unexpected rootfs builder: {}", tokens(&outer.block));
        (inner, spec, run)
    }

    /// The outer fn's statements: inner fn, the rootfs builder fn if any, spec static, run call
    /// (the registration static, checked by `registration`, is skipped).
    fn parts_with_rootfs(outer: &ItemFn) -> (&ItemFn, Option<&ItemFn>, &syn::ItemStatic, &Expr) {
        match outer.block.stmts.as_slice() {
            [
                Stmt::Item(Item::Fn(inner)),
                Stmt::Item(Item::Static(registered)),
                Stmt::Item(Item::Static(spec)),
                Stmt::Expr(run, None),
            ] if registered.ident == "__ISOLATED_TEST_REGISTERED" => (inner, None, spec, run),
            [
                Stmt::Item(Item::Fn(inner)),
                Stmt::Item(Item::Fn(builder)),
                Stmt::Item(Item::Static(registered)),
                Stmt::Item(Item::Static(spec)),
                Stmt::Expr(run, None),
            ] if registered.ident == "__ISOLATED_TEST_REGISTERED" => (inner, Some(builder), spec, run),
            _ => panic!("unexpected body: {}", tokens(&outer.block)),
        }
    }

    /// The outer fn's registration static: its attributes and its value.
    fn registration(outer: &ItemFn) -> (Vec<String>, String) {
        let registered = outer
            .block
            .stmts
            .iter()
            .find_map(|stmt| match stmt {
                Stmt::Item(Item::Static(s)) if s.ident == "__ISOLATED_TEST_REGISTERED" => Some(s),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no registration in {}", tokens(&outer.block)));
        (
            registered.attrs.iter().map(tokens).collect(),
            format!("{}: {}", tokens(&registered.ty), tokens(&registered.expr)),
        )
    }

    /// The builder fn's body and the spec's builder calls after `TestSpec::new(..)`.
    fn rootfs_parts(args: TokenStream) -> (Option<String>, String) {
        let file = expand(
            args,
            quote!(
                fn t() {}
            ),
        );
        assert_eq!(compile_errors(&file), Vec::<String>::new());
        let (_, builder, spec, _) = parts_with_rootfs(only_fn(&file));
        let builder = builder.map(|f| {
            assert_eq!(f.sig.ident, "__isolated_test_rootfs");
            assert!(matches!(f.vis, syn::Visibility::Inherited));
            assert_eq!(tokens(&f.sig), "fn __isolated_test_rootfs () -> :: isolated_test :: Rootfs");
            tokens(&f.block)
        });
        let spec = tokens(&spec.expr);
        let calls = spec.split_once("(\"CARGO_MANIFEST_DIR\") ,)").unwrap().1.trim().to_owned();
        (builder, calls)
    }

    /// `text` parsed as a block and printed the way `tokens` prints.
    fn block(text: &str) -> String {
        tokens(&syn::parse_str::<syn::Block>(text).unwrap())
    }

    fn input() -> TokenStream {
        quote! {
            /// doc
            #[ignore]
            #[allow(unused)]
            pub async fn my_test() -> std::io::Result<()> { Ok(()) }
        }
    }

    #[test]
    fn full_shape() {
        let file = expand(quote!(hostname = "box", timeout = "10s"), input());
        assert_eq!(file.items.len(), 1);
        let outer = only_fn(&file);
        assert_eq!(attrs(outer), ["# [doc = r\" doc\"]", "# [ignore]", "# [:: core :: prelude :: v1 :: test]"]);
        assert_eq!(tokens(&outer.vis), "pub");
        assert_eq!(outer.sig.ident, "my_test");
        assert!(outer.sig.asyncness.is_none());
        assert!(outer.sig.inputs.is_empty());
        assert!(matches!(outer.sig.output, ReturnType::Default));

        let (inner, spec, run) = parts(outer);
        assert_eq!(attrs(inner), ["# [allow (unused)]"]);
        assert!(matches!(inner.vis, syn::Visibility::Inherited));
        assert_eq!(tokens(&inner.sig), "async fn my_test () -> std :: io :: Result < () >");
        assert_eq!(tokens(&inner.block), "{ Ok (()) }");

        assert_eq!(spec.ident, "__ISOLATED_TEST_SPEC");
        assert_eq!(tokens(&spec.ty), ":: isolated_test :: __private :: TestSpec");
        assert_eq!(
            tokens(&spec.expr),
            expr(
                r#"::isolated_test::__private::TestSpec::new(
                    "my_test",
                    ::core::module_path!(),
                    ::core::env!("CARGO_MANIFEST_DIR"),
                )
                .hostname("box")
                .timeout_millis(10000u64)"#
            )
        );
        assert_eq!(
            tokens(run),
            expr(
                "::isolated_test::__private::run(&__ISOLATED_TEST_SPEC, \
                 || ::isolated_test::__private::block_on(my_test()))"
            )
        );
    }

    #[test]
    fn sync_fn_without_arguments() {
        let file = expand(
            TokenStream::new(),
            quote!(
                fn plain() {
                    assert!(true);
                }
            ),
        );
        let outer = only_fn(&file);
        assert_eq!(attrs(outer), ["# [:: core :: prelude :: v1 :: test]"]);
        assert!(matches!(outer.vis, syn::Visibility::Inherited));
        let (inner, spec, run) = parts(outer);
        assert!(inner.attrs.is_empty());
        assert_eq!(tokens(&inner.sig), "fn plain ()");
        assert!(
            tokens(&spec.expr).ends_with("(\"CARGO_MANIFEST_DIR\") ,)"),
            "no builder calls expected: {}",
            tokens(&spec.expr)
        );
        assert_eq!(tokens(run), expr("::isolated_test::__private::run(&__ISOLATED_TEST_SPEC, || plain())"));
    }

    #[test]
    fn should_panic_is_kept_and_recorded() {
        let file = expand(
            quote!(timeout = "1m30s"),
            quote! {
                #[should_panic(expected = "boom")]
                #[cfg_attr(unix, doc = "unix")]
                #[deny(warnings)]
                fn panics() { panic!("boom") }
            },
        );
        let outer = only_fn(&file);
        assert_eq!(
            attrs(outer),
            [
                "# [should_panic (expected = \"boom\")]",
                "# [cfg_attr (unix , doc = \"unix\")]",
                "# [:: core :: prelude :: v1 :: test]"
            ]
        );
        let (inner, spec, _) = parts(outer);
        assert_eq!(attrs(inner), ["# [deny (warnings)]"]);
        assert!(
            tokens(&spec.expr)
                .ends_with(". timeout_millis (90000u64) . should_panic (true) . panic_expected (\"boom\")"),
            "{}",
            tokens(&spec.expr)
        );
    }

    #[test]
    fn resource_limits_are_builder_calls() {
        let (builder, calls) =
            rootfs_parts(quote!(cpu = "0.25", hostname = "box", pids = 256, memory = "1GiB", timeout = "1s"));
        assert_eq!(builder, None);
        assert_eq!(
            calls,
            ". hostname (\"box\") . timeout_millis (1000u64) . memory_bytes (1073741824u64) . pids (256u64) \
             . cpu_millis (250u64)"
        );
    }

    #[test]
    fn bad_resource_limits_still_expand_without_them() {
        let file = expand(
            quote!(memory = "1M", pids = "many", cpu = "fast", timeout = "1s"),
            quote!(
                fn t() {}
            ),
        );
        let (_, spec, _) = parts(only_fn(&file));
        assert!(tokens(&spec.expr).ends_with(". timeout_millis (1000u64)"), "{}", tokens(&spec.expr));
        assert_eq!(compile_errors(&file).len(), 3);
    }

    #[test]
    fn crate_override_replaces_every_path() {
        let file = expand(quote!(crate = "renamed::inner"), input());
        let outer = only_fn(&file);
        let (_, spec, run) = parts(outer);
        let all = format!("{} {} {}", tokens(&spec.ty), tokens(&spec.expr), tokens(run));
        assert!(!all.contains("isolated_test"), "{all}");
        assert_eq!(tokens(&spec.ty), "renamed :: inner :: __private :: TestSpec");
        assert!(tokens(run).starts_with("renamed :: inner :: __private :: run"));
        assert!(tokens(run).contains("renamed :: inner :: __private :: block_on (my_test ())"));
    }

    #[test]
    fn each_test_registers_its_generated_function() {
        let file = expand(TokenStream::new(), input());
        let (attrs, value) = registration(only_fn(&file));
        assert_eq!(
            attrs,
            [
                "# [:: isolated_test :: __private :: linkme :: distributed_slice (:: isolated_test :: __private :: TESTS)]",
                "# [linkme (crate = :: isolated_test :: __private :: linkme)]"
            ]
        );
        assert_eq!(
            value,
            ":: isolated_test :: __private :: Registered: :: isolated_test :: __private :: Registered :: new \
             (:: core :: module_path ! () , \"my_test\" , self :: my_test)"
        );

        let file = expand(quote!(crate = "renamed::inner"), input());
        let (attrs, value) = registration(only_fn(&file));
        assert!(attrs.iter().chain([&value]).all(|t| !t.contains("isolated_test")), "{attrs:?} {value}");
        assert_eq!(attrs[1], "# [linkme (crate = renamed :: inner :: __private :: linkme)]");
    }

    #[test]
    fn raw_identifier_name_is_kept_as_libtest_names_it() {
        let file = expand(
            TokenStream::new(),
            quote!(
                fn r#match() {}
            ),
        );
        let (_, spec, _) = parts(only_fn(&file));
        assert!(tokens(&spec.expr).contains("new (\"r#match\""));
    }

    #[test]
    fn bad_arguments_still_expand_with_defaults() {
        let file = expand(quote!(timeout = "soon", hostname = "box", nope = "x", hostname = "again"), input());
        let outer = only_fn(&file);
        let (_, spec, _) = parts(outer);
        assert!(tokens(&spec.expr).ends_with(". hostname (\"box\")"), "{}", tokens(&spec.expr));
        let errors = compile_errors(&file);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("`soon` is not a duration"));
        assert_eq!(errors[1], format!("unknown argument `nope`; accepted arguments: {}", args::testing::ACCEPTED));
        assert_eq!(errors[2], "duplicate argument `hostname`");
    }

    #[test]
    fn named_rootfs_with_entries() {
        let (builder, calls) = rootfs_parts(quote!(
            rootfs = "busybox",
            bind = ["/src:/dst", "/usr/share/zoneinfo"],
            tmpfs = ["/scratch"],
            file = ["/etc/motd=hi\n=there"],
            bind_rw = ["out:/out"],
            symlink = ["/bin/sh=busybox"],
            privileged = true,
        ));
        assert_eq!(
            builder.unwrap(),
            block(
                r#"{
                    ::isolated_test::Rootfs::busybox()
                        .bind("/src", "/dst")
                        .bind("/usr/share/zoneinfo", "/usr/share/zoneinfo")
                        .tmpfs("/scratch")
                        .file("/etc/motd", "hi\n=there")
                        .bind_rw("out", "/out")
                        .symlink("/bin/sh", "busybox")
                }"#
            )
        );
        assert_eq!(calls, ". privileged (true) . rootfs (__isolated_test_rootfs)");
    }

    #[test]
    fn every_base() {
        let cases = [
            (quote!(rootfs = "host"), "::isolated_test::Rootfs::host()"),
            (quote!(rootfs = "host_ro"), "::isolated_test::Rootfs::host_ro()"),
            (quote!(dir = "images/root"), r#"::isolated_test::Rootfs::dir("images/root")"#),
            (quote!(layers = ["a", "/b"]), r#"::isolated_test::Rootfs::layers(["a", "/b"])"#),
            (quote!(tar = "x.tgz"), r#"::isolated_test::Rootfs::tar("x.tgz")"#),
            (quote!(debootstrap = "bookworm"), r#"::isolated_test::Rootfs::debootstrap("bookworm")"#),
            (quote!(tmpfs = ["/t"]), r#"::isolated_test::Rootfs::host().tmpfs("/t")"#),
        ];
        for (args, body) in cases {
            let (builder, calls) = rootfs_parts(args);
            assert_eq!(builder.unwrap(), block(&format!("{{ {body} }}")));
            assert_eq!(calls, ". rootfs (__isolated_test_rootfs)");
        }
    }

    #[test]
    fn rootfs_path_is_passed_directly() {
        let (builder, calls) = rootfs_parts(quote!(rootfs = fixtures::image, timeout = "1s"));
        assert_eq!(builder, None);
        assert_eq!(calls, ". timeout_millis (1000u64) . rootfs (fixtures :: image)");
    }

    #[test]
    fn rootfs_path_with_entries_is_called_through_a_typed_pointer() {
        let (builder, calls) = rootfs_parts(quote!(rootfs = self::image, tmpfs = ["/t"]));
        assert_eq!(
            builder.unwrap(),
            block(
                r#"{
                    let __isolated_test_base: fn() -> ::isolated_test::Rootfs = self::image;
                    __isolated_test_base().tmpfs("/t")
                }"#
            )
        );
        assert_eq!(calls, ". rootfs (__isolated_test_rootfs)");
    }

    #[test]
    fn no_rootfs_arguments_no_builder() {
        let (builder, calls) = rootfs_parts(quote!(hostname = "box", bind = []));
        assert_eq!(builder, None);
        assert_eq!(calls, ". hostname (\"box\")");
    }

    #[test]
    fn rootfs_builder_uses_the_crate_override() {
        let file = expand(
            quote!(crate = "renamed", rootfs = "busybox"),
            quote!(
                fn t() {}
            ),
        );
        let (_, builder, _, _) = parts_with_rootfs(only_fn(&file));
        let builder = tokens(builder.unwrap());
        assert!(!builder.contains("isolated_test ::"), "{builder}");
        assert!(builder.contains("-> renamed :: Rootfs"), "{builder}");
        assert!(builder.contains("renamed :: Rootfs :: busybox ()"), "{builder}");
    }

    #[test]
    fn bad_rootfs_arguments_still_expand() {
        let file = expand(
            quote!(tmpfs = ["/ok", "rel"], dir = "x", tar = "y.zip"),
            quote!(
                fn t() {}
            ),
        );
        let (_, builder, spec, _) = parts_with_rootfs(only_fn(&file));
        assert_eq!(tokens(&builder.unwrap().block), block(r#"{ ::isolated_test::Rootfs::dir("x").tmpfs("/ok") }"#));
        assert!(tokens(&spec.expr).ends_with(". rootfs (__isolated_test_rootfs)"));
        assert_eq!(compile_errors(&file).len(), 3);
    }

    #[test]
    fn compile_errors_are_siblings_of_the_fn() {
        let output = isolated_test(quote!(timeout), input());
        let file: syn::File = syn::parse2(output).unwrap();
        assert!(matches!(file.items[0], Item::Fn(_)));
        assert!(matches!(file.items[1], Item::Macro(_)));
        assert_eq!(compile_errors(&file), ["`timeout` needs a value: expected `timeout = \"30s\"`"]);
        let outer = only_fn(&file);
        assert!(!tokens(&outer.block).contains("compile_error"));
    }

    #[test]
    fn bad_function_is_passed_through_with_errors() {
        let file = expand(
            quote!(hostname = "-"),
            quote! {
                #[tokio::test]
                async fn takes(x: u32) {}
            },
        );
        let f = only_fn(&file);
        assert_eq!(attrs(f), ["# [tokio :: test]"]);
        assert_eq!(tokens(&f.sig), "async fn takes (x : u32)");
        let errors = compile_errors(&file);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("`-` is not a hostname"));
        assert!(errors[1].starts_with("isolated tests take no arguments"));
        assert!(errors[2].starts_with("`#[tokio::test]` cannot be combined"));
    }

    #[test]
    fn not_a_function() {
        let file = expand(
            TokenStream::new(),
            quote!(
                struct S;
            ),
        );
        assert!(matches!(file.items[0], Item::Struct(_)));
        assert_eq!(compile_errors(&file), ["`#[isolated_test]` can only be applied to a function"]);
    }

    #[test]
    fn unparsable_item_is_passed_through_with_an_error() {
        let item = quote!(fn broken() { let = ; });
        let output = isolated_test(TokenStream::new(), item.clone());
        let text = output.to_string();
        assert!(text.starts_with(&item.to_string()), "{text}");
        assert!(text.contains(":: core :: compile_error"), "{text}");
    }
}
