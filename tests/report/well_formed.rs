//! Checks that a report page is well-formed (parses as XML) and self-contained.

/// Elements HTML defines as void; in the report they must be self-closed (`<meta …/>`).
const VOID: [&str; 6] = ["meta", "br", "hr", "img", "input", "link"];

/// Parse `page` as XML-ish markup: every tag closed in order, attributes quoted, `&` only in
/// entities, one root element `html`. `<!DOCTYPE>` and the raw text of `<style>` are skipped.
/// Returns how many elements were seen.
pub fn check_well_formed(page: &str) -> Result<usize, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut elements = 0;
    let b = page.as_bytes();
    let mut i = 0;
    let line = |at: usize| page[..at].matches('\n').count() + 1;
    while i < b.len() {
        if b[i] == b'&' {
            let end = page[i..]
                .find(';')
                .map(|e| i + e)
                .ok_or(format!("bare & on line {}", line(i)))?;
            let entity = &page[i + 1..end];
            let ok = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
                || (entity.starts_with('#')
                    && entity[1..].chars().all(|c| c.is_ascii_digit())
                    && entity.len() > 1);
            if !ok {
                return Err(format!("unknown entity &{entity}; on line {}", line(i)));
            }
            i = end + 1;
            continue;
        }
        if b[i] == b'>' {
            return Err(format!("stray > on line {}", line(i)));
        }
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if page[i..].starts_with("<!--") {
            i += page[i..].find("-->").ok_or("unclosed comment")? + 3;
            continue;
        }
        if page[i..].starts_with("<!") {
            if stack.is_empty()
                && roots == 0
                && page[i..]
                    .to_ascii_lowercase()
                    .starts_with("<!doctype html>")
            {
                i += "<!doctype html>".len();
                continue;
            }
            return Err(format!("unexpected <! on line {}", line(i)));
        }
        let end = tag_end(page, i).ok_or(format!("unclosed tag on line {}", line(i)))?;
        let tag = &page[i + 1..end];
        i = end + 1;
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => {
                    return Err(format!("</{name}> closes <{open}> on line {}", line(end)));
                }
                None => {
                    return Err(format!(
                        "</{name}> without an open tag on line {}",
                        line(end)
                    ));
                }
            }
            continue;
        }
        let self_closed = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        {
            return Err(format!("bad tag name '{name}' on line {}", line(end)));
        }
        check_attributes(&body[name.len()..])
            .map_err(|e| format!("<{name}> on line {}: {e}", line(end)))?;
        elements += 1;
        if stack.is_empty() {
            roots += 1;
            if name != "html" || roots > 1 {
                return Err(format!("root element <{name}> (expected one <html>)"));
            }
        }
        if self_closed {
            continue;
        }
        if VOID.contains(&name.as_str()) {
            return Err(format!(
                "void element <{name}> is not self-closed on line {}",
                line(end)
            ));
        }
        if name == "style" {
            let close = page[i..].find("</style>").ok_or("unclosed <style>")?;
            if page[i..i + close].contains('<') {
                return Err("markup inside <style>".into());
            }
            i += close + "</style>".len();
            continue;
        }
        stack.push(name);
    }
    match stack.last() {
        Some(open) => Err(format!("<{open}> is never closed")),
        None if roots == 1 => Ok(elements),
        None => Err("no <html> element".into()),
    }
}

/// Index of the `>` ending the tag opened at `start`, skipping quoted attribute values.
fn tag_end(page: &str, start: usize) -> Option<usize> {
    let mut quote = None;
    for (j, c) in page[start + 1..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '<') => return None,
            (None, '>') => return Some(start + 1 + j),
            _ => {}
        }
    }
    None
}

/// `name="value"` pairs separated by whitespace; values quoted, no `<` in them, names unique.
fn check_attributes(mut rest: &str) -> Result<(), String> {
    let mut seen = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(());
        }
        let eq = rest
            .find('=')
            .ok_or(format!("attribute without value: {rest}"))?;
        let name = rest[..eq].trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("bad attribute name '{name}'"));
        }
        if seen.contains(&name) {
            return Err(format!("duplicate attribute {name}"));
        }
        seen.push(name);
        let after = &rest[eq + 1..];
        let q = after.chars().next().ok_or("attribute without value")?;
        if q != '"' && q != '\'' {
            return Err(format!("unquoted value of {name}"));
        }
        let close = after[1..]
            .find(q)
            .ok_or(format!("unterminated value of {name}"))?;
        let value = &after[1..1 + close];
        if value.contains('<') {
            return Err(format!("< in the value of {name}"));
        }
        rest = &after[close + 2..];
    }
}

/// Anything that would make the browser fetch something, run something or leave the file.
pub fn external_references(page: &str) -> Vec<&'static str> {
    let lower = page.to_ascii_lowercase();
    [
        "http:", "https:", "ftp:", "file:", "data:", "//", "src=", "href=", "url(", "@import",
        "<script", "<link", "<img", "<iframe", "<object", "<embed", "<image", "<use", "xlink:",
    ]
    .into_iter()
    .filter(|needle| lower.contains(needle))
    .collect()
}

#[test]
fn the_checker_catches_broken_pages() {
    let good = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><style>a > b { x: 1 }</style></head>\
                <body><p class='x'>a &amp; b &#39;</p><svg width=\"1\"><text>t</text></svg></body></html>";
    assert_eq!(check_well_formed(good), Ok(8));
    for bad in [
        "<html><p></html>",
        "<html><p></b></p></html>",
        "<html><meta charset=\"x\"></html>",
        "<html><p a=b></p></html>",
        "<html>a & b</html>",
        "<html></html><html></html>",
        "<html><p a=\"1\" a=\"2\"></p></html>",
        "<body></body>",
        "<html><p>",
    ] {
        assert!(check_well_formed(bad).is_err(), "accepted: {bad}");
    }
    assert!(external_references(good).is_empty());
    assert_eq!(
        external_references("<img src=\"https://x\">"),
        vec!["https:", "//", "src=", "<img"]
    );
}
