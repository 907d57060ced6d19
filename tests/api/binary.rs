//! The real `bff-gateway` binary, started as an operator would start it, with
//! everything it logs collected.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{Receiver, channel},
    time::Duration,
};

/// The binary with an empty environment (only what a test sets applies) in
/// `dir`, where it looks for `.env` and `config/`.
pub fn gateway(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bff-gateway"));
    command
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs a command that is expected to stop by itself; returns its status and
/// everything it wrote to stderr.
pub fn run_to_exit(mut command: Command) -> (ExitStatus, String) {
    let output = command
        .stdout(Stdio::null())
        .output()
        .expect("run the binary");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running server; killed when dropped, so a failing test leaves nothing behind.
pub struct RunningServer {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
    pub base: String,
}

impl RunningServer {
    /// Starts `command` and waits for its "listening on" line.
    pub fn start(mut command: Command) -> RunningServer {
        let mut child = command.spawn().expect("start the binary");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = RunningServer {
            child,
            lines,
            log: Vec::new(),
            base: String::new(),
        };
        let port = loop {
            let line = server
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("server did not start:\n{}", server.log.join("\n")));
            let found = line
                .split("listening on http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|p| p.parse::<u16>().ok());
            server.log.push(line);
            if let Some(port) = found {
                break port;
            }
        };
        server.base = format!("http://127.0.0.1:{port}");
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit by itself; returns its
    /// status (`None`: still running) and everything it logged so far.
    pub fn wait_for_exit(&mut self, limit: Duration) -> (Option<ExitStatus>, String) {
        let start = std::time::Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                _ if start.elapsed() >= limit => break None,
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(300)) {
            self.log.push(line);
        }
        (status, self.log.join("\n"))
    }

    /// What it logged up to its "listening on" line.
    pub fn start_up_log(&self) -> &[String] {
        &self.log
    }

    /// Stops the server and returns everything it logged.
    pub fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.log.push(line);
        }
        std::mem::take(&mut self.log).join("\n")
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
