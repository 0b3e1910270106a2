//! The report page: one self-contained HTML document with the charts inlined as SVG.
//!
//! No scripts, no fonts, no images, no links to anything: the file opens from disk with no
//! network. Every element is closed (void elements are self-closed), so the page also parses
//! as XML. Text from the model or the input is escaped.

use std::fmt::Write as _;

use super::charts;
use super::findings::InputFindings;
use super::format;
use super::html::escape;
use super::options::ReportOptions;
use super::quantile;
use super::summary;
use crate::error::Result;
use crate::model::{ModelSummary, quantile_sorted};

/// Quantiles compared between training and input errors, with their row labels.
const QUANTILES: [(f64, &str); 6] = [
    (0.5, "median"),
    (0.9, "90th percentile"),
    (0.95, "95th percentile"),
    (0.99, "99th percentile"),
    (0.999, "99.9th percentile"),
    (1.0, "maximum"),
];

const STYLE: &str = r#"
:root { --ink: #222; --muted: #6e6e6e; --line: #e2e4e9; --bg: #f5f6f8; --alarm: #d62728; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 40px; }
header h1 { margin: 0; font-size: 26px; font-weight: 650; word-break: break-all; }
header p { margin: 4px 0 0; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px;
  margin: 20px 0; }
h2 { margin: 0 0 6px; font-size: 19px; font-weight: 650; }
p { margin: 6px 0; }
.note { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px;
  margin: 14px 0 18px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .k { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.card .v { font-size: 21px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card.warn { border-color: var(--alarm); }
.card.warn .v { color: var(--alarm); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; }
table.facts th { width: 170px; }
table.quantiles { width: auto; min-width: 420px; margin-top: 12px; }
table.quantiles td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 12px 0 0; }
svg { max-width: 100%; height: auto; display: block; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 16px;
  margin-top: 12px; }
.grid figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 10px 6px 4px; }
figcaption { font-weight: 600; margin: 0 0 2px 8px; }
figcaption span { font-weight: 400; color: var(--muted); }
.flag { color: var(--alarm); }
footer { color: var(--muted); font-size: 13px; text-align: center; margin-top: 24px; }
"#;

/// The whole report for a model (`title` names it, e.g. its file) and, optionally, an input
/// scored with it.
pub fn render(
    title: &str,
    summary: &ModelSummary,
    input: Option<&InputFindings>,
    options: &ReportOptions,
) -> Result<String> {
    let mut page = String::with_capacity(256 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>aeflow report: {t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <header><h1>{t}</h1><p>autoencoder report{source}</p></header>\n",
        t = escape(title),
        source = input
            .map(|i| format!(" · input {}", escape(&i.source)))
            .unwrap_or_default(),
    );
    model_section(&mut page, summary);
    training_section(&mut page, summary)?;
    errors_section(&mut page, summary, input)?;
    latent_section(&mut page, summary, input)?;
    anomalies_section(&mut page, summary, input, options)?;
    let _ = write!(
        page,
        "<footer>aeflow {} · a self-contained page: no scripts, no network access</footer>\n\
         </main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    Ok(page)
}

fn model_section(page: &mut String, s: &ModelSummary) {
    page.push_str("<section id=\"model\">\n<h2>Model</h2>\n<div class=\"cards\">\n");
    for card in summary::cards(s) {
        let _ = writeln!(
            page,
            "<div class=\"card{}\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
            if card.warn { " warn" } else { "" },
            escape(card.label),
            escape(&card.value)
        );
    }
    page.push_str("</div>\n<table class=\"facts\">\n");
    for (label, value) in summary::facts(s) {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(&value)
        );
    }
    page.push_str("</table>\n</section>\n");
}

fn training_section(page: &mut String, s: &ModelSummary) -> Result<()> {
    page.push_str("<section id=\"training\">\n<h2>Training</h2>\n");
    match charts::loss_curves(&s.history)? {
        None => note(page, "This model stores no training history."),
        Some(svg) => {
            let epochs = s.history.len();
            let per_epoch = s.history.iter().map(|r| r.seconds).sum::<f64>() / epochs as f64;
            let mut text = format!(
                "Loss per epoch over {epochs} epoch{}, {} per epoch on average.",
                if epochs == 1 { "" } else { "s" },
                format::duration(per_epoch)
            );
            if s.history.iter().all(|r| r.val_loss.is_none()) {
                text.push_str(
                    " No validation split was held out, so only the training loss is shown.",
                );
            }
            paragraph(page, &text);
            figure(page, &svg);
        }
    }
    page.push_str("</section>\n");
    Ok(())
}

fn errors_section(
    page: &mut String,
    s: &ModelSummary,
    input: Option<&InputFindings>,
) -> Result<()> {
    page.push_str("<section id=\"errors\">\n<h2>Reconstruction errors</h2>\n");
    paragraph(
        page,
        "A row's reconstruction error is the mean squared error over its features, in the \
         scaled units the network sees. Rows above the threshold are flagged as anomalies.",
    );
    if let Some(i) = input {
        paragraph(page, &input_counts(i, s.threshold));
    }
    let input_errors = input.map(|i| charts::InputErrors {
        errors: &i.errors,
        rows: i.rows_scored(),
    });
    match charts::error_distribution(&s.error_quantiles, input_errors, s.threshold)? {
        Some(svg) => figure(page, &svg),
        None => note(
            page,
            "No error distribution is stored in this model and no input was given.",
        ),
    }
    page.push_str("<table class=\"quantiles\">\n<tr><th></th><th>training</th>");
    if input.is_some() {
        page.push_str("<th>input</th>");
    }
    page.push_str("</tr>\n");
    for (q, label) in QUANTILES {
        let cell = |v: Option<f64>| v.map_or("–".to_string(), format::number);
        let _ = write!(
            page,
            "<tr><th>{label}</th><td class=\"num\">{}</td>",
            cell(quantile::from_pairs(&s.error_quantiles, q))
        );
        if let Some(i) = input {
            let _ = write!(
                page,
                "<td class=\"num\">{}</td>",
                cell(quantile_sorted(&i.errors, q))
            );
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n</section>\n");
    Ok(())
}

/// `Of 10,000 rows of data.parquet, 104 (1.04 %) are above the threshold 0.25.` plus notes on
/// skipped and sampled rows.
fn input_counts(i: &InputFindings, threshold: Option<f64>) -> String {
    let scored = i.rows_scored();
    let mut text = format!("{} of {} scored", format::rows(scored), i.source);
    match (i.rows_above_threshold, threshold) {
        (Some(above), Some(t)) if scored > 0 => {
            let _ = write!(
                text,
                "; {} ({}) above the threshold {}.",
                format::integer(above),
                format::percent(above as f64 / scored as f64),
                format::number(t)
            );
        }
        _ => text.push('.'),
    }
    if i.rows_skipped_missing > 0 {
        let _ = write!(
            text,
            " {} skipped: a feature was missing or infinite and the model rejects missing values.",
            format::rows(i.rows_skipped_missing)
        );
    }
    if i.rows_non_finite > 0 {
        let _ = write!(
            text,
            " {} had a non-finite error (values too large to square) and are left out.",
            format::rows(i.rows_non_finite)
        );
    }
    if i.errors_sampled {
        let _ = write!(
            text,
            " The input's distribution is drawn from a uniform sample of {}.",
            format::rows(i.errors.len() as u64)
        );
    }
    text
}

fn latent_section(
    page: &mut String,
    s: &ModelSummary,
    input: Option<&InputFindings>,
) -> Result<()> {
    page.push_str("<section id=\"latent\">\n<h2>Latent space</h2>\n");
    let view = match input.and_then(|i| i.latent.as_ref()) {
        Some(sample) => charts::latent_space(sample, s.threshold)?.map(|v| (sample, v)),
        None => None,
    };
    match (input, view) {
        (None, _) => note(
            page,
            "Give an input file (--input FILE) to see where its rows sit in the latent space.",
        ),
        (Some(_), None) => note(
            page,
            "No row of the input could be scored, so there is nothing to show.",
        ),
        (Some(i), Some((sample, view))) => {
            let shown = format::rows(sample.rows.len() as u64);
            let sampled = if (sample.rows.len() as u64) < i.rows_scored() {
                format!("{shown} sampled uniformly from the input")
            } else {
                format!("All {shown} of the input")
            };
            paragraph(
                page,
                &format!(
                    "{sampled}, shown as {}. Colour is the reconstruction error: \
                     dark = well reconstructed, yellow = badly reconstructed.",
                    view.method
                ),
            );
            figure(page, &view.svg);
        }
    }
    page.push_str("</section>\n");
    Ok(())
}

fn anomalies_section(
    page: &mut String,
    s: &ModelSummary,
    input: Option<&InputFindings>,
    options: &ReportOptions,
) -> Result<()> {
    page.push_str("<section id=\"anomalies\">\n<h2>Top anomalies</h2>\n");
    let top = input.map(|i| i.top.as_slice()).unwrap_or_default();
    if input.is_none() {
        note(
            page,
            "Give an input file (--input FILE) to see its worst reconstructed rows and why.",
        );
    } else if top.is_empty() {
        note(page, "No row of the input could be scored.");
    } else {
        paragraph(
            page,
            &format!(
                "The {} with the largest reconstruction error (rows numbered from 0 in file order). \
                 Each bar is one feature's squared error in scaled units, largest first (at most {} \
                 per row); the label gives the feature, its value and the model's reconstruction in \
                 original units; the percentage is the feature's share of the row's error.",
                format::rows(top.len() as u64),
                options.features_per_anomaly
            ),
        );
        page.push_str("<div class=\"grid\">\n");
        for a in top {
            let svg = charts::anomaly_features(a, &s.features, options.features_per_anomaly)?;
            let ratio = match s.threshold {
                Some(t) if t > 0.0 => {
                    let class = if a.error > t { "flag" } else { "" };
                    format!(
                        " · <span class=\"{class}\">{}× the threshold</span>",
                        format::number(a.error / t)
                    )
                }
                _ => String::new(),
            };
            let _ = write!(
                page,
                "<figure>\n<figcaption>Row {} <span>· error {}{ratio}</span></figcaption>\n{svg}</figure>\n",
                format::integer(a.row),
                format::number(a.error),
            );
        }
        page.push_str("</div>\n");
    }
    page.push_str("</section>\n");
    Ok(())
}

fn paragraph(page: &mut String, text: &str) {
    let _ = writeln!(page, "<p>{}</p>", escape(text));
}

fn note(page: &mut String, text: &str) {
    let _ = writeln!(page, "<p class=\"note\">{}</p>", escape(text));
}

fn figure(page: &mut String, svg: &str) {
    let _ = write!(page, "<figure>\n{svg}</figure>\n");
}
