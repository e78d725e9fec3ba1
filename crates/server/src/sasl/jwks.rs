//! The keys OAUTHBEARER tokens are checked against: a JWKS (RFC 7517) given as JSON, read
//! from a file, or fetched from the identity provider's `https://` endpoint
//! (`sasl.oauthbearer.jwks.endpoint.url`) and kept fresh as Kafka's `RefreshingHttpsJwks`
//! keeps it:
//!
//! - fetched once when the broker starts; a broker that cannot fetch it (within
//!   `sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms` of retries) does not start;
//! - fetched again every `sasl.oauthbearer.jwks.endpoint.refresh.ms` (one hour), on a thread
//!   of its own, so that no token check waits on the network;
//! - fetched again at once when a token names a key id the JWKS lacks (the provider rotated
//!   its keys): that token is refused, and the next one with that key id finds the key. A
//!   key id triggers this at most once a minute (16 key ids remembered, ids over 1,000
//!   characters never), so made-up key ids cannot turn tokens into requests to the provider;
//! - a failed refresh keeps the keys it has (and is logged).
//!
//! The endpoint's certificate is checked against the trust store the OAUTHBEARER JAAS
//! config's options name (`ssl.truststore.location`, `.type`, `.password`, as Kafka reads
//! them) or else the system's CA certificates, and must name the URL's host. Plain
//! `http://` is refused: whoever can change the keys in transit can sign any principal's
//! token.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use parking_lot::{Mutex, RwLock};

/// The largest JWKS accepted from an endpoint (an identity provider's is a few KB).
pub const MAX_JWKS_BYTES: usize = 1 << 20;

/// How long one fetch may take, connection and TLS handshake included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A missing key id triggers a refresh at most this often (Kafka's
/// `MISSING_KEY_ID_CACHE_IN_FLIGHT_MS`).
const MISSING_KEY_ID_INTERVAL: Duration = Duration::from_secs(60);

/// Missing key ids remembered (Kafka's `MISSING_KEY_ID_CACHE_MAX_ENTRIES`).
const MISSING_KEY_IDS: usize = 16;

/// Longer key ids never trigger a refresh (Kafka's `MISSING_KEY_ID_MAX_KEY_LENGTH`).
const MAX_KEY_ID_LEN: usize = 1000;

/// How an `https://` JWKS is fetched and refreshed.
#[derive(Clone)]
pub struct HttpsOptions {
    /// The CA certificates the endpoint's certificate must chain to.
    pub roots: Arc<rustls::RootCertStore>,
    /// `sasl.oauthbearer.jwks.endpoint.refresh.ms` (Kafka's default: 3,600,000).
    pub refresh: Duration,
    /// `sasl.oauthbearer.jwks.endpoint.retry.backoff.ms` (100): the wait after a first
    /// failed fetch, doubled after each further one.
    pub retry_backoff: Duration,
    /// `sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms` (10,000): how long a fetch is
    /// retried in all before it is given up (until the next refresh).
    pub retry_backoff_max: Duration,
}

impl fmt::Debug for HttpsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsOptions")
            .field("roots", &self.roots.len())
            .field("refresh", &self.refresh)
            .field("retry_backoff", &self.retry_backoff)
            .field("retry_backoff_max", &self.retry_backoff_max)
            .finish()
    }
}

impl HttpsOptions {
    /// Kafka's defaults, trusting `roots`.
    pub fn new(roots: rustls::RootCertStore) -> Self {
        Self {
            roots: Arc::new(roots),
            refresh: Duration::from_millis(3_600_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(10_000),
        }
    }
}

/// The system's CA certificates (those `SSL_CERT_FILE` / `SSL_CERT_DIR` name, else the
/// platform's store); the reason when there are none.
pub fn system_roots() -> Result<rustls::RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
        return Err(format!(
            "no CA certificate found on this system ({}); give the OAUTHBEARER JAAS config an ssl.truststore.location",
            errors.join("; ")
        ));
    }
    Ok(roots)
}

/// Where the keys come from.
enum Origin {
    /// Given once (tests, and configs that embed the keys).
    Fixed,
    /// A file, read again when a token names a key id it lacked.
    File(PathBuf),
    /// An endpoint, refreshed by a thread of its own; `wake` asks it for a refresh now.
    Https {
        wake: Mutex<mpsc::Sender<()>>,
        missing: Mutex<VecDeque<(String, Instant)>>,
    },
}

/// An endpoint source, by its URL and options, for listeners to share.
type Shared = ((String, String), Weak<KeySource>);

/// A JWKS and where it is kept fresh from. Shared by the listeners that use it.
pub struct KeySource {
    /// The URL (or a name, for fixed keys), for logs and comparisons.
    location: String,
    keys: RwLock<Arc<JwkSet>>,
    origin: Origin,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySource")
            .field("location", &self.location)
            .field("keys", &self.keys.read().keys.len())
            .finish()
    }
}

/// Two sources are the same when they read the same place.
impl PartialEq for KeySource {
    fn eq(&self, other: &Self) -> bool {
        self.location == other.location
            && (!matches!(self.origin, Origin::Fixed)
                || *self.keys.read().as_ref() == *other.keys.read().as_ref())
    }
}

impl Eq for KeySource {}

/// A JWKS with at least one key, or the reason it is not.
pub fn parse_jwks(json: &[u8]) -> Result<JwkSet, String> {
    let set: JwkSet = serde_json::from_slice(json).map_err(|e| format!("not a JWKS: {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWKS has no key".to_string());
    }
    Ok(set)
}

impl KeySource {
    /// The keys of `json`, never refreshed.
    pub fn fixed(json: &str) -> Result<Arc<Self>, String> {
        Ok(Arc::new(Self {
            location: "<given>".to_string(),
            keys: RwLock::new(Arc::new(parse_jwks(json.as_bytes())?)),
            origin: Origin::Fixed,
        }))
    }

    /// The keys of the file at `path`, read now and again whenever a token names a key id
    /// they lack.
    pub fn file(path: impl Into<PathBuf>) -> Result<Arc<Self>, String> {
        let path = path.into();
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let set = parse_jwks(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Arc::new(Self {
            location: format!("file://{}", path.display()),
            keys: RwLock::new(Arc::new(set)),
            origin: Origin::File(path),
        }))
    }

    /// The keys at `url` (`https://` only), fetched now (retried as the options say) and
    /// then kept fresh by a thread that ends when the source is dropped. Sources of the
    /// same URL and options are shared: each listener of a broker asks for its own, and
    /// the endpoint is fetched for one.
    pub fn https(url: &str, options: HttpsOptions) -> Result<Arc<Self>, String> {
        let endpoint = Endpoint::parse(url)?;
        let key = (url.to_string(), options_key(&options));
        static SHARED: Mutex<Vec<Shared>> = Mutex::new(Vec::new());
        let mut shared = SHARED.lock();
        shared.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(source) = shared
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, weak)| weak.upgrade())
        {
            return Ok(source);
        }
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(options.roots.clone())
            .with_no_client_auth(),
        );
        let fetcher = Fetcher {
            endpoint,
            tls,
            options: options.clone(),
        };
        // On a thread of its own: the caller may be a task of the broker's runtime, and
        // the fetch runs a runtime of its own.
        let first = std::thread::scope(|scope| {
            scope
                .spawn(|| fetcher.fetch_with_retries())
                .join()
                .unwrap_or_else(|_| Err("the JWKS fetch panicked".to_string()))
        })?;
        let (wake, woken) = mpsc::channel();
        let source = Arc::new(Self {
            location: url.to_string(),
            keys: RwLock::new(Arc::new(first)),
            origin: Origin::Https {
                wake: Mutex::new(wake),
                missing: Mutex::new(VecDeque::new()),
            },
        });
        let weak = Arc::downgrade(&source);
        std::thread::Builder::new()
            .name("myelin-jwks".to_string())
            .spawn(move || fetcher.refresh_until_dropped(weak, woken))
            .map_err(|e| format!("cannot start the JWKS refresh thread: {e}"))?;
        tracing::info!(
            url,
            keys = source.keys.read().keys.len(),
            refresh_ms = options.refresh.as_millis() as u64,
            "OAUTHBEARER JWKS fetched; refreshed by a thread of its own"
        );
        shared.push((key, Arc::downgrade(&source)));
        Ok(source)
    }

    /// Where the keys come from.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The key a token's header names (`kid`), or the only key when it names none. A key
    /// id the keys lack makes a file source read its file again, and an endpoint source
    /// ask for a refresh (the token in hand is then refused, as Kafka refuses it).
    pub fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        let pick = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let current = self.keys.read().clone();
        if let Some(jwk) = pick(&current) {
            return Some(jwk);
        }
        match &self.origin {
            Origin::Fixed => None,
            Origin::File(path) => {
                let fresh = std::fs::read(path).ok().and_then(|b| parse_jwks(&b).ok())?;
                let jwk = pick(&fresh);
                *self.keys.write() = Arc::new(fresh);
                jwk
            }
            Origin::Https { wake, missing } => {
                if let Some(kid) = kid {
                    if expedite(&mut missing.lock(), kid, Instant::now()) {
                        tracing::info!(
                            url = %self.location,
                            kid,
                            "a token names a key id the JWKS lacks: refreshing it now"
                        );
                        let _ = wake.lock().send(());
                    }
                }
                None
            }
        }
    }

    /// The keys held now.
    pub fn keys(&self) -> Arc<JwkSet> {
        self.keys.read().clone()
    }
}

/// Whether a token naming the missing key id `kid` should trigger a refresh now; records
/// it if so. At most once per [`MISSING_KEY_ID_INTERVAL`] per key id, the
/// [`MISSING_KEY_IDS`] latest remembered.
fn expedite(missing: &mut VecDeque<(String, Instant)>, kid: &str, now: Instant) -> bool {
    if kid.len() > MAX_KEY_ID_LEN {
        return false;
    }
    if let Some(i) = missing.iter().position(|(k, _)| k == kid) {
        if now < missing[i].1 {
            return false;
        }
        missing.remove(i);
    }
    if missing.len() == MISSING_KEY_IDS {
        missing.pop_front();
    }
    missing.push_back((kid.to_string(), now + MISSING_KEY_ID_INTERVAL));
    true
}

/// What makes two endpoint sources the same besides their URL.
fn options_key(options: &HttpsOptions) -> String {
    let mut roots: Vec<&[u8]> = options
        .roots
        .roots
        .iter()
        .map(|anchor| anchor.subject.as_ref())
        .collect();
    roots.sort();
    format!(
        "{:?} {:?} {:?} {:?}",
        roots, options.refresh, options.retry_backoff, options.retry_backoff_max
    )
}

/// The waits between the attempts of one fetch: Kafka's `Retry`, the first wait `backoff`,
/// each next one twice as long, all of them within `max` of the first attempt. `elapsed`
/// is the time since the first attempt; `None`: give up.
fn next_wait(
    backoff: Duration,
    attempt: u32,
    elapsed: Duration,
    max: Duration,
) -> Option<Duration> {
    let left = max.checked_sub(elapsed).filter(|d| !d.is_zero())?;
    let wait = backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    Some(wait.min(left))
}

/// An `https://` URL, taken apart for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    /// The `Host` header: the URL's authority without user info.
    authority: String,
    path_and_query: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => {}
            Some(s) if s.eq_ignore_ascii_case("http") => {
                return Err(format!(
                    "{url:?}: Myelin fetches the JWKS over https only (over plain http, whoever can change it in transit can sign tokens for any principal)"
                ))
            }
            _ => return Err(format!("{url:?}: give an https:// or file:// URL")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} names no host"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_string();
        let port = authority.port_u16().unwrap_or(443);
        let authority = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, a)| a)
            .to_string();
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        Ok(Self {
            host,
            port,
            authority,
            path_and_query,
        })
    }
}

/// Checks an endpoint URL without fetching it (a config checked on its own).
pub fn check_url(url: &str) -> Result<(), String> {
    Endpoint::parse(url).map(drop)
}

/// Fetches one endpoint's JWKS.
struct Fetcher {
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    options: HttpsOptions,
}

impl Fetcher {
    /// One fetch, retried as the options say; on a runtime of its own (callers are threads,
    /// not tasks).
    fn fetch_with_retries(&self) -> Result<JwkSet, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the JWKS fetch: {e}"))?;
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match runtime
                .block_on(async { tokio::time::timeout(FETCH_TIMEOUT, self.fetch()).await })
            {
                Ok(Ok(set)) => return Ok(set),
                Ok(Err(e)) => e,
                Err(_) => format!("no answer within {FETCH_TIMEOUT:?}"),
            };
            let url = format!(
                "https://{}{}",
                self.endpoint.authority, self.endpoint.path_and_query
            );
            let Some(wait) = next_wait(
                self.options.retry_backoff,
                attempt,
                start.elapsed(),
                self.options.retry_backoff_max,
            ) else {
                return Err(format!(
                    "cannot fetch the JWKS at {url} ({attempt} attempts): {error}"
                ));
            };
            tracing::warn!(%url, attempt, error, "JWKS fetch failed; retrying in {wait:?}");
            std::thread::sleep(wait);
        }
    }

    /// One GET of the JWKS.
    async fn fetch(&self) -> Result<JwkSet, String> {
        use http_body_util::BodyExt;
        let tcp = tokio::net::TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| {
                format!(
                    "cannot connect to {}:{}: {e}",
                    self.endpoint.host, self.endpoint.port
                )
            })?;
        let name = rustls_pki_types::ServerName::try_from(self.endpoint.host.clone())
            .map_err(|e| format!("{:?} is not a host name: {e}", self.endpoint.host))?;
        let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", self.endpoint.authority))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP with {}: {e}", self.endpoint.authority))?;
        let connection = tokio::spawn(connection);
        let request = http::Request::get(self.endpoint.path_and_query.as_str())
            .header(http::header::HOST, self.endpoint.authority.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "myelin")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP with {}: {e}", self.endpoint.authority))?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        drop(sender);
        connection.abort();
        if status != http::StatusCode::OK {
            return Err(format!("the endpoint answered {status}"));
        }
        parse_jwks(&body)
    }

    /// The refresh loop: every `refresh`, and whenever woken, until the source is dropped
    /// (its sender with it).
    fn refresh_until_dropped(self, source: Weak<KeySource>, woken: mpsc::Receiver<()>) {
        let mut next = Instant::now() + self.options.refresh;
        loop {
            match woken.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(()) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    next = Instant::now() + self.options.refresh
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            // Wake-ups that came during the last fetch are answered by this one.
            while woken.try_recv().is_ok() {}
            let fetched = self.fetch_with_retries();
            let Some(source) = source.upgrade() else {
                return;
            };
            match fetched {
                Ok(set) => {
                    if let Origin::Https { missing, .. } = &source.origin {
                        missing.lock().retain(|(kid, _)| set.find(kid).is_none());
                    }
                    tracing::info!(url = %source.location, keys = set.keys.len(), "OAUTHBEARER JWKS refreshed");
                    *source.keys.write() = Arc::new(set);
                }
                Err(error) => tracing::warn!(
                    url = %source.location,
                    error,
                    "OAUTHBEARER JWKS refresh failed; the keys held are kept"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_with_a_host() {
        let e = Endpoint::parse("https://idp.example:8443/realms/x/certs?a=1").unwrap();
        assert_eq!(e.host, "idp.example");
        assert_eq!(e.port, 8443);
        assert_eq!(e.authority, "idp.example:8443");
        assert_eq!(e.path_and_query, "/realms/x/certs?a=1");
        let e = Endpoint::parse("https://[::1]/jwks").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 443));
        assert_eq!(e.authority, "[::1]");
        let e = Endpoint::parse("HTTPS://idp.example").unwrap();
        assert_eq!(e.path_and_query, "/");
        let http = Endpoint::parse("http://idp.example/jwks").unwrap_err();
        assert!(http.contains("https only"), "{http}");
        assert!(Endpoint::parse("ftp://idp.example/jwks").is_err());
        assert!(Endpoint::parse("/jwks").is_err());
        assert!(Endpoint::parse("not a url").is_err());
    }

    #[test]
    fn retries_double_within_the_budget() {
        let ms = Duration::from_millis;
        let max = ms(1000);
        assert_eq!(next_wait(ms(100), 1, ms(0), max), Some(ms(100)));
        assert_eq!(next_wait(ms(100), 2, ms(110), max), Some(ms(200)));
        assert_eq!(next_wait(ms(100), 3, ms(320), max), Some(ms(400)));
        // The last wait is cut to what is left of the budget, then no more.
        assert_eq!(next_wait(ms(100), 4, ms(730), max), Some(ms(270)));
        assert_eq!(next_wait(ms(100), 5, ms(1000), max), None);
        assert_eq!(next_wait(ms(100), 40, ms(10), max), Some(ms(990)));
        assert_eq!(next_wait(ms(100), 1, ms(0), ms(0)), None);
    }

    #[test]
    fn a_missing_key_id_refreshes_at_most_once_a_minute() {
        let mut missing = VecDeque::new();
        let t0 = Instant::now();
        assert!(expedite(&mut missing, "k2", t0));
        assert!(!expedite(&mut missing, "k2", t0 + Duration::from_secs(59)));
        assert!(expedite(&mut missing, "k2", t0 + Duration::from_secs(60)));
        assert!(expedite(&mut missing, "k3", t0));
        // Too long to remember: never a refresh.
        assert!(!expedite(&mut missing, &"x".repeat(1001), t0));
        // At most 16 remembered: the oldest is forgotten and may refresh again.
        let mut missing = VecDeque::new();
        for i in 0..17 {
            assert!(expedite(&mut missing, &format!("k{i}"), t0));
        }
        assert_eq!(missing.len(), MISSING_KEY_IDS);
        assert!(expedite(&mut missing, "k0", t0));
        assert!(!expedite(&mut missing, "k16", t0));
    }

    #[test]
    fn jwks_are_checked() {
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"\xff").is_err());
        let set = parse_jwks(
            br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
        )
        .unwrap();
        assert_eq!(set.keys.len(), 1);
    }
}
