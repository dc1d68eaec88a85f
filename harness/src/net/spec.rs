//! [`LinkSpec`]: what a link does to the packets crossing it.

use std::fmt;
use std::time::Duration;

use super::error::NetError;

/// The properties of a link, applied in each direction (each end's
/// outgoing packets): a `delay` of 100 ms makes a round trip take at
/// least 200 ms.
///
/// Delay, jitter and loss are a `netem` queueing discipline, the rate a
/// `tbf` (token bucket) one, set by netlink on both ends of the link;
/// `mtu` and `down` are the interfaces' own settings. A spec with none of
/// them is a plain veth pair.
///
/// ```
/// use isolated_test::net::LinkSpec;
/// use std::time::Duration;
///
/// let slow = LinkSpec::new().delay(Duration::from_millis(100)).jitter(Duration::from_millis(10)).loss(5.0);
/// let thin = LinkSpec::new().rate(1_000_000).mtu(1280);
/// let cut = LinkSpec::new().down();
/// assert!(cut.is_down() && !slow.is_down());
/// # let _ = thin;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkSpec {
    pub(crate) delay: Duration,
    pub(crate) jitter: Duration,
    pub(crate) loss: f64,
    pub(crate) rate: Option<u64>,
    pub(crate) mtu: Option<u32>,
    pub(crate) down: bool,
}

impl LinkSpec {
    /// A plain link: no delay, no loss, no rate limit, MTU 1500, up. Example
    /// on [`LinkSpec`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Delays every packet by this long, in each direction. Example on
    /// [`LinkSpec`].
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Varies the delay by up to this much either way (uniformly; packets
    /// may then be reordered, as with `tc netem`). Example on [`LinkSpec`].
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Drops this percentage of packets (0 to 100), each independently.
    /// Example on [`LinkSpec`].
    pub fn loss(mut self, percent: f64) -> Self {
        self.loss = percent;
        self
    }

    /// Limits the throughput to this many bits per second (a token bucket
    /// with a burst of 10 ms of traffic, at least two full frames). Example
    /// on [`LinkSpec`].
    pub fn rate(mut self, bits_per_second: u64) -> Self {
        self.rate = Some(bits_per_second);
        self
    }

    /// Sets both interfaces' MTU (68 to 65535). Example on [`LinkSpec`].
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Makes the link start down (both interfaces administratively down),
    /// until [`super::Link::up`]. Example on [`LinkSpec`].
    pub fn down(mut self) -> Self {
        self.down = true;
        self
    }

    /// Whether the link is (to be) down. Example on [`LinkSpec`].
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Whether a netem qdisc is needed.
    pub(crate) fn needs_netem(&self) -> bool {
        !self.delay.is_zero() || !self.jitter.is_zero() || self.loss > 0.0
    }

    /// Checks the values; `link` names the link in the error.
    pub(crate) fn validate(&self, link: &str) -> Result<(), NetError> {
        let bad = |problem: String| Err(NetError::BadSpec { link: link.to_owned(), problem });
        if !(0.0..=100.0).contains(&self.loss) {
            return bad(format!("loss {} % is outside 0 to 100", self.loss));
        }
        if self.rate == Some(0) {
            return bad("a rate of 0 bits per second passes nothing; use `.down()` or `.loss(100.0)`".into());
        }
        if let Some(mtu) = self.mtu.filter(|m| !(68..=65535).contains(m)) {
            return bad(format!("mtu {mtu} is outside 68 to 65535"));
        }
        if self.jitter > self.delay {
            return bad(format!(
                "jitter {:?} is larger than the delay {:?} (a packet cannot leave before it was sent)",
                self.jitter, self.delay
            ));
        }
        Ok(())
    }
}

/// `delay 100ms jitter 10ms loss 5% rate 1Mbit mtu 1280 down`, or `plain`.
impl fmt::Display for LinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.delay.is_zero() {
            parts.push(format!("delay {}", duration(self.delay)));
        }
        if !self.jitter.is_zero() {
            parts.push(format!("jitter {}", duration(self.jitter)));
        }
        if self.loss > 0.0 {
            parts.push(format!("loss {}%", self.loss));
        }
        if let Some(rate) = self.rate {
            parts.push(format!("rate {}", bits(rate)));
        }
        if let Some(mtu) = self.mtu {
            parts.push(format!("mtu {mtu}"));
        }
        if self.down {
            parts.push("down".into());
        }
        if parts.is_empty() { f.write_str("plain") } else { f.write_str(&parts.join(" ")) }
    }
}

/// `100ms`, `1.5ms`, `2s`, `250us`.
pub(crate) fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0".into()
    } else if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns >= 1_000_000 {
        format!("{}ms", trim(ns as f64 / 1e6))
    } else if ns >= 1_000 {
        format!("{}us", trim(ns as f64 / 1e3))
    } else {
        format!("{ns}ns")
    }
}

/// `1Mbit`, `2.5Gbit`, `800bit`.
pub(crate) fn bits(per_second: u64) -> String {
    let v = per_second as f64;
    if per_second >= 1_000_000_000 {
        format!("{}Gbit", trim(v / 1e9))
    } else if per_second >= 1_000_000 {
        format!("{}Mbit", trim(v / 1e6))
    } else if per_second >= 1_000 {
        format!("{}Kbit", trim(v / 1e3))
    } else {
        format!("{per_second}bit")
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_print_as_tc_would_say_them() {
        let spec = LinkSpec::new().delay(Duration::from_millis(100)).jitter(Duration::from_micros(1500)).loss(5.0);
        assert_eq!(spec.to_string(), "delay 100ms jitter 1.5ms loss 5%");
        assert_eq!(LinkSpec::new().rate(2_500_000).mtu(1280).down().to_string(), "rate 2.5Mbit mtu 1280 down");
        assert_eq!(LinkSpec::new().to_string(), "plain");
        assert_eq!(duration(Duration::from_secs(2)), "2s");
    }

    #[test]
    fn bad_values_are_named() {
        let problem = |spec: LinkSpec| match spec.validate("a-b") {
            Err(NetError::BadSpec { link, problem }) => {
                assert_eq!(link, "a-b");
                problem
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(problem(LinkSpec::new().loss(101.0)), "loss 101 % is outside 0 to 100");
        assert!(problem(LinkSpec::new().loss(-1.0)).contains("outside 0 to 100"));
        assert!(problem(LinkSpec::new().loss(f64::NAN)).contains("outside 0 to 100"));
        assert!(problem(LinkSpec::new().rate(0)).contains("passes nothing"));
        assert!(problem(LinkSpec::new().mtu(10)).contains("mtu 10"));
        assert!(problem(LinkSpec::new().jitter(Duration::from_millis(1))).contains("jitter"));
        assert!(LinkSpec::new().loss(100.0).delay(Duration::from_millis(1)).validate("x").is_ok());
    }
}
