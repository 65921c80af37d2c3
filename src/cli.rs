//! Command-line definitions (clap derive only; behaviour lives in `commands`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rollout",
    version,
    about = "Move a Kubernetes app to a new version with a deployment strategy, gated and rolled back automatically."
)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = rollout_core::exit::ExitCode::table()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Roll out: `rollout --strategy canary --image v2`.
    #[command(flatten)]
    pub run: RunArgs,

    /// Log filter (tracing syntax, e.g. `info`, `rollout=debug`); also RUST_LOG.
    // The default leaves out kube's per-request error lines (a check's 503 through the
    // service proxy is its result, reported as such) and its note on skipped TLS checks.
    #[arg(
        long,
        global = true,
        env = "ROLLOUT_LOG",
        default_value = "warn,kube_client::client::builder=off,kube_client::client::tls=error"
    )]
    pub log: String,
}

/// What to roll out, where, and how to report it.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// A built-in strategy (recreate, rolling, blue-green, canary, ab, shadow) or the path of
    /// a strategy file.
    #[arg(long, short = 's')]
    pub strategy: Option<String>,
    /// The new version: a tag (`v2`, replaces the tag of the current image) or an image
    /// reference (`ghcr.io/x/app:v2`).
    #[arg(long, short = 'i')]
    pub image: Option<String>,
    /// The Deployment to roll out (default: the only one in the namespace).
    #[arg(long)]
    pub app: Option<String>,
    /// The container whose image changes (default: the only one).
    #[arg(long)]
    pub container: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

/// Where the app is, as kubectl finds it.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Namespace (default: the context's, else `default`).
    #[arg(long, short = 'n', global = true)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// `text`: live progress on stderr; `json`: JSON Lines events on stdout.
    #[arg(long, short = 'o', default_value = "text", global = true, value_parser = ["text", "json"])]
    pub output: String,
}

/// Strategy-file values replaced from the command line.
#[derive(Debug, Args, Clone, Default)]
pub struct OverrideArgs {
    /// Skip every pause, timed ones too, and never wait for `rollout promote` (checks still
    /// run).
    #[arg(long)]
    pub no_pause: bool,
    /// Never wait for `rollout promote` (CI): drop `pause: {}` steps, promote blue-green
    /// automatically; timed pauses still run.
    #[arg(long)]
    pub auto_promote: bool,
    /// Shorten every timed pause to at most this (`0s` drops them).
    #[arg(long)]
    pub max_pause: Option<rollout_core::spec::Duration>,
    /// Time between two measurements of every check.
    #[arg(long)]
    pub analysis_interval: Option<rollout_core::spec::Duration>,
    /// Deadline of every rollout wait.
    #[arg(long)]
    pub progress_deadline: Option<rollout_core::spec::Duration>,
    /// Traffic router: auto, gateway-api, ingress-nginx, replicas, service.
    #[arg(long)]
    pub traffic: Option<rollout_core::spec::Traffic>,
    /// How long A/B and shadow compare the versions.
    #[arg(long)]
    pub duration: Option<rollout_core::spec::Duration>,
    /// Also post every event of the rollout to this URL (JSON with a `text` a chat webhook
    /// shows); repeatable. Kept in the rollout's record: a resumed rollout notifies it too.
    #[arg(long, value_name = "URL")]
    pub notify: Vec<String>,
}

/// How checks reach the app and its metrics.
#[derive(Debug, Args, Clone, Default)]
pub struct EndpointArgs {
    /// Base URL of the ingress (default: the address in the Ingress's status).
    #[arg(long, env = "ROLLOUT_INGRESS_URL")]
    pub ingress_url: Option<String>,
    /// The ingress controller's Prometheus metrics, for comparing the versions
    /// (ingress-nginx: port 10254, /metrics).
    #[arg(long, env = "ROLLOUT_METRICS_URL")]
    pub metrics_url: Option<String>,
    /// A Prometheus server, for Prometheus checks and comparisons.
    #[arg(long, env = "PROMETHEUS_URL")]
    pub prometheus: Option<String>,
}

/// A command about one app's rollout.
#[derive(Debug, Args, Clone)]
pub struct AppArgs {
    /// The Deployment (default: the only one in the namespace).
    pub app: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The strategy to show (a built-in name or a strategy file).
    #[arg(long, short = 's', default_value = "canary")]
    pub strategy: String,
    /// The new version; a failing one shows the automatic rollback (`rollout sim images`
    /// lists them: v2-errors, v2-crash, v2-never-ready, v2-regression, ...).
    #[arg(long, short = 'i', default_value = "v2")]
    pub image: String,
    /// Simulated time runs this many times faster (start-up, probes, back-off).
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    /// Where to write the report (default: rollout-report/demo-STRATEGY-TIME).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Serve the live web view of the rollout (`rollout dashboard`) on 127.0.0.1 while it
    /// runs; the URL is printed.
    #[arg(long)]
    pub ui: bool,
    /// With --ui: open the page in a browser too.
    #[arg(long, requires = "ui")]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The new version every strategy rolls out.
    #[arg(long, short = 'i', default_value = "v2")]
    pub image: String,
    /// The strategies to compare.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "recreate,rolling,blue-green,canary,ab"
    )]
    pub strategies: Vec<String>,
    /// Runs per strategy; with more than one, the table shows medians and the range.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    /// Print the table as JSON (every run's figures) instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// The experiment file (see experiments/).
    pub file: PathBuf,
    /// Where to write the report (default: rollout-report/experiment-NAME-TIME).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Serve the live web view of the rollout (`rollout dashboard`) on 127.0.0.1 while it
    /// runs; the URL is printed.
    #[arg(long)]
    pub ui: bool,
    /// With --ui: open the page in a browser too.
    #[arg(long, requires = "ui")]
    pub open: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Roll out Microblog on a fresh embedded cluster, with users, live progress and a report.
    Demo(DemoArgs),
    /// Run every strategy on a fresh embedded cluster with the same users and image, and
    /// print what each cost the users.
    Compare(CompareArgs),
    /// Run a scripted experiment (cluster, manifests, traffic, actions, expectations).
    Experiment(ExperimentArgs),
    /// Print the plan of a rollout; changes nothing.
    Plan(RunArgs),
    /// A web page showing the namespace's rollouts live, with promote, abort and resume.
    Dashboard(DashboardArgs),
    /// Show the app's rollout: versions and their pods, routes, steps, gates, holder.
    Status {
        #[command(flatten)]
        app: AppArgs,
        /// Keep showing changes until the rollout ends; exit with the rollout's exit code.
        #[arg(long, short = 'w')]
        watch: bool,
    },
    /// End the current pause of a running rollout.
    Promote {
        #[command(flatten)]
        app: AppArgs,
        /// Skip every pause and analysis left.
        #[arg(long)]
        full: bool,
    },
    /// Roll back the app's rollout (the running process does it, or this one if none runs).
    Abort {
        #[command(flatten)]
        app: AppArgs,
    },
    /// Go on with a rollout whose process stopped (from the recorded step).
    Resume {
        #[command(flatten)]
        app: AppArgs,
    },
    /// Bring the app back to its previous revision (like `kubectl rollout undo`).
    Undo {
        #[command(flatten)]
        app: AppArgs,
        #[arg(long)]
        to_revision: Option<i64>,
    },
    /// The app's revisions and the last rollout's result.
    History {
        #[command(flatten)]
        app: AppArgs,
    },
    /// The embedded cluster: a Kubernetes API server in this process that kubectl can use.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Measure the embedded cluster and print the figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// List the built-in strategies (files in strategies/, to copy and edit).
    Strategies(StrategiesArgs),
}

#[derive(Debug, Args)]
pub struct StrategiesArgs {
    /// Check a strategy file (or built-in name): `ok`, or where it is wrong (exit 2).
    #[arg(long)]
    pub check: Option<String>,
    /// With --check: print the file as it was read (every default filled in), as JSON.
    #[arg(long, requires = "check")]
    pub show: bool,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Start the embedded cluster and serve until Ctrl-C.
    Up(SimUpArgs),
    /// List the demo images and what each one's app does.
    Images(SimImagesArgs),
    /// Send steady user traffic through an ingress and report what each version served.
    Traffic(SimTrafficArgs),
    /// Run only the node agent, joined to any API server (e.g. a real control plane).
    Node(SimNodeArgs),
    /// Run only the ingress proxy against any API server.
    Ingress(SimIngressArgs),
    /// Print a TLS Secret for a host (a CA of its own and a certificate it signs), for an
    /// Ingress's `spec.tls`: pipe it to `kubectl apply -f -`.
    TlsSecret(SimTlsSecretArgs),
}

#[derive(Debug, Args)]
pub struct SimTlsSecretArgs {
    /// The Secret's namespace (the Ingress's).
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// The Secret's name, as the Ingress's `spec.tls[].secretName` gives it.
    #[arg(long)]
    pub name: String,
    /// The host the certificate is for (the Ingress rule's host).
    #[arg(long)]
    pub host: String,
}

/// Which cluster to talk to, as kubectl chooses it.
#[derive(Debug, Args, Clone)]
pub struct KubeArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    /// How long the API server may take to answer one request (to connect, and between two
    /// reads of its answer); past it the request fails, and a rollback that cannot finish
    /// leaves its record for `rollout abort` or `rollout resume`.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    pub api_timeout: std::time::Duration,
}

impl KubeArgs {
    /// The credentials these flags name.
    pub fn source(&self) -> rollout_core::cluster::connect::KubeSource {
        rollout_core::cluster::connect::KubeSource {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            api_timeout: Some(self.api_timeout),
        }
    }
}

#[derive(Debug, Args)]
pub struct SimNodeArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// The Node name to register.
    #[arg(long, default_value = "sim-node-1")]
    pub name: String,
    /// Pod addresses come from this range (default: a /16 inside 127.0.0.0/8). A real API
    /// server rejects loopback endpoints: use a range bound in a private network namespace.
    #[arg(long)]
    pub pod_cidr: Option<String>,
    /// The node's own address (status.addresses, pods' hostIP).
    #[arg(long, default_value = "127.0.0.1")]
    pub node_ip: String,
    #[arg(long)]
    pub profile: Option<PathBuf>,
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

#[derive(Debug, Args)]
pub struct SimIngressArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Address to listen on (loopback or a private namespace's address).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Address of the HTTPS listener (the certificates of the Ingresses' `spec.tls`).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub tls_listen: std::net::SocketAddr,
    /// Address of the metrics endpoint (ingress-nginx's names; port 0 picks a free one). Its
    /// address is the controller pods' IP: a real API server's pod proxy refuses loopback
    /// ones.
    #[arg(long, default_value = "127.0.0.1:10254")]
    pub metrics_listen: std::net::SocketAddr,
    /// The IngressClass served.
    #[arg(long, default_value = "nginx")]
    pub class: String,
    /// The Node the proxy registers for its controller pods (ingress-nginx's and Contour's
    /// Envoy's, which is how clients find its metrics).
    #[arg(long, default_value = kubesim::INGRESS_NODE)]
    pub node_name: String,
}

#[derive(Debug, Args)]
pub struct SimTrafficArgs {
    /// The ingress address (as `rollout sim up` prints it), loopback only.
    #[arg(long)]
    pub target: std::net::SocketAddr,
    /// Host header (the Ingress rule's host).
    #[arg(long)]
    pub host: String,
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Send HTTPS to --target (the ingress's HTTPS listener), asking for --host and trusting
    /// only this CA (a PEM file, e.g. the `ca.crt` of the Ingress's TLS Secret).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Requests per second (open loop: sent on schedule whatever the answers take).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// How long to run (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// A share of users carrying a header or cookie: `10%:header:X-Canary=always`,
    /// `5%:cookie:canary=always`. Repeatable.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Print the final report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SimImagesArgs {
    /// Also show the entries of this profile file.
    #[arg(long)]
    pub profile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimUpArgs {
    /// Port on 127.0.0.1 for the API server (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Where to write the kubeconfig (context `rollout-sim`).
    #[arg(long, default_value = "rollout-sim.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Keep objects in this directory so they survive a restart (memory only without it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Image behaviour profiles (YAML) on top of the built-in ones; see `rollout sim images`.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Run simulated time this many times faster (probe timings, start-up, back-off, grace
    /// periods); HTTP traffic stays real.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Port on 127.0.0.1 for the ingress proxy (Ingress class `nginx`, HTTPRoutes).
    #[arg(long, default_value_t = 8080)]
    pub ingress_port: u16,
    /// Port on 127.0.0.1 for the ingress proxy's HTTPS (the certificates of the Ingresses'
    /// `spec.tls`; 0 picks a free one).
    #[arg(long, default_value_t = 8443)]
    pub ingress_tls_port: u16,
    /// How long Events are kept after their last change (kube-apiserver's --event-ttl).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub event_ttl: std::time::Duration,
    /// Fault profile (YAML): the API server answers a share of requests with 500, 429 or
    /// 409, drops watch streams, or adds latency; see the README's "Faults".
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// Serve the live web view of every namespace's rollouts (`rollout dashboard -A`) on
    /// 127.0.0.1; the URL is printed.
    #[arg(long)]
    pub ui: bool,
    /// With --ui: open the page in a browser too.
    #[arg(long, requires = "ui")]
    pub open: bool,
    /// Users: send requests with this Host header (an Ingress rule's host, e.g.
    /// web.example.local) through the embedded ingress for as long as the cluster runs, as
    /// `rollout sim traffic` does, so rollouts by hand have live traffic to compare.
    #[arg(long, value_name = "HOST")]
    pub traffic: Option<String>,
    /// With --traffic: requests per second.
    #[arg(long, default_value_t = 50.0, requires = "traffic")]
    pub traffic_rate: f64,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Show the rollouts of every namespace the credentials may read.
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Address to serve the page on. Keep it on loopback: whoever loads the page can
    /// promote and abort with this dashboard's credentials.
    #[arg(long, default_value = "127.0.0.1:7077")]
    pub listen: std::net::SocketAddr,
    /// Open the page in a browser.
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// API server throughput and latency: create, get, list, watch fan-out, memory.
    Api(BenchApiArgs),
    /// How fast the embedded cluster starts pods: from a Deployment's creation until all its
    /// pods are Ready and serving HTTP.
    Pods(BenchPodsArgs),
    /// Requests/s and latency through the embedded ingress proxy, and through nginx (when
    /// installed) proxying to the same pods, in the same run.
    Ingress(BenchIngressArgs),
    /// From a failing gate to all traffic back on the stable version, through the ingress.
    Reaction(BenchReactionArgs),
    /// Canaries of hundreds to thousands of replicas at several speeds: time per phase, the
    /// speed the cluster kept, its memory and the API server's latency.
    Scale(crate::commands::bench_scale::BenchScaleArgs),
    /// The comparison judge on simulated traffic: false rollbacks of identical versions however
    /// often it looks, requests needed to catch a bad version, time to an answer at demo
    /// traffic.
    Judge(BenchJudgeArgs),
    /// Minutes of Deployment churn and ingress traffic: resident memory sampled over time.
    Soak(crate::commands::bench_soak::BenchSoakArgs),
}

#[derive(Debug, Args)]
pub struct BenchJudgeArgs {
    /// Simulated rollouts per row.
    #[arg(long, default_value_t = 1000)]
    pub runs: usize,
    /// Seed of the simulation: the same seed prints the same figures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the figures as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchReactionArgs {
    /// Rollouts to measure (each on a fresh embedded cluster).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

#[derive(Debug, Args)]
pub struct BenchIngressArgs {
    /// Seconds of load per proxy.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// The nginx binary to compare with.
    #[arg(long, default_value = "nginx")]
    pub nginx: String,
}

#[derive(Debug, Args)]
pub struct BenchPodsArgs {
    /// Pods to start.
    #[arg(long, default_value_t = 200)]
    pub pods: i32,
}

#[derive(Debug, Args)]
pub struct BenchApiArgs {
    /// Objects to create for the create/get/list figures.
    #[arg(long, default_value_t = 1000)]
    pub objects: usize,
    /// Concurrent watchers for the fan-out figure.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Lists per list figure.
    #[arg(long, default_value_t = 100)]
    pub list_rounds: usize,
    /// Deployments (each with 10 pods) for the memory figure; 0 skips it.
    #[arg(long, default_value_t = 1000)]
    pub memory_deployments: usize,
}
