//! A throwaway PostgreSQL cluster of the test's own (initdb and pg_ctl into
//! a temporary folder, on a free port), for tests that stop and start the
//! database: never the shared one. As root, the cluster's commands run as
//! the `postgres` user (PostgreSQL refuses to run as root).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

/// A cluster; stopped and removed when dropped.
pub(crate) struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts a cluster; `None` if PostgreSQL's programs are
    /// not installed (`pg_config --bindir`).
    pub(crate) fn create() -> Option<Self> {
        let bin = Command::new("pg_config").arg("--bindir").output().ok()?;
        let bin = PathBuf::from(String::from_utf8(bin.stdout).ok()?.trim());
        if !bin.join("initdb").exists() {
            return None;
        }
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|id| String::from_utf8_lossy(&id.stdout).trim() == "0");
        let dir =
            std::env::temp_dir().join(format!("ets-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a folder for the cluster");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self {
            dir,
            bin,
            port,
            as_postgres: root,
        };
        if root {
            cluster.run(Command::new("chown").args(["postgres:", &cluster.path("")]));
        }
        let data = cluster.path("data");
        cluster.run(cluster.command("initdb").args([
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]));
        cluster.start();
        Some(cluster)
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts it and waits until it accepts connections.
    pub(crate) fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.path("")
        );
        self.run(self.command("pg_ctl").args([
            "-D",
            &self.path("data"),
            "-l",
            &self.path("log"),
            "-o",
            &options,
            "-w",
            "start",
        ]));
    }

    /// Stops it as a crash would (`-m immediate`: no checkpoint; the next
    /// start recovers from the WAL).
    pub(crate) fn crash(&self) {
        self.run(self.command("pg_ctl").args([
            "-D",
            &self.path("data"),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, command: &mut Command) {
        let output = command.output().expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{command:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.path("data"), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
