//! The cluster-fed proxy: watches Ingresses, HTTPRoutes, Services, EndpointSlices and
//! Secrets, rebuilds the routing table, endpoint index and certificates when they change,
//! writes `status.loadBalancer` on served Ingresses, and shows itself as controller pods
//! ([`super::presence`]).
//!
//! Status: every served Ingress gets `status.loadBalancer.ingress: [{ip (or hostname): the
//! published address, ports: [{port: HTTP}, {port: HTTPS}]}]` — the HTTP port first, then the
//! HTTPS one, so that a client reaches it without being told where it listens (`ports` is how
//! the Ingress API says a load balancer listens elsewhere than 80 and 443). HTTPRoutes get no
//! addresses: the Gateway API keeps those on the Gateway, and this proxy does not implement
//! Gateways (it serves every HTTPRoute without looking at its parentRefs), so it claims none
//! and writes no Gateway status.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::IngressError;
use super::handler::{Handler, HandlerConfig};
use super::presence::{HEARTBEAT, Presence};
use super::server::{serve, serve_metrics, serve_tls, stopped};
use crate::ingress::endpoints::{EndpointIndex, SharedEndpoints};
use crate::ingress::metrics::{ControllerLabels, Metrics, ProxyStats};
use crate::ingress::routing::RoutingTable;
use crate::ingress::tls::{CertTable, Certificates};

/// How the cluster-fed proxy runs.
#[derive(Debug, Clone)]
pub struct IngressOptions {
    /// Where the proxy listens for plain HTTP (port 0: any free port).
    pub listen: SocketAddr,
    /// Where it listens for HTTPS, serving the certificates of the Ingresses' `spec.tls`
    /// (port 0: any free port); `None`: no HTTPS, and no redirects to it.
    pub tls_listen: Option<SocketAddr>,
    /// Ingress class served (`"nginx"`); empty serves every Ingress.
    pub ingress_class: String,
    /// Written to `status.loadBalancer.ingress[].ip` (or `.hostname` when not an IP address) of
    /// every served Ingress; empty: status is not written.
    pub publish_address: String,
    /// Where `/metrics` is served (port 0: any free port).
    pub metrics_listen: SocketAddr,
    /// Upstream connect timeout (ingress-nginx `proxy-connect-timeout`, 5 s).
    pub connect_timeout: Duration,
    /// Wait for upstream response headers (ingress-nginx `proxy-read-timeout`, 60 s).
    pub read_timeout: Duration,
    /// Constant labels of the metrics.
    pub controller: ControllerLabels,
    /// Show the proxy as controller pods bound to a Node of this name (see
    /// [`super::presence`]); `None`: no pods. One proxy per name: two would replace each
    /// other's pods.
    pub controller_node: Option<String>,
}

impl Default for IngressOptions {
    fn default() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        IngressOptions {
            listen: loopback,
            tls_listen: Some(loopback),
            ingress_class: "nginx".into(),
            publish_address: "127.0.0.1".into(),
            metrics_listen: loopback,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            controller: ControllerLabels::default(),
            controller_node: None,
        }
    }
}
/// Gateway API HTTPRoute, read as a dynamic object.
pub fn http_route_resource() -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

#[derive(Default)]
struct SyncState {
    ingresses: AtomicBool,
    routes: AtomicBool,
    services: AtomicBool,
    slices: AtomicBool,
    secrets: AtomicBool,
    routes_changed: Notify,
    certificates_changed: Notify,
    endpoints_changed: Notify,
    status_changed: Notify,
}

impl SyncState {
    fn all_synced(&self) -> bool {
        [
            &self.ingresses,
            &self.routes,
            &self.services,
            &self.slices,
            &self.secrets,
        ]
        .iter()
        .all(|f| f.load(Ordering::Acquire))
    }
}

/// The ingress proxy of a cluster: watches it through `kube`, serves HTTP on
/// [`IngressProxy::addr`] and metrics on [`IngressProxy::metrics_addr`].
pub struct IngressProxy {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    metrics_addr: SocketAddr,
    handler: Arc<Handler<Arc<SharedEndpoints>>>,
    client: kube::Client,
    presence: Option<Presence>,
    shutdown: watch::Sender<bool>,
    ready: watch::Receiver<bool>,
    servers: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Debug for IngressProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressProxy")
            .field("addr", &self.addr)
            .field("tls_addr", &self.tls_addr)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl IngressProxy {
    /// Binds the listeners, starts watching the cluster and serving, and registers the
    /// controller pods (when asked; a failure there is retried in the background). Requests
    /// that arrive before the first sync get 404; await [`IngressProxy::ready`] first.
    pub async fn start(
        client: kube::Client,
        opts: IngressOptions,
    ) -> Result<IngressProxy, IngressError> {
        let listener = bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let tls_listener = match opts.tls_listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let tls_addr = match &tls_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let metrics_listener = bind(opts.metrics_listen).await?;
        let metrics_addr = metrics_listener.local_addr()?;

        let mut controller = opts.controller.clone();
        let presence = opts.controller_node.as_ref().map(|node| Presence {
            node: node.clone(),
            http_port: addr.port(),
            https_port: tls_addr.map(|a| a.port()),
            metrics: metrics_addr,
        });
        if let Some(p) = &presence {
            controller.pod = p.pods()[0].1.clone();
        }
        let metrics = Arc::new(Metrics::new(controller));
        let endpoints = Arc::new(SharedEndpoints::default());
        let certificates = Arc::new(Certificates::new().map_err(|e| {
            IngressError::Io(std::io::Error::other(format!(
                "cannot make the default certificate: {e}"
            )))
        })?);
        let config = HandlerConfig {
            connect_timeout: opts.connect_timeout,
            read_timeout: opts.read_timeout,
            listen_port: addr.port(),
            https_port: tls_addr.map(|a| a.port()),
            ..HandlerConfig::default()
        };
        let handler = Arc::new(
            Handler::new(
                RoutingTable::default(),
                endpoints.clone(),
                metrics.clone(),
                config,
            )
            .with_certificates(certificates.clone()),
        );
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = watch::channel(false);
        let sync = Arc::new(SyncState::default());

        let (ingress_store, ingress_writer) = reflector::store::<Ingress>();
        let (service_store, service_writer) = reflector::store::<Service>();
        let (secret_store, secret_writer) = reflector::store::<Secret>();
        // EndpointSlices are discovery.k8s.io/v1 since Kubernetes 1.21; older API servers
        // (1.20) serve v1beta1, whose fields the proxy reads are the same.
        let slice_resource = kube_util::endpoints::endpoint_slice_resource(&client).await;
        let slice_writer = Writer::<DynamicObject>::new(slice_resource.clone());
        let slice_store = slice_writer.as_reader();
        let route_resource = http_route_resource();
        let route_writer = Writer::<DynamicObject>::new(route_resource.clone());
        let route_store = route_writer.as_reader();

        let mut tasks = Vec::new();
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<Ingress>::all(client.clone()),
                ingress_writer,
                false,
                "Ingress",
                move |synced| {
                    if synced {
                        sync2.ingresses.store(true, Ordering::Release);
                    }
                    sync2.routes_changed.notify_one();
                    sync2.certificates_changed.notify_one();
                    sync2.status_changed.notify_one();
                },
            )));
        }
        {
            // The TLS Secrets the Ingresses name; certificates reload when they change. A
            // client that may not read Secrets serves the default certificate only.
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<Secret>::all(client.clone()),
                secret_writer,
                true,
                "Secret",
                move |synced| {
                    if synced {
                        sync2.secrets.store(true, Ordering::Release);
                    }
                    sync2.certificates_changed.notify_one();
                },
            )));
        }
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<DynamicObject>::all_with(client.clone(), &route_resource),
                route_writer,
                true,
                "HTTPRoute",
                move |synced| {
                    if synced {
                        sync2.routes.store(true, Ordering::Release);
                    }
                    sync2.routes_changed.notify_one();
                },
            )));
        }
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<Service>::all(client.clone()),
                service_writer,
                false,
                "Service",
                move |synced| {
                    if synced {
                        sync2.services.store(true, Ordering::Release);
                    }
                    sync2.endpoints_changed.notify_one();
                },
            )));
        }
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<DynamicObject>::all_with(client.clone(), &slice_resource),
                slice_writer,
                false,
                "EndpointSlice",
                move |synced| {
                    if synced {
                        sync2.slices.store(true, Ordering::Release);
                    }
                    sync2.endpoints_changed.notify_one();
                },
            )));
        }
        tasks.push(tokio::spawn(rebuild_loop(
            handler.clone(),
            endpoints,
            certificates,
            Stores {
                ingresses: ingress_store.clone(),
                routes: route_store,
                services: service_store,
                slices: slice_store,
                secrets: secret_store,
            },
            sync.clone(),
            opts.ingress_class.clone(),
            ready_tx,
            shutdown_rx.clone(),
        )));
        if !opts.publish_address.is_empty() {
            let mut ports = vec![addr.port()];
            ports.extend(tls_addr.map(|a| a.port()));
            tasks.push(tokio::spawn(status_loop(
                client.clone(),
                ingress_store,
                sync,
                opts.ingress_class.clone(),
                Published {
                    address: opts.publish_address.clone(),
                    ports,
                },
                shutdown_rx.clone(),
            )));
        }

        let mut servers = vec![
            tokio::spawn(serve(handler.clone(), listener, shutdown_rx.clone())),
            tokio::spawn(serve_metrics(
                metrics,
                metrics_listener,
                shutdown_rx.clone(),
            )),
        ];
        if let (Some(l), Some(certs)) = (tls_listener, handler.certificates()) {
            servers.push(tokio::spawn(serve_tls(
                handler.clone(),
                l,
                Certificates::server_config(certs.clone()),
                shutdown_rx.clone(),
            )));
        }
        if let Some(p) = &presence {
            // Registered before start returns when the API server lets it at once, so that
            // whoever started the proxy finds the pods; otherwise the loop keeps trying.
            match tokio::time::timeout(Duration::from_secs(10), p.ensure(&client)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::info!(error = %e, "ingress: cannot register its controller pods yet; retrying")
                }
                Err(_) => {
                    tracing::info!("ingress: registering its controller pods is slow; retrying")
                }
            }
            tasks.push(tokio::spawn(presence_loop(
                client.clone(),
                p.clone(),
                shutdown_rx,
            )));
        }
        Ok(IngressProxy {
            addr,
            tls_addr,
            metrics_addr,
            handler,
            client,
            presence,
            shutdown: shutdown_tx,
            ready: ready_rx,
            servers,
            tasks,
        })
    }

    /// The proxy's address (plain HTTP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTPS listener's address, when it has one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The certificates served over HTTPS, by host.
    pub fn certificates(&self) -> Option<Arc<CertTable>> {
        self.handler.certificates().map(|c| c.table())
    }

    /// The controller pods, (namespace, name), when the proxy shows itself.
    pub fn controller_pods(&self) -> Vec<(String, String)> {
        self.presence
            .iter()
            .flat_map(|p| p.pods())
            .map(|(ns, name)| (ns.to_string(), name))
            .collect()
    }

    /// The metrics listener's address (`GET /metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Resolves once Ingresses, HTTPRoutes (or their absence), Services and EndpointSlices
    /// have all been listed and the routing table and endpoints built from them.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Counters per Ingress / Service / canary, by status class.
    pub fn stats(&self) -> ProxyStats {
        self.handler.metrics().stats()
    }

    /// The metrics exposition (what `/metrics` serves).
    pub fn metrics_text(&self) -> String {
        self.handler.metrics().render()
    }

    /// The routing table in use (its `warnings()` explain what is not served).
    pub fn routing_table(&self) -> Arc<RoutingTable> {
        self.handler.table()
    }

    /// The endpoint index in use.
    pub fn endpoints(&self) -> Arc<EndpointIndex> {
        self.handler.resolver().get()
    }

    /// Stops serving (connections get a second to finish) and watching, and removes the
    /// controller pods and their Node.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(p) = self.presence.take() {
            // Stopped first, so that the registration loop does not put them back.
            for task in std::mem::take(&mut self.tasks) {
                task.abort();
                let _ = task.await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), p.remove(&self.client)).await;
        }
        for server in std::mem::take(&mut self.servers) {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for IngressProxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.iter().chain(self.servers.iter()) {
            task.abort();
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, IngressError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| IngressError::Bind { addr, source })
}

/// Runs a watcher into `writer` until aborted. `changed(synced)` is called after each change;
/// `synced` is true once a full list has been applied. With `missing_ok`, a 404 / 403 (the CRD
/// is not installed, or we may not read it) counts as a synced empty list.
async fn watch_kind<K>(
    api: Api<K>,
    mut writer: Writer<K>,
    missing_ok: bool,
    kind: &'static str,
    changed: impl Fn(bool) + Send + 'static,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut missing = false;
    let mut synced = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                writer.apply_watcher_event(&event);
                match event {
                    watcher::Event::InitDone => {
                        synced = true;
                        if missing {
                            tracing::info!(kind, "ingress: now watching {kind}");
                            missing = false;
                        }
                        changed(true);
                    }
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) => changed(synced),
                    watcher::Event::Init | watcher::Event::InitApply(_) => {}
                }
            }
            Err(e) if missing_ok && is_missing(&e) => {
                if !missing || !synced {
                    tracing::info!(kind, error = %e, "ingress: {kind} not served by the API server; none used");
                    writer.apply_watcher_event(&watcher::Event::Init);
                    writer.apply_watcher_event(&watcher::Event::InitDone);
                    missing = true;
                    synced = true;
                    changed(true);
                }
            }
            Err(e) => tracing::warn!(kind, error = %e, "ingress: watch failed; retrying"),
        }
    }
}

fn is_missing(e: &watcher::Error) -> bool {
    let code = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code,
        watcher::Error::WatchError(s) => s.code,
        _ => return false,
    };
    matches!(code, 403 | 404)
}

struct Stores {
    ingresses: Store<Ingress>,
    routes: Store<DynamicObject>,
    services: Store<Service>,
    /// EndpointSlices (v1 or v1beta1), read as v1.
    slices: Store<DynamicObject>,
    secrets: Store<Secret>,
}

fn build_table(stores: &Stores, ingress_class: &str) -> RoutingTable {
    let ingresses: Vec<Ingress> = stores
        .ingresses
        .state()
        .iter()
        .map(|i| (**i).clone())
        .collect();
    let routes: Vec<serde_json::Value> = stores
        .routes
        .state()
        .iter()
        .filter_map(|r| serde_json::to_value(&**r).ok())
        .collect();
    let table = RoutingTable::build(&ingresses, &routes, ingress_class);
    for w in table.warnings() {
        tracing::debug!(warning = %w, "ingress: routing");
    }
    table
}

fn build_certificates(stores: &Stores, ingress_class: &str) -> CertTable {
    let ingresses: Vec<Ingress> = stores
        .ingresses
        .state()
        .iter()
        .map(|i| (**i).clone())
        .collect();
    let secrets = &stores.secrets;
    let table = CertTable::build(&ingresses, ingress_class, &|namespace, name| {
        secrets
            .get(&kube::runtime::reflector::ObjectRef::new(name).within(namespace))
            .map(|s| (*s).clone())
    });
    for w in table.warnings() {
        tracing::debug!(warning = %w, "ingress: TLS");
    }
    table
}

fn build_endpoints(stores: &Stores) -> EndpointIndex {
    let services = stores.services.state();
    let slices: Vec<EndpointSlice> = stores
        .slices
        .state()
        .iter()
        .filter_map(|o| kube_util::endpoints::slice_as_v1(o))
        .collect();
    EndpointIndex::build(services.iter().map(|s| &**s), slices.iter())
}

#[allow(clippy::too_many_arguments)]
async fn rebuild_loop(
    handler: Arc<Handler<Arc<SharedEndpoints>>>,
    endpoints: Arc<SharedEndpoints>,
    certificates: Arc<Certificates>,
    stores: Stores,
    sync: Arc<SyncState>,
    ingress_class: String,
    ready: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = sync.routes_changed.notified() => {
                handler.set_table(build_table(&stores, &ingress_class));
            }
            _ = sync.endpoints_changed.notified() => {
                endpoints.set(build_endpoints(&stores));
            }
            _ = sync.certificates_changed.notified() => {
                certificates.set(build_certificates(&stores, &ingress_class));
            }
            _ = stopped(&mut shutdown) => return,
        }
        if !*ready.borrow() && sync.all_synced() {
            handler.set_table(build_table(&stores, &ingress_class));
            endpoints.set(build_endpoints(&stores));
            certificates.set(build_certificates(&stores, &ingress_class));
            let _ = ready.send(true);
        }
    }
}

/// Whether the proxy serves `ing`: the routing table's own rule.
pub fn serves_ingress(ing: &Ingress, ingress_class: &str) -> bool {
    crate::ingress::routing::serves_class(ing, ingress_class)
}

/// Where the proxy is reached: the address written to served Ingresses' status, and its
/// ports (HTTP first, then HTTPS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// An IP address (`ip`) or a DNS name (`hostname`).
    pub address: String,
    pub ports: Vec<u16>,
}

/// The status merge patch for `ing`, or `None` when its status already says exactly where
/// the proxy is (`published`'s address and ports, as its only entry).
pub fn status_patch(ing: &Ingress, published: &Published) -> Option<serde_json::Value> {
    let is_ip = published.address.parse::<IpAddr>().is_ok();
    let current = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let present = current.is_some_and(|list| {
        list.len() == 1
            && list.iter().all(|e| {
                let address = if is_ip { &e.ip } else { &e.hostname };
                let ports: Vec<(i32, &str)> = e
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| (p.port, p.protocol.as_str()))
                    .collect();
                address.as_deref() == Some(published.address.as_str())
                    && ports
                        == published
                            .ports
                            .iter()
                            .map(|p| (i32::from(*p), "TCP"))
                            .collect::<Vec<_>>()
            })
    });
    if present {
        return None;
    }
    let ports: Vec<serde_json::Value> = published
        .ports
        .iter()
        .map(|p| serde_json::json!({ "port": p, "protocol": "TCP" }))
        .collect();
    let entry = if is_ip {
        serde_json::json!({ "ip": published.address, "ports": ports })
    } else {
        serde_json::json!({ "hostname": published.address, "ports": ports })
    };
    Some(serde_json::json!({ "status": { "loadBalancer": { "ingress": [entry] } } }))
}

async fn status_loop(
    client: kube::Client,
    ingresses: Store<Ingress>,
    sync: Arc<SyncState>,
    ingress_class: String,
    publish: Published,
    mut shutdown: watch::Receiver<bool>,
) {
    // Another controller writing its own address must not make us patch in a loop.
    let mut last_patch: HashMap<String, Instant> = HashMap::new();
    let mut retry = tokio::time::interval(Duration::from_secs(15));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sync.status_changed.notified() => {}
            _ = retry.tick() => {}
            _ = stopped(&mut shutdown) => return,
        }
        if !sync.ingresses.load(Ordering::Acquire) {
            continue;
        }
        last_patch.retain(|_, t| t.elapsed() < Duration::from_secs(30));
        for ing in ingresses.state() {
            if !serves_ingress(&ing, &ingress_class) {
                continue;
            }
            let Some(patch) = status_patch(&ing, &publish) else {
                continue;
            };
            let key = ing.uid().unwrap_or_else(|| {
                format!("{}/{}", ing.namespace().unwrap_or_default(), ing.name_any())
            });
            if last_patch.contains_key(&key) {
                continue;
            }
            let Some(ns) = ing.namespace() else {
                continue;
            };
            let api = Api::<Ingress>::namespaced(client.clone(), &ns);
            match api
                .patch_status(
                    &ing.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {
                    last_patch.insert(key, Instant::now());
                }
                Err(e) => {
                    tracing::debug!(ingress = %ing.name_any(), namespace = %ns, error = %e, "ingress: status update failed");
                }
            }
        }
    }
}

/// Keeps the controller pods and their Node there and Ready.
async fn presence_loop(
    client: kube::Client,
    presence: Presence,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = beat.tick() => {}
            _ = stopped(&mut shutdown) => return,
        }
        if let Err(e) = presence.ensure(&client).await {
            tracing::debug!(error = %e, "ingress: cannot register its controller pods; retrying");
        }
    }
}
