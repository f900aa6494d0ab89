//! A real PostgreSQL server (Debian's `postgresql`, installed by `scripts/test`), started by a
//! test: `initdb` in a temporary directory as an unprivileged user (`nobody` when the test runs
//! as root: the server refuses root), `pg_ctl` on a free loopback port with its socket in the
//! same directory. The test may stop it hard and start it again.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A cluster owned by one test.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The loopback port it listens on; kept across restarts.
    pub port: u16,
    /// fsync and synchronous commit on (benchmarks); off in tests.
    durable: bool,
}

/// Where Debian puts the server binaries: `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
fn server_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run ./scripts/test once (apt-get install postgresql)")
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect(
        "no /usr/lib/postgresql/*/bin/pg_ctl: run ./scripts/test once (apt-get install postgresql)",
    )
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("local address").port()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Postgres {
    /// Creates and starts a cluster (trust authentication on loopback, `fsync=off`; commits stay
    /// synchronous, so an acknowledged commit survives the server being killed).
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// The same with PostgreSQL's durable defaults (fsync, synchronous commit): for figures.
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the cluster");
        // The unprivileged server user must reach its data directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod cluster dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        if is_root() {
            std::os::unix::fs::chown(&data, Some(65534), Some(65534)).expect("chown data dir");
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534))
                .expect("chown cluster dir");
        }
        let server = Self {
            bin: server_bin(),
            port: free_port(),
            dir,
            durable,
        };
        let initdb = server.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        server.pg_ctl_start();
        server
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "nobody", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl_start(&self) {
        let speed = if self.durable {
            "-c shared_buffers=512MB -c max_wal_size=4GB"
        } else {
            "-c fsync=off -c full_page_writes=off"
        };
        // Commit timestamps: a test can tell when each row was committed (the end-to-end latency
        // of a crossing to the record).
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c track_commit_timestamp=on {speed}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (`immediate`: no checkpoint, as after a crash).
    pub fn stop(&self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts a stopped server again with the same data and port.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    /// The socket directory (also the cluster's directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connected client to the `postgres` database as `postgres`.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test cluster");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
