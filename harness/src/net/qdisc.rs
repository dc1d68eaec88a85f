//! The options of the two qdiscs a [`super::LinkSpec`] uses, to and from
//! their netlink form.
//!
//! `netlink-packet-route` has no types for `netem` or `tbf`, so their
//! `TCA_OPTIONS` are built and read here as raw attributes (the crate's
//! `DefaultNla`), in the layout of the kernel's UAPI
//! (`include/uapi/linux/pkt_sched.h`):
//!
//! - netem: `TCA_OPTIONS` is a `struct tc_netem_qopt` (latency, limit,
//!   loss, gap, duplicate, jitter: six `u32`, times in 64 ns scheduler
//!   ticks, loss as a fraction of `u32::MAX`), followed by nested
//!   attributes: `TCA_NETEM_LATENCY64` and `TCA_NETEM_JITTER64` (`s64`
//!   nanoseconds) when a time does not fit the `u32`.
//! - tbf: `TCA_OPTIONS` nests `TCA_TBF_PARMS` (`struct tc_tbf_qopt`: rate
//!   and peak rate as `struct tc_ratespec`, limit in bytes, buffer in
//!   ticks, mtu), `TCA_TBF_RATE64` above 4 GB/s, and `TCA_TBF_BURST`.
//!   The rate's link layer is Ethernet, so the kernel needs no rate table.

use std::time::Duration;

use netlink_packet_core::DefaultNla;
use netlink_packet_route::tc::{TcAttribute, TcOption};

const TCA_OPTIONS: u16 = 2;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TC_LINKLAYER_ETHERNET: u8 = 1;

/// Nanoseconds per scheduler tick (`PSCHED_SHIFT` = 6).
const NS_PER_TICK: u128 = 64;
/// netem's queue, in packets (tc's default).
pub(crate) const NETEM_LIMIT: u32 = 1000;

/// What a netem qdisc does.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Netem {
    pub(crate) delay: Duration,
    pub(crate) jitter: Duration,
    /// Percent.
    pub(crate) loss: f64,
    /// netem's own rate, bytes per second (read back only).
    pub(crate) rate: Option<u64>,
    pub(crate) limit: u32,
}

/// What a tbf qdisc does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tbf {
    /// Bytes per second.
    pub(crate) rate: u64,
    /// Bytes sent at line speed before the rate applies.
    pub(crate) burst: u32,
    /// Bytes queued at most.
    pub(crate) limit: u32,
}

fn ticks(d: Duration) -> Option<u32> {
    u32::try_from(d.as_nanos() / NS_PER_TICK).ok()
}

fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity((len + 3) & !3);
    out.extend((len as u16).to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    out.resize((len + 3) & !3, 0);
    out
}

/// Reads the nested attributes in `bytes` as `(kind, value)`.
fn nlas(mut bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]) & 0x3fff;
        if len < 4 || len > bytes.len() {
            break;
        }
        out.push((kind, &bytes[4..len]));
        bytes = &bytes[((len + 3) & !3).min(bytes.len())..];
    }
    out
}

fn u32_at(bytes: &[u8], index: usize) -> u32 {
    bytes.get(index * 4..index * 4 + 4).map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_of(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.get(..8)?.try_into().ok()?))
}

impl Netem {
    /// The `TCA_OPTIONS` attribute.
    pub(crate) fn options(&self) -> TcAttribute {
        let latency = ticks(self.delay);
        let jitter = ticks(self.jitter);
        let loss = ((self.loss / 100.0) * f64::from(u32::MAX)).round() as u32;
        let mut value = Vec::new();
        for field in [latency.unwrap_or(u32::MAX), self.limit, loss, 0, 0, jitter.unwrap_or(u32::MAX)] {
            value.extend(field.to_ne_bytes());
        }
        if latency.is_none() {
            value.extend(nla(TCA_NETEM_LATENCY64, &(self.delay.as_nanos() as i64).to_ne_bytes()));
        }
        if jitter.is_none() {
            value.extend(nla(TCA_NETEM_JITTER64, &(self.jitter.as_nanos() as i64).to_ne_bytes()));
        }
        TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, value))
    }

    /// Reads the payload of a netem `TCA_OPTIONS`.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        if value.len() < 24 {
            return None;
        }
        let tick = |t: u32| Duration::from_nanos(u64::from(t) * NS_PER_TICK as u64);
        let mut netem = Netem {
            delay: tick(u32_at(value, 0)),
            limit: u32_at(value, 1),
            loss: f64::from(u32_at(value, 2)) / f64::from(u32::MAX) * 100.0,
            jitter: tick(u32_at(value, 5)),
            rate: None,
        };
        for (kind, v) in nlas(&value[24..]) {
            match kind {
                TCA_NETEM_LATENCY64 => netem.delay = Duration::from_nanos(u64_of(v)?),
                TCA_NETEM_JITTER64 => netem.jitter = Duration::from_nanos(u64_of(v)?),
                TCA_NETEM_RATE if u32_at(v, 0) > 0 => netem.rate = Some(u64::from(u32_at(v, 0))),
                TCA_NETEM_RATE64 => netem.rate = u64_of(v),
                _ => {}
            }
        }
        Some(netem)
    }
}

impl Tbf {
    /// A token bucket for `bits_per_second` on a link of `mtu`: a burst of
    /// 10 ms of traffic (at least two full frames), a queue of 100 ms more.
    pub(crate) fn for_rate(bits_per_second: u64, mtu: u32) -> Self {
        let rate = (bits_per_second / 8).max(1);
        let frame = u64::from(mtu) + 14;
        let burst = (rate / 100).max(2 * frame).min(u64::from(u32::MAX / 2));
        let limit = (burst + rate / 10).min(u64::from(u32::MAX));
        Tbf { rate, burst: burst as u32, limit: limit as u32 }
    }

    /// The `TCA_OPTIONS` attribute.
    pub(crate) fn options(&self) -> TcAttribute {
        let rate32 = u32::try_from(self.rate).unwrap_or(u32::MAX);
        let mut parms = Vec::with_capacity(36);
        // struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate.
        parms.extend([0u8, TC_LINKLAYER_ETHERNET]);
        parms.extend(0u16.to_ne_bytes());
        parms.extend((-1i16).to_ne_bytes());
        parms.extend(0u16.to_ne_bytes());
        parms.extend(rate32.to_ne_bytes());
        parms.extend([0u8; 12]); // no peak rate
        parms.extend(self.limit.to_ne_bytes());
        let buffer_ns = u128::from(self.burst) * 1_000_000_000 / u128::from(self.rate);
        parms.extend(u32::try_from(buffer_ns / NS_PER_TICK).unwrap_or(u32::MAX).to_ne_bytes());
        parms.extend(0u32.to_ne_bytes()); // mtu: unused without a peak rate
        let mut options = vec![TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, parms))];
        if rate32 == u32::MAX {
            options.push(TcOption::Other(DefaultNla::new(TCA_TBF_RATE64, self.rate.to_ne_bytes().to_vec())));
        }
        options.push(TcOption::Other(DefaultNla::new(TCA_TBF_BURST, self.burst.to_ne_bytes().to_vec())));
        TcAttribute::Options(options)
    }

    /// Reads the payload of a tbf `TCA_OPTIONS` (the nested attributes).
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        let mut tbf = None;
        let mut rate64 = None;
        let mut burst = None;
        for (kind, v) in nlas(value) {
            match kind {
                TCA_TBF_PARMS if v.len() >= 36 => {
                    let rate = u64::from(u32_at(v, 2));
                    let limit = u32_at(v, 6);
                    let buffer_ticks = u128::from(u32_at(v, 7));
                    let burst = (buffer_ticks * NS_PER_TICK * u128::from(rate) / 1_000_000_000) as u32;
                    tbf = Some(Tbf { rate, burst, limit });
                }
                TCA_TBF_RATE64 => rate64 = u64_of(v),
                TCA_TBF_BURST => burst = Some(u32_at(v, 0)),
                _ => {}
            }
        }
        let mut tbf = tbf?;
        if let Some(rate) = rate64 {
            tbf.rate = rate;
        }
        if let Some(burst) = burst {
            tbf.burst = burst;
        }
        Some(tbf)
    }
}

/// The raw payload of `TCA_OPTIONS` in a dumped qdisc (the crate keeps
/// options of kinds it does not know as one raw attribute).
pub(crate) fn raw_options(attributes: &[TcAttribute]) -> Option<Vec<u8>> {
    use netlink_packet_core::Nla;
    attributes.iter().find_map(|a| match a {
        TcAttribute::Options(options) => match options.as_slice() {
            [TcOption::Other(raw)] if raw.kind() == TCA_OPTIONS => {
                let mut value = vec![0; raw.value_len()];
                raw.emit_value(&mut value);
                Some(value)
            }
            other => {
                // Already split into attributes: emit them back.
                let mut value = Vec::new();
                for option in other {
                    let mut bytes = vec![0; option.value_len()];
                    option.emit_value(&mut bytes);
                    value.extend(nla(option.kind(), &bytes));
                }
                Some(value)
            }
        },
        TcAttribute::Other(raw) if raw.kind() == TCA_OPTIONS => {
            let mut value = vec![0; raw.value_len()];
            raw.emit_value(&mut value);
            Some(value)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Nla;

    fn payload(attribute: &TcAttribute) -> Vec<u8> {
        let mut bytes = vec![0; attribute.value_len()];
        attribute.emit_value(&mut bytes);
        bytes
    }

    /// What iproute2 6.1 sends for `tc qdisc add dev lo root handle 1:
    /// netem delay 100ms 10ms loss 5% limit 1000` (seen with strace).
    const TC_NETEM_100MS_10MS_5PCT: [u8; 24] = [
        0x84, 0xd7, 0x17, 0x00, 0xe8, 0x03, 0x00, 0x00, 0xcd, 0xcc, 0xcc, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x5a, 0x62, 0x02, 0x00,
    ];

    #[test]
    fn netem_options_are_what_tc_sends() {
        let netem = Netem {
            delay: Duration::from_millis(100),
            jitter: Duration::from_millis(10),
            loss: 5.0,
            rate: None,
            limit: NETEM_LIMIT,
        };
        let attribute = netem.options();
        assert_eq!(attribute.kind(), TCA_OPTIONS);
        assert_eq!(payload(&attribute), TC_NETEM_100MS_10MS_5PCT);
        let back = Netem::parse(&TC_NETEM_100MS_10MS_5PCT).unwrap();
        assert_eq!(back.delay, Duration::from_millis(100));
        assert_eq!(back.jitter, Duration::from_millis(10));
        assert!((back.loss - 5.0).abs() < 1e-6, "{}", back.loss);
    }

    #[test]
    fn long_netem_delays_go_in_64_bit_attributes() {
        let netem = Netem { delay: Duration::from_secs(600), limit: NETEM_LIMIT, ..Netem::default() };
        let bytes = payload(&netem.options());
        assert_eq!(bytes.len(), 24 + 12);
        assert_eq!(Netem::parse(&bytes).unwrap().delay, Duration::from_secs(600));
    }

    /// The `TCA_TBF_PARMS` iproute2 6.1 sends for `tc qdisc add dev lo root
    /// handle 1: tbf rate 1mbit burst 15000 limit 30000`, but for the cell
    /// log of its rate table, which the kernel reads only with one.
    const TC_TBF_PARMS: [u8; 36] = [
        0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x48, 0xe8, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x75, 0x00, 0x00, 0x38, 0x9c, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn tbf_options_are_what_tc_sends() {
        let tbf = Tbf { rate: 125_000, burst: 15_000, limit: 30_000 };
        let bytes = payload(&tbf.options());
        assert_eq!(&bytes[..4], &[40, 0, 1, 0]);
        assert_eq!(&bytes[4..40], TC_TBF_PARMS);
        assert_eq!(&bytes[40..], &[8, 0, 6, 0, 0x98, 0x3a, 0, 0]);
        assert_eq!(Tbf::parse(&bytes), Some(tbf));
    }

    #[test]
    fn a_rate_gets_a_burst_of_ten_milliseconds_and_at_least_two_frames() {
        assert_eq!(Tbf::for_rate(1_000_000, 1500), Tbf { rate: 125_000, burst: 3028, limit: 3028 + 12_500 });
        let fast = Tbf::for_rate(10_000_000_000, 1500);
        assert_eq!(fast.burst, 12_500_000);
        let huge = Tbf::for_rate(100_000_000_000, 1500);
        assert_eq!(Tbf::parse(&payload(&huge.options())).unwrap().rate, 12_500_000_000);
    }
}
