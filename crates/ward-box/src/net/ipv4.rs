//! IPv4 subnets: parsing, overlap, and the host's routes (to pick a
//! subnet nobody uses).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net4 {
    /// The network address (host bits cleared).
    pub addr: u32,
    pub prefix: u8,
}

pub fn parse_ip(s: &str) -> Result<u32, String> {
    s.parse::<std::net::Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| "not an IPv4 address".to_string())
}

pub fn fmt_ip(ip: u32) -> String {
    std::net::Ipv4Addr::from(ip).to_string()
}

impl Net4 {
    pub fn new(addr: u32, prefix: u8) -> Net4 {
        Net4 {
            addr: addr & Self::mask_of(prefix),
            prefix,
        }
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        }
    }

    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }

    /// `a.b.c.d/n`, with the host bits clear (10.0.0.1/24 is refused: say
    /// 10.0.0.0/24).
    pub fn parse(s: &str) -> Result<Net4, String> {
        let (ip, p) = s.split_once('/').ok_or("not a subnet (a.b.c.d/prefix)")?;
        let ip = parse_ip(ip)?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or("the prefix length must be 0 to 32")?;
        let n = Net4::new(ip, prefix);
        if n.addr != ip {
            return Err(format!("host bits set (the subnet is {n})"));
        }
        Ok(n)
    }

    pub fn contains(&self, ip: u32) -> bool {
        ip & self.mask() == self.addr
    }

    pub fn overlaps(&self, o: &Net4) -> bool {
        let m = self.mask() & o.mask();
        self.addr & m == o.addr & m
    }

    pub fn broadcast(&self) -> u32 {
        self.addr | !self.mask()
    }
}

impl fmt::Display for Net4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", fmt_ip(self.addr), self.prefix)
    }
}

/// The routes of this network namespace but the default one:
/// (device, subnet), from /proc/net/route.
pub fn host_routes() -> Vec<(String, Net4)> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return vec![];
    };
    // The kernel prints each address as the hex of its in-memory (network
    // order) bytes read as a native integer.
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, dst, mask) = (f.first()?, hex(f.get(1)?)?, hex(f.get(7)?)?);
            let prefix = mask.leading_ones() as u8;
            (prefix > 0).then(|| (dev.to_string(), Net4::new(dst, prefix)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let n = Net4::parse("10.90.0.0/24").unwrap();
        assert_eq!(n.to_string(), "10.90.0.0/24");
        assert!(n.contains(parse_ip("10.90.0.7").unwrap()));
        assert!(!n.contains(parse_ip("10.90.1.7").unwrap()));
        assert!(n.overlaps(&Net4::parse("10.90.0.0/16").unwrap()));
        assert!(!n.overlaps(&Net4::parse("10.91.0.0/16").unwrap()));
        assert_eq!(fmt_ip(n.broadcast()), "10.90.0.255");
        assert!(Net4::parse("10.90.0.1/24").is_err());
        assert!(Net4::parse("10.90.0.0").is_err());
        assert!(Net4::parse("10.90.0.0/33").is_err());
        assert!(Net4::parse("fast/8").is_err());
    }
}
