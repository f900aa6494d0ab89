//! A real `nats-server` with JetStream, started by a test on a free loopback port with its own
//! store directory, which the test may kill, pause and restart.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server may take to accept connections before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running (or killed) nats-server owned by one test.
pub struct NatsServer {
    child: Option<Child>,
    /// The loopback port it listens on; kept across restarts.
    pub port: u16,
    store: tempfile::TempDir,
    /// A server configuration file (`-c`), e.g. the users it requires.
    config: Option<std::path::PathBuf>,
}

/// Where the README's test command installs nats-server, or whatever `PATH` has.
pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/nats-server");
    if local.exists() {
        return local;
    }
    PathBuf::from("nats-server")
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

impl NatsServer {
    /// Starts a JetStream-enabled server on a free loopback port with a fresh store directory.
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temp dir for the JetStream store");
        let mut server = Self {
            child: None,
            port: free_port(),
            store,
            config: None,
        };
        server.spawn();
        server
    }

    /// As [`NatsServer::start`], with `config` as the server's configuration file (written into
    /// its store directory): e.g. an `authorization` block the clients must satisfy.
    pub fn start_with_config(config: &str) -> Self {
        let store = tempfile::tempdir().expect("temp dir for the JetStream store");
        let path = store.path().join("server.conf");
        std::fs::write(&path, config).expect("write the server configuration");
        let mut server = Self {
            child: None,
            port: free_port(),
            store,
            config: Some(path),
        };
        server.spawn();
        server
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The JetStream store directory (kept across restarts).
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    fn spawn(&mut self) {
        let mut command = Command::new(nats_server_binary());
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (run ./scripts/test once to install it)");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL (no clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(child.id().to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{name} failed");
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three JetStream servers routed into one cluster on loopback (free client and route ports,
/// a store each), any of which a test may kill with SIGKILL and restart on the same store.
pub struct NatsCluster {
    nodes: Vec<ClusterNode>,
    route_ports: Vec<u16>,
}

struct ClusterNode {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

/// Nodes of a test cluster.
pub const CLUSTER_NODES: usize = 3;

impl NatsCluster {
    /// Starts the three nodes; JetStream is usable once the cluster has elected its meta leader
    /// (callers retry their first stream creation).
    pub fn start() -> Self {
        let route_ports: Vec<u16> = (0..CLUSTER_NODES).map(|_| free_port()).collect();
        let nodes = (0..CLUSTER_NODES)
            .map(|_| ClusterNode {
                child: None,
                port: free_port(),
                store: tempfile::tempdir().expect("temp dir for a node's store"),
            })
            .collect();
        let mut cluster = Self { nodes, route_ports };
        for node in 0..CLUSTER_NODES {
            cluster.spawn(node);
        }
        for node in 0..CLUSTER_NODES {
            cluster.wait_listening(node);
        }
        cluster
    }

    /// Every node's client URL (the seed list a terminal is configured with).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The server name of node `node` (as stream info names the leader).
    pub fn name(node: usize) -> String {
        format!("n{node}")
    }

    /// Which node a server name is.
    pub fn node_named(name: &str) -> Option<usize> {
        name.strip_prefix('n')?.parse().ok()
    }

    fn spawn(&mut self, node: usize) {
        let routes: Vec<String> = self
            .route_ports
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != node)
            .map(|(_, port)| format!("nats://127.0.0.1:{port}"))
            .collect();
        let child = Command::new(nats_server_binary())
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.nodes[node].port.to_string())
            .arg("-sd")
            .arg(self.nodes[node].store.path())
            .arg("--cluster")
            .arg(format!("nats://127.0.0.1:{}", self.route_ports[node]))
            .arg("--routes")
            .arg(routes.join(","))
            .args(["--cluster_name", "central", "--server_name"])
            .arg(Self::name(node))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (run ./scripts/test once to install it)");
        self.nodes[node].child = Some(child);
    }

    fn wait_listening(&self, node: usize) {
        let port = self.nodes[node].port;
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "node {node} did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL of one node (no clean shutdown).
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again on its ports and store.
    pub fn restart(&mut self, node: usize) {
        self.kill(node);
        self.spawn(node);
        self.wait_listening(node);
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in 0..CLUSTER_NODES {
            self.kill(node);
        }
    }
}
