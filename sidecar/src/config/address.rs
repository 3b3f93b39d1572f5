//! Network addresses in the configuration: `host:port` endpoints and plain `http://` URLs.

use std::fmt;

/// A `host:port` pair; the host may be a name, IPv4, or a bracketed IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port` (`[v6]:port` for IPv6). `default_port` applies when the port is absent.
    pub fn parse(text: &str, default_port: Option<u16>) -> Result<HostPort, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("address is empty".into());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{text}`: missing `]` after IPv6 address"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(format!("`{text}`: expected `:port` after `]`")),
            }
        } else {
            match text.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(format!(
                        "`{text}`: write IPv6 addresses in brackets, e.g. `[::1]:5038`"
                    ))
                }
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{text}`: host is empty"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("`{text}`: port must be 1-65535"))?,
            None => default_port.ok_or_else(|| format!("`{text}`: expected host:port"))?,
        };
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A plain-HTTP base URL (`http://host[:port][/prefix]`), enough for Asterisk's ARI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub address: HostPort,
    /// Path prefix without trailing slash (empty for the root), e.g. `/asterisk` behind a proxy.
    pub prefix: String,
}

impl HttpUrl {
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        let rest = if let Some(rest) = text.strip_prefix("http://") {
            rest
        } else if text.starts_with("https://") {
            return Err(format!("`{text}`: https is not supported for the ARI probe; use http:// on a trusted network"));
        } else {
            return Err(format!("`{text}`: expected a URL starting with http://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "`{text}`: put credentials in username/secret_file, not in the URL"
            ));
        }
        let address = HostPort::parse(authority, Some(80))?;
        if path.contains(['?', '#', ' ']) {
            return Err(format!(
                "`{text}`: the URL must not have a query, fragment or spaces"
            ));
        }
        Ok(HttpUrl {
            address,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.address, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            HostPort::parse("127.0.0.1:5038", None),
            Ok(HostPort {
                host: "127.0.0.1".into(),
                port: 5038
            })
        );
        assert_eq!(
            HostPort::parse("[::1]:5060", None).map(|h| h.host),
            Ok("::1".to_string())
        );
        assert_eq!(HostPort::parse("pbx", Some(5060)).map(|h| h.port), Ok(5060));
        assert!(HostPort::parse("pbx", None).is_err());
        assert!(HostPort::parse("pbx:0", None).is_err());
        assert!(HostPort::parse("pbx:70000", None).is_err());
        assert!(HostPort::parse("::1:5060", None).is_err());
    }

    #[test]
    fn http_urls() {
        let u = HttpUrl::parse("http://127.0.0.2:8088/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.address.port, 8088);
        assert_eq!(u.prefix, "");
        assert_eq!(
            HttpUrl::parse("http://pbx/proxy/").map(|u| (u.address.port, u.prefix)),
            Ok((80, "/proxy".into()))
        );
        assert!(HttpUrl::parse("https://pbx").is_err());
        assert!(HttpUrl::parse("http://u:p@pbx").is_err());
    }
}
