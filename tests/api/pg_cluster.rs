//! A private PostgreSQL cluster for tests that break their database: stop
//! it (connections refused), freeze it (SIGSTOP of the postmaster and its
//! backends: a hung server), bring it back. Never the shared server on 5432.
//!
//! The cluster runs as the `postgres` user (when the tests run as root) from
//! the newest `/usr/lib/postgresql/*/bin`, in its own temporary directory
//! with its own port and socket directory; dropping it stops it and removes
//! the directory. `initdb` runs once per test process; each cluster starts
//! from a copy of that template.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
    time::{Duration, Instant},
};

pub struct PrivateCluster {
    root: PathBuf,
    port: u16,
    postmaster: Option<u32>,
    frozen: bool,
}

fn bin_dir() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("a PostgreSQL version with bin/pg_ctl under /usr/lib/postgresql")
        .1
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(1))
            == Some("0")
    })
}

/// A PostgreSQL tool, as the `postgres` user when we are root (the server
/// refuses to run as root).
fn pg_tool(tool: &str) -> Command {
    let path = bin_dir().join(tool);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn run(mut command: Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A directory the `postgres` user owns.
fn scratch_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("cluster directory");
    if running_as_root() {
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("postgres:postgres").arg(&dir);
        run(chown, "chown the cluster directory");
    }
    dir
}

/// `initdb` once per server version, kept in the temporary directory as a
/// cache (renamed into place, so concurrent test processes agree); clusters
/// copy it.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let version = bin_dir()
            .parent()
            .and_then(Path::file_name)
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cached = std::env::temp_dir().join(format!("bff_pg_template_{version}"));
        if cached.join("data/PG_VERSION").is_file() {
            return cached.join("data");
        }
        let root = scratch_dir("bff_pg_template_new");
        let mut initdb = pg_tool("initdb");
        initdb
            .arg("-D")
            .arg(root.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        run(initdb, "initdb");
        if std::fs::rename(&root, &cached).is_err() {
            // Another process won the race; its template is as good.
            let _ = std::fs::remove_dir_all(&root);
        }
        cached.join("data")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl PrivateCluster {
    /// A running cluster with an empty `bff` database.
    pub fn start() -> PrivateCluster {
        let root = scratch_dir("bff_pg_cluster");
        let mut copy = Command::new("cp");
        copy.arg("-a").arg(template()).arg(root.join("data"));
        run(copy, "copy the template cluster");
        std::fs::create_dir_all(root.join("socket")).expect("socket directory");
        if running_as_root() {
            let mut chown = Command::new("chown");
            chown.arg("-R").arg("postgres:postgres").arg(&root);
            run(chown, "chown the cluster");
        }
        let mut cluster = PrivateCluster {
            root,
            port: free_port(),
            postmaster: None,
            frozen: false,
        };
        cluster.resume_service();
        let mut createdb = pg_tool("createdb");
        createdb.args(["-h", "127.0.0.1", "-p", &cluster.port.to_string()]);
        createdb.args(["-U", "postgres", "bff"]);
        run(createdb, "createdb");
        cluster
    }

    /// `postgres://…/bff` on this cluster.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/bff", self.port)
    }

    /// Starts the (stopped) cluster again and waits until it accepts.
    pub fn resume_service(&mut self) {
        let mut pg_ctl = pg_tool("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.root.join("data"))
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "30", "-o"])
            .arg(format!(
                "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
                 -c fsync=off -c max_connections=40 -c shared_buffers=16MB",
                self.port,
                self.root.join("socket").display()
            ))
            .arg("start");
        run(pg_ctl, "pg_ctl start");
        let pid_file =
            std::fs::read_to_string(self.root.join("data/postmaster.pid")).expect("postmaster.pid");
        self.postmaster = pid_file.lines().next().and_then(|l| l.trim().parse().ok());
    }

    /// Stops the server: connections are refused until [`resume_service`].
    pub fn stop_service(&mut self) {
        self.thaw();
        run(self.pg_ctl_stop(), "pg_ctl stop");
        self.postmaster = None;
    }

    fn pg_ctl_stop(&self) -> Command {
        let mut pg_ctl = pg_tool("pg_ctl");
        pg_ctl.arg("-D").arg(self.root.join("data")).args([
            "-w",
            "-t",
            "30",
            "-m",
            "immediate",
            "stop",
        ]);
        pg_ctl
    }

    /// SIGSTOP the postmaster and every backend: the server accepts TCP
    /// connections (the kernel does) but never answers.
    pub fn freeze(&mut self) {
        self.signal("STOP");
        self.frozen = true;
    }

    /// SIGCONT: the server answers again.
    pub fn thaw(&mut self) {
        if self.frozen {
            self.signal("CONT");
            self.frozen = false;
        }
    }

    /// The postmaster first, so it forks no new backend meanwhile.
    fn signal(&self, name: &str) {
        let Some(postmaster) = self.postmaster else {
            return;
        };
        let mut kill = Command::new("kill");
        kill.arg(format!("-{name}")).arg(postmaster.to_string());
        run(kill, "signal the postmaster");
        // A backend may exit meanwhile; the others still get the signal.
        let children = children(postmaster);
        if !children.is_empty() {
            let _ = Command::new("kill")
                .arg(format!("-{name}"))
                .args(children.iter().map(u32::to_string))
                .output();
        }
    }

    /// Waits until a plain connection succeeds (after a thaw or resume).
    pub fn wait_until_answering(&self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            let mut ready = pg_tool("pg_isready");
            ready.args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()]);
            if ready.status().is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the private cluster did not answer within {limit:?}");
    }
}

/// Direct children of `pid` (the postmaster's backends and helpers).
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                // The fields after the parenthesised command name: state, ppid.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|ppid| ppid.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.thaw();
        if self.postmaster.is_some() {
            let _ = self.pg_ctl_stop().output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
