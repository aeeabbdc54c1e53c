//! One rule's limiter: a GCRA cell for `per: total`, a map of cells by caller for `per: caller`.

use super::RateLimited;
use convoy_config::{RateLimitKey, RateLimitRule, SpiffeId};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};
use http::{HeaderMap, HeaderName};
use prometheus::IntCounter;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

/// Most bytes of a caller header's value that name the caller (256): longer values are cut
/// before they are hashed, so two values that share their first 256 bytes are one caller.
pub(crate) const MAX_CALLER_KEY_BYTES: usize = 256;

/// Most characters of a caller's name quoted in the refusal message (64).
const MAX_SCOPE_CHARS: usize = 64;

/// Who sent a request, as far as a `per: caller` rule can tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The identity the connection's mTLS handshake proved, if any.
    pub identity: Option<&'a SpiffeId>,
    /// The client's IP address, if known.
    pub ip: Option<IpAddr>,
}

impl From<Option<IpAddr>> for Caller<'static> {
    /// A caller known only by its address (no proven identity).
    fn from(ip: Option<IpAddr>) -> Self {
        Caller { identity: None, ip }
    }
}

/// Whose cell a `per: caller` request is counted in.
///
/// An identity or a header value is kept as a 64-bit hash (SipHash with a random key per limiter), not as
/// bytes: a key costs no allocation on the request path and the same few bytes in the map
/// whatever the caller sent, and callers cannot practically choose values that collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum CallerKey {
    /// The hash of the caller's proven identity (its SPIFFE ID).
    Identity(u64),
    /// The hash of the caller header's value (its first [`MAX_CALLER_KEY_BYTES`]).
    Header(u64),
    /// The client's IP address: no identity, and no caller header is configured or the
    /// request has none.
    /// `0.0.0.0` when the address is unknown.
    Ip(IpAddr),
}

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;
type Keyed<C> =
    RateLimiter<CallerKey, DashMapStateStore<CallerKey>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The GCRA state of one rule.
enum Cells<C: Clock> {
    /// All requests share one cell.
    Total(Direct<C>),
    /// One cell per caller; idle callers are evicted by [`RuleLimiter::evict_idle`].
    Caller {
        /// The header that names the caller; `None` keys by client IP.
        header: Option<HeaderName>,
        /// Hashes header values into [`CallerKey::Header`].
        hasher: RandomState,
        /// The cells, by caller.
        cells: Keyed<C>,
    },
}

/// One rule with its limiter state and its refusal counter. Shared (`Arc`) between the rule
/// sets built from successive configurations for as long as the rule is unchanged.
pub struct RuleLimiter<C: Clock = DefaultClock> {
    rule: RateLimitRule,
    service: String,
    cells: Cells<C>,
    clock: C,
    rejected: IntCounter,
}

impl<C: Clock> std::fmt::Debug for RuleLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleLimiter")
            .field("rule", &self.rule)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Clone> RuleLimiter<C> {
    /// A fresh limiter for `rule` of `service`: every cell starts with its whole burst.
    pub fn new(rule: &RateLimitRule, service: &str, clock: C, rejected: IntCounter) -> Self {
        // Validation keeps both in 1..=10_000_000.
        let rate = NonZeroU32::new(rule.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rule.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        let cells = match &rule.per {
            RateLimitKey::Total => {
                Cells::Total(RateLimiter::direct_with_clock(quota, clock.clone()))
            }
            RateLimitKey::Caller { header } => Cells::Caller {
                header: header.clone(),
                hasher: RandomState::new(),
                cells: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            },
        };
        RuleLimiter {
            rule: rule.clone(),
            service: service.to_owned(),
            cells,
            clock,
            rejected,
        }
    }
}

impl<C: Clock> RuleLimiter<C> {
    /// The rule this limiter enforces.
    pub(super) fn rule(&self) -> &RateLimitRule {
        &self.rule
    }

    /// Whether this limiter can serve `rule` of `service` as it is (same name, rate, burst and
    /// key), keeping its state.
    pub fn serves(&self, rule: &RateLimitRule, service: &str) -> bool {
        self.rule == *rule && self.service == service
    }

    /// Takes one request's cell, or refuses it. Allocates only when it refuses.
    pub fn check(&self, headers: &HeaderMap, caller: Caller<'_>) -> Result<(), RateLimited> {
        match &self.cells {
            Cells::Total(cell) => cell
                .check()
                .map_err(|not_until| self.refusal(&not_until, "in total".to_owned())),
            Cells::Caller {
                header,
                hasher,
                cells,
            } => {
                let key = caller_key(header.as_ref(), hasher, headers, caller);
                cells.check_key(&key).map_err(|not_until| {
                    self.refusal(
                        &not_until,
                        caller_scope(key, caller, header.as_ref(), headers),
                    )
                })
            }
        }
    }

    fn refusal(&self, not_until: &NotUntil<C::Instant>, scope: String) -> RateLimited {
        self.rejected.inc();
        RateLimited {
            rule: self.rule.name.clone(),
            requests_per_second: self.rule.requests_per_second,
            scope,
            retry_after: not_until.wait_time_from(self.clock.now()),
        }
    }

    /// Drops the cells of callers idle long enough that a new cell would be the same (about
    /// `burst / requests_per_second` seconds), and frees the room they took. Returns how many
    /// callers are still tracked (0 for a total rule).
    pub fn evict_idle(&self) -> usize {
        let Cells::Caller { cells, .. } = &self.cells else {
            return 0;
        };
        let before = cells.len();
        cells.retain_recent();
        let after = cells.len();
        if after < before {
            cells.shrink_to_fit();
        }
        after
    }
}

/// The cell a request is counted in: the caller's proven identity if it has one, else the
/// caller header's value if the rule names a header and the request carries it, else the
/// client's IP address.
fn caller_key(
    header: Option<&HeaderName>,
    hasher: &RandomState,
    headers: &HeaderMap,
    caller: Caller<'_>,
) -> CallerKey {
    // A header can be sent by anyone; an identity cannot be claimed without its key.
    if let Some(identity) = caller.identity {
        return CallerKey::Identity(hasher.hash_one(identity));
    }
    if let Some(value) = header.and_then(|h| headers.get(h)) {
        let bytes = value.as_bytes();
        return CallerKey::Header(hasher.hash_one(&bytes[..bytes.len().min(MAX_CALLER_KEY_BYTES)]));
    }
    CallerKey::Ip(caller.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
}

/// Who was refused, for the message: `for caller <spiffe id>`, `for caller <header value>` or
/// `for caller <ip>`.
fn caller_scope(
    key: CallerKey,
    caller: Caller<'_>,
    header: Option<&HeaderName>,
    headers: &HeaderMap,
) -> String {
    match key {
        CallerKey::Identity(_) => match caller.identity {
            Some(identity) => format!("for caller {identity}"),
            None => "for caller ?".to_owned(),
        },
        CallerKey::Ip(ip) => format!("for caller {ip}"),
        CallerKey::Header(_) => {
            let value = header
                .and_then(|h| headers.get(h))
                .map_or(&[][..], |v| v.as_bytes());
            format!("for caller {}", printable(value))
        }
    }
}

/// A caller header's value as message text: printable ASCII only, at most 64 characters.
fn printable(value: &[u8]) -> String {
    let mut text: String = value
        .iter()
        .take(MAX_SCOPE_CHARS)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if value.len() > MAX_SCOPE_CHARS {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    fn rule(rate: u32, burst: u32, per: RateLimitKey) -> RateLimitRule {
        RateLimitRule {
            name: "web:test".into(),
            requests_per_second: rate,
            burst,
            per,
        }
    }

    fn limiter(rule: &RateLimitRule, clock: &FakeRelativeClock) -> RuleLimiter<FakeRelativeClock> {
        RuleLimiter::new(
            rule,
            "web",
            clock.clone(),
            IntCounter::new("t", "t").unwrap(),
        )
    }

    fn by_header() -> RateLimitKey {
        RateLimitKey::Caller {
            header: Some(HeaderName::from_static("x-caller")),
        }
    }

    fn caller(name: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-caller", name.parse().unwrap());
        headers
    }

    /// How many of `n` checks at the current fake time pass.
    fn admitted(limiter: &RuleLimiter<FakeRelativeClock>, headers: &HeaderMap, n: usize) -> usize {
        (0..n)
            .filter(|_| limiter.check(headers, Caller::default()).is_ok())
            .count()
    }

    #[test]
    fn the_burst_passes_at_once_then_the_rate_over_time() {
        let clock = FakeRelativeClock::default();
        let total = limiter(&rule(100, 20, RateLimitKey::Total), &clock);
        let none = HeaderMap::new();
        assert_eq!(admitted(&total, &none, 50), 20, "the burst");
        // 10 s at 300 offered per second: 100 admitted each second, never more.
        let mut passed = 0;
        for _ in 0..1000 {
            clock.advance(Duration::from_millis(10));
            passed += admitted(&total, &none, 3);
        }
        assert_eq!(passed, 1000);
        assert_eq!(total.rejected.get(), 30 + 2000);
    }

    #[test]
    fn a_refusal_says_when_to_come_back() {
        let clock = FakeRelativeClock::default();
        let total = limiter(&rule(2, 1, RateLimitKey::Total), &clock);
        assert!(total.check(&HeaderMap::new(), Caller::default()).is_ok());
        let refused = total
            .check(&HeaderMap::new(), Caller::default())
            .unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert_eq!(refused.scope, "in total");
        assert_eq!(refused.rule, "web:test");
        assert_eq!(refused.requests_per_second, 2);
        clock.advance(Duration::from_millis(500));
        assert!(total.check(&HeaderMap::new(), Caller::default()).is_ok());
    }

    #[test]
    fn callers_do_not_share_cells() {
        let clock = FakeRelativeClock::default();
        let per_caller = limiter(&rule(10, 5, by_header()), &clock);
        assert_eq!(admitted(&per_caller, &caller("flood"), 100), 5);
        assert_eq!(admitted(&per_caller, &caller("quiet"), 5), 5);
        let refused = per_caller
            .check(&caller("flood"), Caller::default())
            .unwrap_err();
        assert_eq!(refused.scope, "for caller flood");
        // Without the header, the client address is the caller.
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        let none = HeaderMap::new();
        assert_eq!(
            (0..9)
                .filter(|_| per_caller.check(&none, Caller::from(a)).is_ok())
                .count(),
            5
        );
        assert!(per_caller.check(&none, Caller::from(b)).is_ok());
        assert_eq!(
            per_caller.check(&none, Caller::from(a)).unwrap_err().scope,
            "for caller 10.0.0.1"
        );
    }

    #[test]
    fn a_proven_identity_keys_before_the_header_and_the_address() {
        let clock = FakeRelativeClock::default();
        let per_caller = limiter(&rule(10, 2, by_header()), &clock);
        let web = SpiffeId::parse("spiffe://convoy.local/service/web").unwrap();
        let orders = SpiffeId::parse("spiffe://convoy.local/service/orders").unwrap();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        let as_web = Caller {
            identity: Some(&web),
            ip,
        };
        // Whatever header `web` sends, it is one caller.
        assert!(per_caller.check(&caller("a"), as_web).is_ok());
        assert!(per_caller.check(&caller("b"), as_web).is_ok());
        let refused = per_caller.check(&caller("c"), as_web).unwrap_err();
        assert_eq!(
            refused.scope,
            "for caller spiffe://convoy.local/service/web"
        );
        // Another identity from the same address, and the header alone, have their own cells.
        let as_orders = Caller {
            identity: Some(&orders),
            ip,
        };
        assert!(per_caller.check(&caller("a"), as_orders).is_ok());
        assert!(per_caller.check(&caller("a"), Caller::from(ip)).is_ok());
        assert!(per_caller
            .check(&HeaderMap::new(), Caller::from(ip))
            .is_ok());
    }

    #[test]
    fn long_caller_values_are_cut_to_the_key_length() {
        let clock = FakeRelativeClock::default();
        let per_caller = limiter(&rule(10, 1, by_header()), &clock);
        let prefix = "a".repeat(MAX_CALLER_KEY_BYTES);
        assert!(per_caller
            .check(&caller(&format!("{prefix}1")), Caller::default())
            .is_ok());
        let refused = per_caller
            .check(&caller(&format!("{prefix}2")), Caller::default())
            .unwrap_err();
        assert_eq!(refused.scope, format!("for caller {}...", "a".repeat(64)));
    }

    #[test]
    fn idle_callers_are_evicted_and_active_ones_kept() {
        let clock = FakeRelativeClock::default();
        let per_caller = limiter(&rule(10, 5, by_header()), &clock);
        for i in 0..1000 {
            assert!(per_caller
                .check(&caller(&format!("c{i}")), Caller::default())
                .is_ok());
        }
        assert_eq!(per_caller.evict_idle(), 1000, "all used just now");
        // A caller that used its whole burst stays until it has earned it back.
        assert_eq!(admitted(&per_caller, &caller("busy"), 10), 5);
        clock.advance(Duration::from_millis(250));
        assert_eq!(
            per_caller.evict_idle(),
            1,
            "only `busy` is not yet back to a fresh cell"
        );
        assert_eq!(
            admitted(&per_caller, &caller("busy"), 10),
            2,
            "its state was kept"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(per_caller.evict_idle(), 0);
        let total = limiter(&rule(10, 5, RateLimitKey::Total), &clock);
        assert_eq!(total.evict_idle(), 0);
    }
}
