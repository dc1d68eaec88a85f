//! Benchmark fixture: 100 trivial `#[isolated_test]` tests (`isolated::t000`
//! ... `isolated::t099`) and the same 100 as plain `#[test]`s (`plain::t000`
//! ... `plain::t099`); and 1000 more isolated ones (`scale::s0::t000` ...
//! `scale::s9::t099`) for the figures over a long run.
//!
//! Not a test suite (`test = false` in `tests/Cargo.toml`, so `cargo test`
//! skips it): `bench/overhead.sh` builds it in release and times the two
//! modules against each other and against bubblewrap and bare `unshare`
//! running the plain tests one process per test.

/// Expands a list of names into `mod isolated` and `mod plain`, one empty
/// test of each kind per name.
macro_rules! trivial {
    ($($name:ident)*) => {
        /// Empty tests, each run in a fresh sandbox by the harness.
        mod isolated {
            $(
                #[isolated_test::isolated_test]
                fn $name() {}
            )*
        }

        /// The same empty tests as plain libtest tests.
        mod plain {
            $(
                #[test]
                fn $name() {}
            )*
        }

        /// Ten times the isolated ones: a thousand sandboxes in one run.
        mod scale {
            trivial!(@scale [s0 s1 s2 s3 s4 s5 s6 s7 s8 s9] ($($name)*));
        }
    };
    (@scale [$($module:ident)*] $names:tt) => {
        $(trivial!(@module $module $names);)*
    };
    (@module $module:ident ($($name:ident)*)) => {
        pub(crate) mod $module {
            $(
                #[isolated_test::isolated_test]
                fn $name() {}
            )*
        }
    };
}

trivial!(
    t000 t001 t002 t003 t004 t005 t006 t007 t008 t009
    t010 t011 t012 t013 t014 t015 t016 t017 t018 t019
    t020 t021 t022 t023 t024 t025 t026 t027 t028 t029
    t030 t031 t032 t033 t034 t035 t036 t037 t038 t039
    t040 t041 t042 t043 t044 t045 t046 t047 t048 t049
    t050 t051 t052 t053 t054 t055 t056 t057 t058 t059
    t060 t061 t062 t063 t064 t065 t066 t067 t068 t069
    t070 t071 t072 t073 t074 t075 t076 t077 t078 t079
    t080 t081 t082 t083 t084 t085 t086 t087 t088 t089
    t090 t091 t092 t093 t094 t095 t096 t097 t098 t099
);
