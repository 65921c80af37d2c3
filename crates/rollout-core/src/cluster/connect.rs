//! A client the way kubectl makes one: `--kubeconfig`, else `KUBECONFIG`, else
//! `~/.kube/config`, else the in-cluster service account; `--context` picks a context, and
//! the namespace is `-n`, else the context's, else `default`.

use std::path::PathBuf;

/// Where the cluster's credentials come from, as kubectl's `--kubeconfig` and `--context`.
#[derive(Debug, Clone, Default)]
pub struct KubeSource {
    /// Kubeconfig file; `KUBECONFIG`, then `~/.kube/config`, when absent.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context; the current one when absent.
    pub context: Option<String>,
    /// The longest the API server may take to answer one request; kube's defaults (no read
    /// timeout) when absent.
    pub api_timeout: Option<std::time::Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("kubeconfig {} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read kubeconfig {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig {}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig")]
    Context(#[source] kube::config::KubeconfigError),
    #[error(
        "no cluster to talk to (no --kubeconfig, no KUBECONFIG, no ~/.kube/config, not in a pod); to try one here: `rollout sim up`"
    )]
    Infer(#[source] kube::config::InferConfigError),
    #[error("cannot build a client")]
    Client(#[source] kube::Error),
}

pub struct Connection {
    pub client: kube::Client,
    /// The context's namespace (or the service account's, in a cluster).
    pub default_namespace: String,
    /// The API server's address, for messages.
    pub server: String,
    /// A client that does not retry 503s, for checks through the API server's service
    /// proxy: there a 503 is the app's (or "no endpoints"), and is the check's result.
    pub proxy_client: kube::Client,
}

pub async fn connect(args: &KubeSource) -> Result<Connection, ConnectError> {
    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            if !path.exists() {
                return Err(ConnectError::Missing { path: path.clone() });
            }
            let kc =
                kube::config::Kubeconfig::read_from(path).map_err(|source| ConnectError::Read {
                    path: path.clone(),
                    source,
                })?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|source| ConnectError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(ConnectError::Context)?,
        None => kube::Config::infer().await.map_err(ConnectError::Infer)?,
    };
    let mut config = config;
    if let Some(limit) = args.api_timeout {
        // A server that accepts connections but never answers (stopped, or wedged) would
        // otherwise hold a request, and the run waiting on it, for good. The read timeout
        // counts from the request's last write, not from when its pooled connection went
        // idle.
        config.read_timeout = Some(limit);
        config.write_timeout = Some(limit);
        config.reset_reader_on_write = true;
        config.connect_timeout = Some(config.connect_timeout.map_or(limit, |c| c.min(limit)));
    }
    let default_namespace = config.default_namespace.clone();
    let server = config
        .cluster_url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| config.cluster_url.to_string());
    let proxy_client =
        crate::gate::http::proxy_client(config.clone()).map_err(ConnectError::Client)?;
    let client = kube::Client::try_from(config).map_err(ConnectError::Client)?;
    Ok(Connection {
        client,
        default_namespace,
        server,
        proxy_client,
    })
}

impl Connection {
    /// The namespace `-n` names, else the context's.
    pub fn cluster(&self, namespace: Option<&str>) -> super::Cluster {
        super::Cluster::new(
            self.client.clone(),
            namespace.unwrap_or(&self.default_namespace),
        )
        .with_server(self.server.clone())
    }
}
