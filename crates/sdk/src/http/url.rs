//! The small part of URL handling the client needs: split, and resolve a redirect.

use crate::{Error, Result};

/// An absolute `http` or `https` URL, split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) https: bool,
    pub(crate) authority: String,
    pub(crate) path_and_query: String,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            reason: reason.to_owned(),
        };
        let url = url.trim();
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            (false, rest)
        } else {
            return Err(invalid(
                "only absolute http:// and https:// URLs are supported",
            ));
        };
        // The fragment never goes on the wire.
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("the URL has no host"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported; send a header",
            ));
        }
        if authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
            || path.chars().any(char::is_control)
        {
            return Err(invalid("the URL contains whitespace or control characters"));
        }
        let path_and_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Self {
            https,
            authority: authority.to_owned(),
            path_and_query,
        })
    }

    /// `scheme://authority`: what errors may name.
    pub(crate) fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
    }

    /// The target of a redirect whose `Location` is `location`.
    pub(crate) fn join(&self, location: &str) -> Result<Self> {
        let location = location.trim();
        if location.contains("://") && !location.starts_with('/') {
            return Self::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Self::parse(&format!(
                "{}://{rest}",
                if self.https { "https" } else { "http" }
            ));
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else {
            let base = self.path_and_query.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            if location.starts_with('?') {
                format!("{base}{location}")
            } else {
                format!("{dir}{location}")
            }
        };
        Self::parse(&format!("{}{path}", self.origin()))
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(https: bool, authority: &str, path: &str) -> Url {
        Url {
            https,
            authority: authority.into(),
            path_and_query: path.into(),
        }
    }

    #[test]
    fn parses_absolute_urls() {
        assert_eq!(
            Url::parse("http://127.0.0.1:8080").unwrap(),
            url(false, "127.0.0.1:8080", "/")
        );
        assert_eq!(
            Url::parse("HTTPS://api.x.io/a/b?c=d#frag").unwrap(),
            url(true, "api.x.io", "/a/b?c=d")
        );
        assert_eq!(
            Url::parse("https://x.io?q=1").unwrap(),
            url(true, "x.io", "/?q=1")
        );
    }

    #[test]
    fn refuses_what_it_cannot_send() {
        for bad in [
            "ftp://x",
            "x.io/a",
            "http://",
            "http:///a",
            "http://u:p@x.io/",
            "http://x .io/",
        ] {
            assert!(
                matches!(Url::parse(bad), Err(Error::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_name_the_origin_only() {
        let u = Url::parse("https://api.telegram.org/bot123:SECRET/sendMessage").unwrap();
        assert_eq!(u.origin(), "https://api.telegram.org");
    }

    #[test]
    fn resolves_redirects() {
        let base = Url::parse("http://a.io:81/x/y?z=1").unwrap();
        assert_eq!(
            base.join("https://b.io/p").unwrap(),
            url(true, "b.io", "/p")
        );
        assert_eq!(base.join("//c.io/q").unwrap(), url(false, "c.io", "/q"));
        assert_eq!(base.join("/root").unwrap(), url(false, "a.io:81", "/root"));
        assert_eq!(
            base.join("sib?k=v").unwrap(),
            url(false, "a.io:81", "/x/sib?k=v")
        );
        assert_eq!(
            base.join("?k=v").unwrap(),
            url(false, "a.io:81", "/x/y?k=v")
        );
    }
}
