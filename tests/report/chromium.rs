//! Rendering a page in real headless Chromium and taking a screenshot.
//!
//! The browser is `$AEFLOW_CHROMIUM`, or `chromium` on the PATH (Debian: `apt-get install
//! chromium`). It runs with a fresh profile, no network services, and a time limit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One browser at a time: each takes a few hundred MB and the machine has 2 cores.
static BROWSER: Mutex<()> = Mutex::new(());

const WINDOW: (u32, u32) = (1200, 2000);
const TIME_LIMIT: Duration = Duration::from_secs(120);

fn browser() -> String {
    std::env::var("AEFLOW_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Screenshot `page` (an HTML file) into a PNG next to it and return the PNG's path.
pub fn screenshot(page: &Path) -> PathBuf {
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let page = page.canonicalize().expect("report path");
    let dir = tempfile::tempdir().expect("temp dir for the browser profile");
    let png = page.with_extension("png");
    let log = dir.path().join("chromium.log");
    let browser = browser();
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("browser log file"))
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start the browser '{browser}' ({e}). The report tests render pages in \
                 headless Chromium: run `apt-get install chromium`, or set AEFLOW_CHROMIUM to \
                 a Chromium binary"
            )
        });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the browser") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{browser} did not finish a screenshot of {} within {TIME_LIMIT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success() && png.exists(),
        "{browser} failed ({status}) to screenshot {}; its log:\n{log}",
        page.display()
    );
    png
}

/// The window size screenshots are taken at.
pub fn window() -> (usize, usize) {
    (WINDOW.0 as usize, WINDOW.1 as usize)
}
