//! Outbound HTTP for contracts: the address policy, timeouts and size caps.
//!
//! Every `wasi:http/outgoing-handler` request of a contract goes through [`HttpHooks`]. In a
//! command it is refused (`HTTP-request-denied`). In a query or job the host resolves the
//! name itself, keeps only addresses the [`HttpPolicy`] allows, connects to one of those
//! (so a name cannot resolve one way for the check and another for the connection), and
//! caps time, response size and requests in flight. Redirects are not followed by the host:
//! each hop is a new request that goes through the same checks.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::config::{HttpLimits, HttpPolicy};

/// A future of the [`HttpNetwork`].
pub type NetworkFuture<T> = Pin<Box<dyn Future<Output = std::io::Result<T>> + Send>>;

/// Where contracts' outbound requests look names up and open connections, once the
/// [`HttpPolicy`] has kept the addresses it allows: the operating system ([`SystemNetwork`])
/// unless a test puts a network of its own in front, with no route off the machine.
pub trait HttpNetwork: Send + Sync + 'static {
    /// The addresses of the name `host` (IP literals are never looked up).
    fn resolve(&self, host: &str, port: u16) -> NetworkFuture<Vec<SocketAddr>>;
    /// A connection to the first of `addresses` that answers.
    fn connect(&self, addresses: Vec<SocketAddr>) -> NetworkFuture<TcpStream>;
}

/// The operating system's resolver and TCP.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemNetwork;

impl HttpNetwork for SystemNetwork {
    fn resolve(&self, host: &str, port: u16) -> NetworkFuture<Vec<SocketAddr>> {
        let host = host.to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }

    fn connect(&self, addresses: Vec<SocketAddr>) -> NetworkFuture<TcpStream> {
        Box::pin(async move { TcpStream::connect(&addresses[..]).await })
    }
}

impl HttpPolicy {
    /// Whether a contract may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_non_public || is_public(ip)
    }
}

/// Whether an address is on the public Internet: not loopback, private, link-local (which
/// holds the cloud metadata address 169.254.169.254), shared, reserved, multicast,
/// documentation or unspecified. IPv4-mapped and NAT64 IPv6 addresses are judged by the
/// IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64) // shared address space 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || a >= 240) // reserved
}

/// The outbound HTTP hooks of one call.
pub(crate) struct HttpHooks {
    allowed: bool,
    policy: HttpPolicy,
    limits: HttpLimits,
    in_flight: Arc<Semaphore>,
    tls: Arc<rustls::ClientConfig>,
    network: Arc<dyn HttpNetwork>,
}

impl HttpHooks {
    /// Hooks for a call; `allowed` is false in commands, which may not use the network.
    pub(crate) fn new(
        allowed: bool,
        policy: HttpPolicy,
        limits: HttpLimits,
        tls: Arc<rustls::ClientConfig>,
        network: Arc<dyn HttpNetwork>,
    ) -> Self {
        let in_flight = Arc::new(Semaphore::new(limits.max_concurrent));
        Self {
            allowed,
            policy,
            limits,
            in_flight,
            tls,
            network,
        }
    }
}

/// The TLS settings contracts' requests use: the Mozilla roots, ring as the provider.
pub(crate) fn tls_config() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        if !self.allowed {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            return Box::new(async { Err(HttpError::ConnectionLimitReached) });
        };
        let policy = self.policy.clone();
        let limits = effective_limits(&self.limits, options);
        let tls = self.tls.clone();
        let network = self.network.clone();
        Box::new(async move {
            let (response, permit) =
                send(request, &policy, &limits, tls, &*network, permit).await?;
            // A request is in flight until its response body is dropped: its slot goes
            // with the body.
            let response = response.map(|body| {
                body.map_frame(move |frame| {
                    let _slot = &permit;
                    frame
                })
                .boxed_unsync()
            });
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// The guest may ask for shorter timeouts, never longer ones.
fn effective_limits(limits: &HttpLimits, options: Option<RequestOptions>) -> HttpLimits {
    let mut out = limits.clone();
    if let Some(options) = options {
        let min = |ours: Duration, theirs: Option<Duration>| theirs.map_or(ours, |t| t.min(ours));
        out.connect_timeout = min(out.connect_timeout, options.connect_timeout);
        out.first_byte_timeout = min(out.first_byte_timeout, options.first_byte_timeout);
    }
    out
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

async fn send(
    mut request: http::Request<WasiBody>,
    policy: &HttpPolicy,
    limits: &HttpLimits,
    tls: Arc<rustls::ClientConfig>,
    network: &dyn HttpNetwork,
    permit: OwnedSemaphorePermit,
) -> Result<(http::Response<WasiBody>, OwnedSemaphorePermit), HttpError> {
    let uri = request.uri().clone();
    let use_tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if use_tls { 443 } else { 80 });

    let addresses = resolve(network, &host, port, limits.connect_timeout).await?;
    let allowed: Vec<SocketAddr> = addresses
        .iter()
        .copied()
        .filter(|a| policy.allows(a.ip()))
        .collect();
    if allowed.is_empty() {
        tracing::debug!(%host, ?addresses, "outbound request refused by the address policy");
        return Err(HttpError::DestinationIpProhibited);
    }

    let tcp = tokio::time::timeout(limits.connect_timeout, network.connect(allowed))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(|_| HttpError::ConnectionRefused)?;
    let stream: Box<dyn Io> = if use_tls {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let connector = tokio_rustls::TlsConnector::from(tls);
        let stream = tokio::time::timeout(limits.connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(|_| HttpError::TlsProtocolError)?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(HttpError::Hyper)?;
    // The connection task ends when both the response body and the sender are dropped.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("outbound connection ended: {e}");
        }
    });

    // Send the origin form: the scheme and authority travel in the Host header.
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let response = tokio::time::timeout(limits.first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)?
        .map_err(HttpError::Hyper)?;

    let max = limits.max_response_bytes;
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(HttpError::HttpResponseBodySize(declared));
    }
    let response = response.map(|body| {
        Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX))
            .map_err(move |e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    HttpError::HttpResponseBodySize(Some(max))
                } else {
                    HttpError::HttpProtocolError
                }
            })
            .map_frame(|frame| frame.map_data(Bytes::from))
            .boxed_unsync()
    });
    Ok((response, permit))
}

async fn resolve(
    network: &dyn HttpNetwork,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, HttpError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found = tokio::time::timeout(timeout, network.resolve(host, port))
        .await
        .map_err(|_| HttpError::DnsTimeout)?
        .map_err(|e| HttpError::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        })?;
    if found.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_non_public_addresses() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(
                !is_public(private.parse().unwrap()),
                "{private} is not public"
            );
        }
    }

    #[test]
    fn policy_allows_local_only_when_told() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!HttpPolicy::default().allows(loopback));
        assert!(HttpPolicy::allow_local().allows(loopback));
    }

    #[test]
    fn guest_options_only_shorten_timeouts() {
        let ours = HttpLimits::default();
        let options = RequestOptions {
            connect_timeout: Some(Duration::from_secs(3600)),
            first_byte_timeout: Some(Duration::from_millis(10)),
            between_bytes_timeout: None,
        };
        let out = effective_limits(&ours, Some(options));
        assert_eq!(out.connect_timeout, ours.connect_timeout);
        assert_eq!(out.first_byte_timeout, Duration::from_millis(10));
    }
}
