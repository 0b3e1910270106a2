//! HTML escaping for text and attribute values placed into the report.
//!
//! Everything that comes from a model file or an input file (feature names, paths, kind
//! parameters) passes through [`escape`] before it reaches the page, so a feature named
//! `<script>` is shown, not run, and the document stays well-formed.

/// Escape `&`, `<`, `>`, `"` and `'` so `text` is safe in element content and in quoted
/// attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }

    #[test]
    fn leaves_plain_and_unicode_text_alone() {
        assert_eq!(escape("température °C → 5"), "température °C → 5");
        assert_eq!(escape(""), "");
    }
}
