//! Runs each registered test once per backend, on actix's runtime, with the
//! backend visible to `spawn_app` through [`helpers::backend`].

use std::{future::Future, pin::Pin, process::ExitCode};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::helpers::{self, Backend};

pub type TestFuture = Pin<Box<dyn Future<Output = ()>>>;

pub struct TestCase {
    pub module: &'static str,
    pub name: &'static str,
    pub run: fn() -> TestFuture,
    /// Tests of something only one backend has (e.g. dropping a PostgreSQL
    /// database under the server).
    pub only: Option<Backend>,
}

/// `tests![a, b; postgres_only: c; sqlite_only: d]` lists a module's tests
/// for the harness (each section optional, in that order).
/// An unlisted test function is dead code, which clippy rejects.
#[macro_export]
macro_rules! tests {
    (
        $($name:ident),* $(,)?
        $(; postgres_only: $($pg:ident),+ $(,)?)?
        $(; sqlite_only: $($lite:ident),+ $(,)?)?
    ) => {
        // A module may list only backend-specific tests.
        #[allow(clippy::vec_init_then_push)]
        pub fn tests() -> Vec<$crate::harness::TestCase> {
            #[allow(unused_mut)]
            let mut cases = vec![$(
                $crate::harness::TestCase::new(module_path!(), stringify!($name), || Box::pin($name()), None)
            ),*];
            $($(cases.push($crate::harness::TestCase::new(
                module_path!(), stringify!($pg), || Box::pin($pg()),
                Some($crate::helpers::Backend::Postgres),
            ));)+)?
            $($(cases.push($crate::harness::TestCase::new(
                module_path!(), stringify!($lite), || Box::pin($lite()),
                Some($crate::helpers::Backend::Sqlite),
            ));)+)?
            cases
        }
    };
}

impl TestCase {
    pub fn new(
        module: &'static str,
        name: &'static str,
        run: fn() -> TestFuture,
        only: Option<Backend>,
    ) -> TestCase {
        TestCase {
            module,
            name,
            run,
            only,
        }
    }
}

pub fn main(modules: &[fn() -> Vec<TestCase>]) -> ExitCode {
    let args = Arguments::from_args();
    let postgres_skipped = helpers::postgres_skip_reason();
    let mut trials = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for module in modules {
            for case in module() {
                if case.only.is_some_and(|only| only != backend) {
                    continue;
                }
                let module = case.module.trim_start_matches("api::");
                let name = format!("{}::{module}::{}", backend.as_str(), case.name);
                let skip = (backend == Backend::Postgres && postgres_skipped.is_some())
                    .then_some("PostgreSQL unreachable: see the NOTE above and below");
                let run = case.run;
                trials.push(Trial::ignorable_test(name, move || match skip {
                    Some(reason) => Ok(Completion::ignored_with(reason)),
                    None => run_case(backend, run).map(|()| Completion::Completed),
                }));
            }
        }
    }
    if let Some(reason) = &postgres_skipped {
        println!("\nNOTE: the PostgreSQL half of the suite is SKIPPED: {reason}\n");
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(reason) = &postgres_skipped {
        println!("NOTE: only the SQLite half ran; the PostgreSQL half was skipped: {reason}\n");
    }
    conclusion.exit_code()
}

fn run_case(backend: Backend, run: fn() -> TestFuture) -> Result<(), Failed> {
    helpers::set_backend(backend);
    // The same runtime `#[actix_web::test]` would give: the server spawned
    // by `spawn_app` runs on this thread beside the test.
    actix_web::rt::System::new().block_on(run());
    Ok(())
}
