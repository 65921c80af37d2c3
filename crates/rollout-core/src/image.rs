//! Container image references and what `--image` means: a bare tag (`v2`) replaces the tag of
//! the app's current image; anything that names a repository (`ghcr.io/x/app:v2`,
//! `app@sha256:…`) replaces the whole image.

use std::fmt;

/// A parsed image reference: `[registry/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Everything before the tag and digest (`ghcr.io/x/app`, `localhost:5000/app`, `nginx`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("--image is empty: give a tag (v2) or an image reference (registry/app:v2)")]
    Empty,
    #[error("--image {0:?}: {1}")]
    Invalid(String, &'static str),
}

fn valid_tag(t: &str) -> bool {
    // The OCI distribution grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self, ImageError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ImageError::Empty);
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_ascii_uppercase() && !s.contains(':'))
        {
            return Err(ImageError::Invalid(
                s.into(),
                "image references have no spaces and a lowercase repository",
            ));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !d.contains(':') {
                    return Err(ImageError::Invalid(
                        s.into(),
                        "a digest looks like sha256:<hex>",
                    ));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repository, tag) = match rest[last_slash..].find(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if repository.is_empty() || repository.ends_with('/') {
            return Err(ImageError::Invalid(
                s.into(),
                "the repository name is missing",
            ));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ImageError::Invalid(
                s.into(),
                "repository names are lowercase",
            ));
        }
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(ImageError::Invalid(
                s.into(),
                "a tag has up to 128 letters, digits, '.', '_' or '-' and does not start with '.' or '-'",
            ));
        }
        Ok(Self {
            repository: repository.to_string(),
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The image a container should run after `--image wanted`, given the one it runs now.
pub fn resolve(current: &str, wanted: &str) -> Result<String, ImageError> {
    let wanted = wanted.trim();
    if wanted.is_empty() {
        return Err(ImageError::Empty);
    }
    // A bare tag: no repository separator, no registry, no digest.
    if !wanted.contains('/')
        && !wanted.contains(':')
        && !wanted.contains('@')
        && valid_tag(wanted)
        && !looks_like_repository(wanted)
    {
        let mut image = ImageRef::parse(current)?;
        image.tag = Some(wanted.to_string());
        image.digest = None;
        return Ok(image.to_string());
    }
    Ok(ImageRef::parse(wanted)?.to_string())
}

/// `nginx` alone could be a tag or an image; tags almost always contain a digit or start with
/// `v`/`latest`-like words, so a word without digits is taken as an image name only when it is
/// one of the images people actually write bare.
fn looks_like_repository(word: &str) -> bool {
    !word.chars().any(|c| c.is_ascii_digit())
        && !matches!(
            word,
            "latest" | "stable" | "canary" | "edge" | "main" | "dev" | "prod" | "next"
        )
        && !word.contains('-')
        && !word.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = ImageRef::parse("localhost:5000/team/app:v1.2@sha256:abc").expect("ref");
        assert_eq!(r.repository, "localhost:5000/team/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(r.to_string(), "localhost:5000/team/app:v1.2@sha256:abc");
        let r = ImageRef::parse("localhost:5000/app").expect("ref");
        assert_eq!((r.repository.as_str(), r.tag), ("localhost:5000/app", None));
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse("app:-bad").is_err());
        assert!(ImageRef::parse("App:v1").is_err());
        assert!(ImageRef::parse("app@nodigest").is_err());
    }

    #[test]
    fn bare_tags_replace_the_tag() {
        assert_eq!(
            resolve("ghcr.io/x/app:v1", "v2").expect("tag"),
            "ghcr.io/x/app:v2"
        );
        assert_eq!(
            resolve("localhost:5000/app:1.0", "1.1").expect("tag"),
            "localhost:5000/app:1.1"
        );
        assert_eq!(resolve("app@sha256:abc", "v3").expect("tag"), "app:v3");
        assert_eq!(resolve("nginx", "1.27").expect("tag"), "nginx:1.27");
        assert_eq!(resolve("web:v1", "v2-bad").expect("tag"), "web:v2-bad");
        assert_eq!(resolve("web:v1", "latest").expect("tag"), "web:latest");
    }

    #[test]
    fn references_replace_the_image() {
        assert_eq!(
            resolve("web:v1", "ghcr.io/x/web:v2").expect("ref"),
            "ghcr.io/x/web:v2"
        );
        assert_eq!(resolve("web:v1", "nginx:1.27").expect("ref"), "nginx:1.27");
        assert_eq!(resolve("web:v1", "httpd").expect("ref"), "httpd");
        assert!(resolve("web:v1", "").is_err());
        assert!(resolve("web:v1", "bad image").is_err());
    }
}
