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

pub struct Connection {
    pub client: kube::Client,
    /// The context's namespace (or the service account's, in a cluster).
    pub default_namespace: String,
    /// A client that does not retry 503s, for checks through the API server's service
    /// proxy: there a 503 is the app's (or "no endpoints"), and is the check's result.
    pub proxy_client: kube::Client,
}

pub async fn connect(args: &KubeSource) -> Result<Connection, String> {
    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| format!("kubeconfig: {e}"))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("no cluster to talk to: {e}"))?,
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
    let proxy_client =
        crate::gate::http::proxy_client(config.clone()).map_err(|e| format!("client: {e}"))?;
    let client = kube::Client::try_from(config).map_err(|e| format!("client: {e}"))?;
    Ok(Connection {
        client,
        default_namespace,
        proxy_client,
    })
}
