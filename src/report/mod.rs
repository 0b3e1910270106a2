//! Self-contained HTML report with SVG plots (owner: report work).
