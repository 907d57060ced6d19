/// `RUST_LOG` controls verbosity; the default is `info`.
pub fn init_logger() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
}
