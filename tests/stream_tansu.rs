//! End-to-end test of the real `aeflow stream` binary against a Tansu broker running as a separate
//! process on loopback: produce valid and malformed messages, SIGKILL the stage mid-stream, restart
//! it, then stop it with SIGTERM, and prove that every valid input is in the output topic and every
//! malformed one in the dead-letter topic (at-least-once: duplicates are allowed, loss is not).
//!
//! Needs a running broker: `scripts/tansu.sh install && scripts/tansu.sh start 19092`, then
//! `AEFLOW_TANSU_BROKERS=127.0.0.1:19092 cargo test --test stream_tansu`. scripts/test.sh does
//! all of this. Without `AEFLOW_TANSU_BROKERS` the test fails and says so.

mod stream_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use stream_support::*;

fn brokers() -> String {
    std::env::var("AEFLOW_TANSU_BROKERS").unwrap_or_else(|_| {
        panic!(
            "AEFLOW_TANSU_BROKERS is not set, so there is no Tansu broker to test against. Start one \
             with `scripts/tansu.sh install && scripts/tansu.sh start 19092` and run \
             `AEFLOW_TANSU_BROKERS=127.0.0.1:19092 cargo test --test stream_tansu` \
             (scripts/test.sh does this), then `scripts/tansu.sh stop`."
        )
    })
}

fn create_topics(brokers: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .expect("create topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

fn start_stage(
    brokers: &str,
    model: &std::path::Path,
    t: &Topics,
    log: &std::path::Path,
    extra: &[&str],
) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_aeflow"))
        .args(["stream", "--brokers", brokers, "--group-id", &t.group])
        .args([
            "--input-topic",
            &t.input,
            "--output-topic",
            &t.output,
            "--dlq-topic",
            &t.dlq,
        ])
        .arg("--model")
        .arg(model)
        .args(["--batch-size", "200", "--linger-ms", "10"])
        .args(["--kafka-option", "session.timeout.ms=6000"])
        .args(["--kafka-option", "heartbeat.interval.ms=500"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start aeflow stream")
}

struct Topics {
    input: String,
    output: String,
    dlq: String,
    group: String,
}

/// The `id` fields of JSON records.
fn ids_of(records: &[Record]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(r.payload.as_deref()?).ok())
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

/// The stage's own log lines (not librdkafka's), for failure messages.
fn stage_log(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("aeflow::"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("aeflow stream did not exit within {timeout:?} after a stop signal");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigkill_and_restart_lose_no_valid_message_and_dead_letter_every_malformed_one() {
    let brokers = brokers();
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let t = Topics {
        input: format!("e2e-in-{run}"),
        output: format!("e2e-out-{run}"),
        dlq: format!("e2e-dlq-{run}"),
        group: format!("e2e-{run}"),
    };
    create_topics(&brokers, &[(&t.input, 3), (&t.output, 3), (&t.dlq, 1)]);

    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train_model(dir.path(), "e2e", 6, 42);

    // 30 000 messages, one in 50 malformed in one of seven ways.
    let n = 30_000;
    let x = rows(n, 6, 43);
    let malformed = [
        "{\"f0\": 1, \"f1\":",
        "plain text",
        "[1,2,3,4,5,6]",
        "{\"f0\":1,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5}",
        "{\"f0\":1,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5,\"f5\":\"six\"}",
        "{\"f0\":1e999,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5,\"f5\":6}",
        "",
    ];
    let mut valid = BTreeSet::new();
    let mut bad = BTreeSet::new();
    let inputs: Vec<Input> = (0..n)
        .map(|i| {
            let key = format!("k{}", i % 97);
            if i % 50 == 25 {
                bad.insert(i);
                let payload = malformed[(i / 50) % malformed.len()];
                Input::new(payload).key(key).header("n", &i.to_string())
            } else {
                valid.insert(format!("id-{i}"));
                Input::new(json_row(&x, i, &format!("id-{i}")))
                    .key(key)
                    .header("n", &i.to_string())
            }
        })
        .collect();
    // One record per batch: Tansu 0.6 (tansu-storage, dynostore `fetch`) answers a fetch from
    // offset o with the stored batches whose *base* offset is ≥ o, so a fetch from an offset
    // inside a multi-record batch silently skips the rest of that batch. Kafka returns the batch
    // containing o. A consumer resuming from a committed offset inside a batch (what the restart
    // below does) would lose records through the broker, not the stage; with one record per
    // batch every offset is a batch boundary.
    produce_batched(&brokers, &t.input, &inputs, true);
    // Tansu 0.6 answers ListOffsets(latest) with wrong numbers, so progress is followed through
    // the group's committed offsets: they start at 0 and sum to the messages processed.
    let committed_sum = |b: &str| -> i64 {
        committed(b, &t.group, &t.input)
            .iter()
            .map(|o| (*o).max(0))
            .sum()
    };

    // First run: killed with SIGKILL once part of the input is done.
    let log1 = dir.path().join("stage1.log");
    let mut first = start_stage(&brokers, &model, &t, &log1, &[]);
    wait_until(
        "a fifth of the input committed before the kill",
        Duration::from_secs(120),
        || {
            if let Ok(Some(s)) = first.try_wait() {
                panic!(
                    "aeflow stream exited early ({s}): {}",
                    std::fs::read_to_string(&log1).unwrap_or_default()
                );
            }
            committed_sum(&brokers) > (n / 5) as i64
        },
    );
    first.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    first.wait().unwrap();
    let committed_at_kill = committed_sum(&brokers);
    let committed_per_partition = committed(&brokers, &t.group, &t.input);
    assert!(
        committed_at_kill < n as i64,
        "the kill happened mid-stream ({committed_at_kill} committed)"
    );

    // Second run: resumes from the committed offsets and finishes.
    let log2 = dir.path().join("stage2.log");
    let mut second = start_stage(&brokers, &model, &t, &log2, &[]);
    wait_until(
        "every input committed after the restart",
        Duration::from_secs(240),
        || {
            if let Ok(Some(s)) = second.try_wait() {
                panic!(
                    "aeflow stream exited early ({s}): {}",
                    std::fs::read_to_string(&log2).unwrap_or_default()
                );
            }
            committed_sum(&brokers) == n as i64
        },
    );
    // SIGTERM: a clean stop with exit status 0.
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let exit = wait_exit(&mut second, Duration::from_secs(60));
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}\n{}",
        std::fs::read_to_string(&log2).unwrap_or_default()
    );

    // Every valid input is in the output, with its key and headers; nothing else is.
    let out = read_topic_until(
        &brokers,
        &t.output,
        Duration::from_secs(180),
        "read_uncommitted",
        Duration::from_secs(2),
        |recs| ids_of(recs).is_superset(&valid),
    );
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in &out {
        let v = r.json();
        let id = v["id"].as_str().expect("id carried through").to_string();
        let i: usize = id[3..].parse().unwrap();
        assert_eq!(r.key_str(), format!("k{}", i % 97));
        assert_eq!(r.header("n"), Some(i.to_string()));
        assert!(v["reconstruction_error"].is_number());
        *seen.entry(id).or_default() += 1;
    }
    let seen_ids: BTreeSet<String> = seen.keys().cloned().collect();
    let missing: BTreeSet<&String> = valid.difference(&seen_ids).collect();
    if !missing.is_empty() {
        // Where the missing inputs sit, against the offsets committed when the stage was killed.
        let input = read_topic(&brokers, &t.input, n, Duration::from_secs(60));
        let mut at: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for r in &input {
            if ids_of(std::slice::from_ref(r))
                .iter()
                .any(|id| missing.contains(id))
            {
                at.entry(r.partition).or_default().push(r.offset);
            }
        }
        let at: Vec<String> = at
            .iter()
            .map(|(p, o)| {
                format!(
                    "partition {p}: {} from offset {:?} to {:?}",
                    o.len(),
                    o.first(),
                    o.last()
                )
            })
            .collect();
        panic!(
            "{} valid inputs missing from the output ({}); committed at the kill: {committed_per_partition:?}\nfirst run:\n{}\nsecond run:\n{}",
            missing.len(),
            at.join("; "),
            stage_log(&log1),
            stage_log(&log2)
        );
    }
    assert_eq!(seen_ids, valid);

    // Every malformed input is in the DLQ, unchanged, with its source offset; nothing else is.
    let dead = read_topic(&brokers, &t.dlq, bad.len(), Duration::from_secs(120));
    let dead_inputs: BTreeSet<usize> = dead
        .iter()
        .map(|d| {
            let i: usize = d.header("n").unwrap().parse().unwrap();
            assert_eq!(d.text(), malformed[(i / 50) % malformed.len()]);
            assert!(d.header("aeflow.dlq.reason").is_some());
            assert_eq!(
                d.header("aeflow.source.topic").as_deref(),
                Some(t.input.as_str())
            );
            assert!(
                d.header("aeflow.source.offset")
                    .unwrap()
                    .parse::<i64>()
                    .is_ok()
            );
            i
        })
        .collect();
    assert_eq!(dead_inputs, bad);

    // A third run with nothing left to read: its periodic summary lines appear every second
    // (`--summary-secs 1`), and SIGINT (Ctrl-C) stops it cleanly too.
    let log3 = dir.path().join("stage3.log");
    let mut third = start_stage(&brokers, &model, &t, &log3, &["--summary-secs", "1"]);
    let summaries = || {
        std::fs::read_to_string(&log3)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("stream: in "))
            .count()
    };
    wait_until(
        "three periodic summary lines",
        Duration::from_secs(60),
        || {
            if let Ok(Some(s)) = third.try_wait() {
                panic!("aeflow stream exited early ({s}): {}", stage_log(&log3));
            }
            summaries() >= 3
        },
    );
    let status = Command::new("kill")
        .args(["-INT", &third.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(status.success());
    let exit = wait_exit(&mut third, Duration::from_secs(60));
    assert!(
        exit.success(),
        "exit after SIGINT: {exit}\n{}",
        stage_log(&log3)
    );
    let after = summaries();
    assert!(
        after >= 4,
        "a last summary line at exit: {after} summaries\n{}",
        stage_log(&log3)
    );

    let duplicates = out.len() - valid.len();
    eprintln!(
        "e2e: {n} inputs, killed at {committed_at_kill} committed ({committed_per_partition:?} per partition), {} outputs ({duplicates} duplicates re-sent after the kill), {} dead letters",
        out.len(),
        dead.len()
    );
}
