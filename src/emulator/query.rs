//! The AWS query protocol shared by IAM and STS: form-encoded parameters in
//! (`Action=...&Version=...&Tags.member.1.Key=...`), XML out, and the `<ErrorResponse>`
//! error shape.

/// Decoded query-protocol parameters, in request order.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parse an `application/x-www-form-urlencoded` body (or URL query string).
    pub fn parse(body: &[u8]) -> Self {
        Params(form_urlencoded::parse(body).into_owned().collect())
    }

    /// Add the pairs of `other` after this one's.
    pub fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    /// The pairs, as parsed.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A list parameter `name.member.N`, ordered by N.
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(&prefix)?.parse::<u32>().ok()?;
                Some((n, v.clone()))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// A tag list `name.member.N.Key` / `name.member.N.Value`, ordered by N. A member with a
    /// key but no value gets an empty value.
    pub fn tags(&self, name: &str) -> Vec<(String, String)> {
        let prefix = format!("{name}.member.");
        let mut keys: Vec<(u32, String)> = Vec::new();
        let mut values: Vec<(u32, String)> = Vec::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            match field {
                "Key" => keys.push((n, v.clone())),
                "Value" => values.push((n, v.clone())),
                _ => {}
            }
        }
        keys.sort_by_key(|(n, _)| *n);
        keys.into_iter()
            .map(|(n, k)| {
                let v = values
                    .iter()
                    .find(|(m, _)| *m == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                (k, v)
            })
            .collect()
    }
}

/// Escape text for XML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// A tiny XML writer: open/close tags and escaped text elements.
#[derive(Debug, Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    /// A document with the XML declaration.
    pub fn new() -> Self {
        Xml {
            buf: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    /// `<tag xmlns="ns">`.
    pub fn open_ns(&mut self, tag: &str, ns: &str) -> &mut Self {
        self.buf
            .push_str(&format!("<{tag} xmlns=\"{}\">", escape(ns)));
        self
    }

    /// `<tag>`.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `</tag>`.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag>text</tag>` with `text` escaped.
    pub fn elem(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        self.buf.push_str(&escape(text));
        self.close(tag)
    }

    /// `<tag>text</tag>` when `text` is present.
    pub fn opt(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.elem(tag, t);
        }
        self
    }

    /// The document so far.
    pub fn finish(self) -> String {
        self.buf
    }
}

/// A query-protocol error: code, message and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// AWS's error code (`NoSuchEntity`, `InvalidAuthenticationCode`, ...).
    pub code: String,
    /// The human-readable message.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl QueryError {
    /// An error with the given code, HTTP status and message.
    pub fn new(code: &str, status: u16, message: impl Into<String>) -> Self {
        QueryError {
            code: code.to_owned(),
            message: message.into(),
            status,
        }
    }

    /// AWS's `ValidationError` (400).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }

    /// The "Value null at 'x' failed to satisfy constraint" validation error.
    pub fn missing(member: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// The error's `<Type>`: `Receiver` for server faults, `Sender` otherwise.
    pub fn fault_type(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// The `<ErrorResponse>` document.
    pub fn to_xml(&self, ns: Option<&str>, request_id: &str) -> String {
        let mut x = Xml::new();
        match ns {
            Some(ns) => x.open_ns("ErrorResponse", ns),
            None => x.open("ErrorResponse"),
        };
        x.open("Error")
            .elem("Type", self.fault_type())
            .elem("Code", &self.code)
            .elem("Message", &self.message)
            .close("Error")
            .elem("RequestId", request_id)
            .close("ErrorResponse");
        x.finish()
    }
}

/// Start a successful `<{Action}Response xmlns=..><{Action}Result>` document.
pub fn begin_response(action: &str, ns: &str) -> Xml {
    let mut x = Xml::new();
    x.open_ns(&format!("{action}Response"), ns);
    x.open(&format!("{action}Result"));
    x
}

/// Close the `Result`, add `ResponseMetadata` and close the response.
pub fn end_response(mut x: Xml, action: &str, request_id: &str) -> String {
    x.close(&format!("{action}Result"))
        .open("ResponseMetadata")
        .elem("RequestId", request_id)
        .close("ResponseMetadata")
        .close(&format!("{action}Response"));
    x.finish()
}

/// A response with no `Result` element (actions that return nothing).
pub fn empty_response(action: &str, ns: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.open_ns(&format!("{action}Response"), ns)
        .open("ResponseMetadata")
        .elem("RequestId", request_id)
        .close("ResponseMetadata")
        .close(&format!("{action}Response"));
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_tags() {
        let p = Params::parse(
            b"Action=TagMFADevice&Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=%3C1%3E&TagKeys.member.1=x&TagKeys.member.2=y",
        );
        assert_eq!(p.get("Action"), Some("TagMFADevice"));
        assert_eq!(
            p.tags("Tags"),
            vec![("a".into(), "<1>".into()), ("b".into(), "2".into())]
        );
        assert_eq!(p.list("TagKeys"), vec!["x".to_string(), "y".to_string()]);
    }

    #[test]
    fn error_document_is_escaped() {
        let e = QueryError::new("NoSuchEntity", 404, "a <b> & 'c'");
        let x = e.to_xml(Some("https://iam.amazonaws.com/doc/2010-05-08/"), "rid");
        assert!(x.contains("<Code>NoSuchEntity</Code>"));
        assert!(x.contains("a &lt;b&gt; &amp; &apos;c&apos;"));
        assert!(x.contains("<Type>Sender</Type>"));
    }
}
