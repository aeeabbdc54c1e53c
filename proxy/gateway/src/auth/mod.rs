//! Authentication of gateway requests: API keys and JWTs, and the route's `allow` list.
//!
//! [`authenticate`] is a pure function over the route, the gateway's [`GatewayAuth`] state (the
//! API-key table and each JWT provider's keys), the request's headers and the time; it returns
//! the verified [`Consumer`] or an [`AuthError`] that [`convoy_proxy_core::error::ProxyError`] turns
//! into a 401 (with `WWW-Authenticate`) or a 403.
//!
//! - **API keys**: the presented key's SHA-256 is compared in constant time with every
//!   consumer's `key_sha256` (only hashes are configured; `convoy-proxy hash-api-key` makes
//!   one).
//! - **JWTs** from `authorization: Bearer <token>`: HS256, RS256 and ES256 only. The key is
//!   chosen by the token's `kid` (or is the only key of the JWKS that fits the token's `alg`),
//!   and the token's `alg` must be the one algorithm of that key's type (RSA → RS256, EC P-256
//!   → ES256, `oct` → HS256): `alg: none` and algorithm confusion (an HMAC made with an RSA
//!   public key) are refused. `exp` (required), `nbf` (with the provider's clock skew), `iss`
//!   and `aud` are checked; the consumer is `sub` (required). JWKS files are re-read when they
//!   change ([`GatewayAuth::reload_changed`], [`GatewayAuth::spawn_reloader`]).
//!
//! A route's methods are tried in order and the first credential present decides: a present
//! but wrong credential is refused even if a later method would have accepted another one.
//! Tokens and keys are never logged, nor echoed in errors.

mod api_key;
mod jwt;
#[cfg(test)]
mod tests;

pub use api_key::{hash_api_key, hash_api_key_from};
pub use convoy_proxy_core::policy_error::gateway_auth::{AuthError, Reason};

use convoy_config::{AuthMethod, Gateway, GatewayRoute, RouteAuth};
use http::{header, HeaderMap, HeaderName, HeaderValue};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A client the gateway verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// The API key consumer's name, or the JWT's `sub`. Always a valid header value.
    pub name: String,
    /// How it was verified.
    pub credential: Credential,
}

/// The kind of credential a [`Consumer`] presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key.
    ApiKey,
    /// A JWT verified by this provider.
    Jwt {
        /// The provider's name.
        provider: String,
    },
}

impl Consumer {
    /// The value for the gateway's consumer header.
    pub fn header_value(&self) -> HeaderValue {
        // Names are checked to be header values when they are verified.
        HeaderValue::from_str(&self.name).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

/// How often JWKS files are checked for changes.
pub const JWKS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The authentication state of a gateway, with its JWKS files watched while it is in use.
pub fn start(gateway: &convoy_config::Gateway) -> Arc<GatewayAuth> {
    let auth = Arc::new(GatewayAuth::new(gateway));
    if tokio::runtime::Handle::try_current().is_ok() {
        // Ends once the state is dropped (a new configuration built a new one).
        drop(auth.spawn_reloader(JWKS_RELOAD_INTERVAL));
    }
    auth
}

/// The authentication state of one gateway: its API keys and JWT providers (with their keys).
///
/// Built from the [`Gateway`] model; JWKS files are read at once (a missing or broken one is
/// logged and its provider refuses tokens until a good one appears) and re-read by
/// [`GatewayAuth::reload_changed`].
pub struct GatewayAuth {
    realm: String,
    api_keys: api_key::ApiKeys,
    providers: HashMap<String, Arc<jwt::Provider>>,
}

impl fmt::Debug for GatewayAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayAuth")
            .field("realm", &self.realm)
            .field("api_keys", &self.api_keys.len())
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl GatewayAuth {
    /// The state for a gateway. JWKS paths are used as written (the config resolves relative
    /// ones against the YAML file's directory in file mode; else the working directory).
    pub fn new(gateway: &Gateway) -> Self {
        let providers = gateway
            .jwt_providers
            .iter()
            .map(|p| (p.name.clone(), Arc::new(jwt::Provider::new(p))))
            .collect();
        GatewayAuth {
            realm: gateway.name.to_string(),
            api_keys: api_key::ApiKeys::new(&gateway.api_keys),
            providers,
        }
    }

    /// Re-reads the JWKS files that changed (size or modification time) since they were last
    /// read. A file that cannot be read or parsed is logged once per change and the provider
    /// keeps its keys. Returns how many providers got new keys. Blocking (small file reads).
    pub fn reload_changed(&self) -> usize {
        self.providers
            .values()
            .filter(|p| p.reload_if_changed())
            .count()
    }

    /// Calls [`GatewayAuth::reload_changed`] every `every` on a blocking thread, until this
    /// state is dropped (a new snapshot builds a new one).
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // The first tick is immediate; the keys were just read.
            loop {
                tick.tick().await;
                let Some(auth) = weak.upgrade() else { return };
                let _ = tokio::task::spawn_blocking(move || auth.reload_changed()).await;
            }
        })
    }
}

/// Authenticates a request for a route: `Ok(None)` if the route has no `auth`, the verified
/// consumer, or why the request is refused (401 or 403).
pub fn authenticate(
    route: &GatewayRoute,
    auth: &GatewayAuth,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<Option<Consumer>, AuthError> {
    let Some(route_auth) = &route.auth else {
        return Ok(None);
    };
    let consumer = verify(route_auth, auth, headers, now)?;
    if let Some(allow) = &route_auth.allow {
        if !allow.contains(&consumer.name) {
            return Err(AuthError::Forbidden {
                consumer: consumer.name,
                route: route.name.clone(),
            });
        }
    }
    Ok(Some(consumer))
}

/// The first credential of the route's methods present in the request, verified.
fn verify(
    route_auth: &RouteAuth,
    auth: &GatewayAuth,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<Consumer, AuthError> {
    for method in &route_auth.methods {
        match method {
            AuthMethod::ApiKey { header } => {
                let Some(key) = single(headers, header, "API key")
                    .map_err(|reason| auth.api_key_error(header, reason))?
                else {
                    continue;
                };
                return auth
                    .api_keys
                    .find(key.as_bytes())
                    .map(|name| Consumer {
                        name: name.to_owned(),
                        credential: Credential::ApiKey,
                    })
                    .ok_or_else(|| auth.api_key_error(header, Reason::UnknownApiKey));
            }
            AuthMethod::Jwt { .. } => {
                let Some(token) = bearer(headers).map_err(|r| auth.token_error(r))? else {
                    continue;
                };
                let provider = auth.provider_for(route_auth, token)?;
                return provider
                    .verify(token, now)
                    .map(|sub| Consumer {
                        name: sub,
                        credential: Credential::Jwt {
                            provider: provider.name().to_owned(),
                        },
                    })
                    .map_err(|reason| auth.token_error(reason));
            }
        }
    }
    Err(AuthError::Unauthenticated {
        reason: Reason::NoCredential,
        challenges: auth.challenges(route_auth),
    })
}

impl GatewayAuth {
    /// The route's JWT provider for a token: the one whose issuer is the token's (unverified)
    /// `iss` when the route names several, else the route's first.
    fn provider_for(
        &self,
        route_auth: &RouteAuth,
        token: &str,
    ) -> Result<&Arc<jwt::Provider>, AuthError> {
        let names: Vec<&str> = route_auth
            .methods
            .iter()
            .filter_map(|m| match m {
                AuthMethod::Jwt { provider } => Some(provider.as_str()),
                AuthMethod::ApiKey { .. } => None,
            })
            .collect();
        let by_issuer = || {
            let iss = jwt::unverified_issuer(token)?;
            names
                .iter()
                .copied()
                .find(|name| self.providers.get(*name).is_some_and(|p| p.issuer() == iss))
        };
        let chosen = match names.as_slice() {
            [only] => only,
            _ => by_issuer().unwrap_or(names[0]),
        };
        self.providers.get(chosen).ok_or_else(|| {
            // Validation makes routes name existing providers; refuse rather than panic.
            tracing::error!(provider = chosen, "route names an unknown JWT provider");
            self.token_error(Reason::NoKeys(chosen.to_owned()))
        })
    }

    /// The challenges of a request without credentials: `Bearer` if the route takes JWTs,
    /// `ApiKey` for each API-key header.
    fn challenges(&self, route_auth: &RouteAuth) -> Vec<HeaderValue> {
        let mut challenges = Vec::new();
        let mut bearer = false;
        for method in &route_auth.methods {
            let text = match method {
                AuthMethod::Jwt { .. } if !bearer => {
                    bearer = true;
                    format!("Bearer realm=\"{}\"", self.realm)
                }
                AuthMethod::Jwt { .. } => continue,
                AuthMethod::ApiKey { header } => {
                    format!("ApiKey realm=\"{}\", header=\"{header}\"", self.realm)
                }
            };
            challenges.push(header_value(text));
        }
        challenges
    }

    fn token_error(&self, reason: Reason) -> AuthError {
        let text = format!(
            "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{reason}\"",
            self.realm
        );
        AuthError::Unauthenticated {
            reason,
            challenges: vec![header_value(text)],
        }
    }

    fn api_key_error(&self, header: &HeaderName, reason: Reason) -> AuthError {
        let text = format!(
            "ApiKey realm=\"{}\", header=\"{header}\", error=\"invalid_key\", \
             error_description=\"{reason}\"",
            self.realm
        );
        AuthError::Unauthenticated {
            reason,
            challenges: vec![header_value(text)],
        }
    }
}

/// Reasons only hold our own words and sanitized values; be safe anyway.
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// The header's one value, `None` if absent; more than one is refused (which would count?).
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    what: &'static str,
) -> Result<Option<&'a HeaderValue>, Reason> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Reason::Duplicate(what));
    }
    Ok(first)
}

/// The token of `authorization: Bearer <token>`; `None` without an `authorization` header or
/// with another scheme (not a credential of this method).
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Reason> {
    let Some(value) = single(headers, &header::AUTHORIZATION, "authorization")? else {
        return Ok(None);
    };
    let Ok(text) = value.to_str() else {
        return Ok(None);
    };
    let text = text.trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(Reason::MalformedToken);
    }
    Ok(Some(token))
}
