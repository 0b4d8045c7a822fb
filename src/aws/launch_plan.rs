//! Pure launch decisions: the CreateFleet overrides matrix, capacity-error classification,
//! client tokens and the stable hash behind them and the settings fingerprint. No I/O.

/// EC2 client tokens are at most 64 ASCII characters.
pub const CLIENT_TOKEN_MAX: usize = 64;

/// Suffix of the on-demand failover's client token.
pub const ON_DEMAND_SUFFIX: &str = "-od";

/// CreateFleet error codes that mean "not enough capacity at this price, here and now": the
/// cue for on-demand failover. Anything else (permissions, bad parameters, quotas of the
/// account) would fail on-demand too, so it is only reported.
pub const CAPACITY_ERROR_CODES: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "MaxSpotInstanceCountExceeded",
    "MaxSpotFleetRequestCountExceeded",
    "SpotMaxPriceTooLow",
    "UnfulfillableCapacity",
    "capacity-not-available",
    "price-too-low",
];

/// True when `code` is a capacity error (see [`CAPACITY_ERROR_CODES`]).
pub fn is_capacity_error(code: &str) -> bool {
    CAPACITY_ERROR_CODES.contains(&code)
}

/// One CreateFleet override: where and what to launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Instance type.
    pub instance_type: String,
    /// Subnet.
    pub subnet_id: String,
    /// Spot max price (USD per hour), when configured.
    pub max_price: Option<String>,
}

/// Every instance type in every subnet, in preference order of the types. The max price
/// applies to spot only, so the on-demand matrix leaves it out.
pub fn overrides(
    instance_types: &[String],
    subnet_ids: &[String],
    max_price: Option<&str>,
) -> Vec<Override> {
    instance_types
        .iter()
        .flat_map(|instance_type| {
            subnet_ids.iter().map(move |subnet_id| Override {
                instance_type: instance_type.clone(),
                subnet_id: subnet_id.clone(),
                max_price: max_price.map(str::to_owned),
            })
        })
        .collect()
}

/// FNV-1a, 64 bits: a small stable hash (unlike `std::hash`, the same on every Rust version).
/// Not for security: it only tells settings apart and shortens long tokens.
pub fn fnv1a64(data: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    data.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// A valid EC2 client token from `raw`: printable ASCII kept as is when it fits; otherwise a
/// prefix plus a hash of the whole, so two long keys that share a prefix still differ. The
/// same `raw` always gives the same token, which is what makes retries idempotent.
pub fn client_token(raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if clean.len() <= CLIENT_TOKEN_MAX && clean == raw {
        return clean;
    }
    let hash = format!("{:016x}", fnv1a64(raw));
    let keep = CLIENT_TOKEN_MAX - hash.len() - 1;
    let prefix: String = clean.chars().take(keep).collect();
    format!("{prefix}-{hash}")
}

/// The on-demand failover's token: derived from the spot launch's, so a retried launch
/// retries its failover idempotently too.
pub fn on_demand_token(spot_token: &str) -> String {
    client_token(&format!("{spot_token}{ON_DEMAND_SUFFIX}"))
}

/// Launch template name of a scale set: `ghaec2-<name>`, with characters EC2 refuses in
/// template names (anything but letters, digits and `( ) . - / _`) replaced by `_`, cut to
/// 128 characters.
pub fn template_name(scale_set_name: &str) -> String {
    let name: String = format!("ghaec2-{scale_set_name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "().-/_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn overrides_cross_types_and_subnets_in_type_order() {
        let matrix = overrides(
            &strings(&["m7i.large", "m5.large"]),
            &strings(&["subnet-a", "subnet-b"]),
            Some("0.05"),
        );
        let pairs: Vec<_> = matrix
            .iter()
            .map(|o| (o.instance_type.as_str(), o.subnet_id.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("m7i.large", "subnet-a"),
                ("m7i.large", "subnet-b"),
                ("m5.large", "subnet-a"),
                ("m5.large", "subnet-b")
            ]
        );
        assert!(
            matrix
                .iter()
                .all(|o| o.max_price.as_deref() == Some("0.05"))
        );
        assert!(
            overrides(&strings(&["m5.large"]), &strings(&["subnet-a"]), None)[0]
                .max_price
                .is_none()
        );
    }

    #[test]
    fn capacity_errors_are_told_apart() {
        for code in [
            "InsufficientInstanceCapacity",
            "MaxSpotInstanceCountExceeded",
            "SpotMaxPriceTooLow",
            "UnfulfillableCapacity",
            "InsufficientCapacity",
        ] {
            assert!(is_capacity_error(code), "{code}");
        }
        for code in [
            "UnauthorizedOperation",
            "InvalidParameterValue",
            "VcpuLimitExceeded",
            "InstanceLimitExceeded",
            "",
        ] {
            assert!(!is_capacity_error(code), "{code}");
        }
    }

    #[test]
    fn short_tokens_are_kept_and_long_ones_stay_distinct() {
        assert_eq!(client_token("ghaec2-7-42-0"), "ghaec2-7-42-0");
        let a = client_token(&format!("{}-a", "x".repeat(80)));
        let b = client_token(&format!("{}-b", "x".repeat(80)));
        assert_eq!(a.len(), CLIENT_TOKEN_MAX);
        assert_ne!(a, b);
        assert_eq!(a, client_token(&format!("{}-a", "x".repeat(80))));
        assert!(
            client_token("with space")
                .bytes()
                .all(|b| b.is_ascii_graphic())
        );
    }

    #[test]
    fn on_demand_tokens_derive_from_the_spot_token() {
        assert_eq!(on_demand_token("ghaec2-7-42"), "ghaec2-7-42-od");
        let long = "t".repeat(64);
        let od = on_demand_token(&long);
        assert_eq!(od.len(), CLIENT_TOKEN_MAX);
        assert_ne!(od, long);
        assert_eq!(od, on_demand_token(&long));
    }

    #[test]
    fn fnv_is_stable() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn template_names_are_valid() {
        assert_eq!(template_name("linux-x64"), "ghaec2-linux-x64");
        assert_eq!(template_name("my set!"), "ghaec2-my_set_");
        assert_eq!(template_name(&"n".repeat(300)).len(), 128);
    }
}
