//! End-to-end tests of the real `aeflow stream` binary against a Tansu broker running as a separate
//! process on loopback (at-least-once: duplicates are allowed, loss is not):
//! - SIGKILL the stage mid-stream, restart it, stop it with SIGTERM: every valid input is in the
//!   output topic and every malformed one in the dead-letter topic;
//! - SIGTERM while one large batch is in flight: the stage finishes it, commits exactly what was
//!   produced and exits 0;
//! - SIGKILL a stage with an adaptive threshold and restart it: it resumes with the same threshold
//!   from its state topic.
//! - a fault soak: input produced in five chunks, between them the stage SIGKILLed twice (while
//!   reading) and the broker itself stopped with SIGTERM and with SIGKILL (once the chunk is
//!   committed), each time started again on its SQLite storage: nothing lost, every malformed input
//!   dead-lettered.
//!
//! The first two need a running broker: `scripts/tansu.sh install && scripts/tansu.sh start 19092`,
//! then `AEFLOW_TANSU_BROKERS=127.0.0.1:19092 cargo test --test stream_tansu`. Without
//! `AEFLOW_TANSU_BROKERS` they fail and say so. The soak starts brokers of its own from the binary
//! `scripts/tansu.sh install` builds (`$AEFLOW_TANSU_BIN`, else `$AEFLOW_TOOLS/bin/tansu`, else
//! `~/.cache/aeflow/bin/tansu`), on a free loopback port, with SQLite storage in a temporary
//! directory: Tansu's memory storage would lose every topic at the restart. scripts/test.sh does all
//! of this.

mod stream_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
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
        .args(if extra.contains(&"--batch-size") {
            &[][..]
        } else {
            &["--batch-size", "200", "--linger-ms", "10"][..]
        })
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

fn wait_until(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    wait_until_or(what, timeout, cond, String::new);
}

/// [`wait_until`], with `context()` (logs, state) in the failure message.
fn wait_until_or(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
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

/// Malformed payloads, in turn one in 50 inputs: cut JSON, not JSON, an array, a missing feature,
/// a non-numeric feature, an overflowing number, an empty message.
const MALFORMED: [&str; 7] = [
    "{\"f0\": 1, \"f1\":",
    "plain text",
    "[1,2,3,4,5,6]",
    "{\"f0\":1,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5}",
    "{\"f0\":1,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5,\"f5\":\"six\"}",
    "{\"f0\":1e999,\"f1\":2,\"f2\":3,\"f3\":4,\"f4\":5,\"f5\":6}",
    "",
];

/// Inputs for a model on f0…f5, and what must come out of them.
struct Workload {
    /// Input `i` has key [`Workload::key`]`(i)` and, with `headers`, header `n = i`; valid ones
    /// carry `id = "id-{i}"`.
    inputs: Vec<Input>,
    /// The ids of the valid inputs.
    valid: BTreeSet<String>,
    /// The indices of the malformed inputs.
    bad: BTreeSet<usize>,
    /// Whether inputs carry the header `n`.
    headers: bool,
}

impl Workload {
    /// The key of input `i`: `k{i % 97}` (keys repeat) with headers, `n{i}` (the index) without.
    fn key(&self, i: usize) -> String {
        if self.headers {
            format!("k{}", i % 97)
        } else {
            format!("n{i}")
        }
    }

    /// The index of the input a record (output or dead letter) came from: its header `n`, or its
    /// key when inputs carry no header.
    fn index_of(&self, r: &Record) -> usize {
        let n = if self.headers {
            r.header("n").expect("header n carried through")
        } else {
            r.key_str()[1..].to_string()
        };
        n.parse()
            .unwrap_or_else(|e| panic!("input index {n:?}: {e}"))
    }
}

/// `n` JSON inputs with header `n`, every 50th (from the 25th) malformed in one of the ways of
/// [`MALFORMED`].
fn workload(n: usize, seed: u64) -> Workload {
    workload_with(n, seed, true)
}

/// [`workload`], with or without the header `n` on each input.
fn workload_with(n: usize, seed: u64, headers: bool) -> Workload {
    let x = rows(n, 6, seed);
    let mut w = Workload {
        inputs: Vec::with_capacity(n),
        valid: BTreeSet::new(),
        bad: BTreeSet::new(),
        headers,
    };
    for i in 0..n {
        let input = if i % 50 == 25 {
            w.bad.insert(i);
            Input::new(MALFORMED[(i / 50) % MALFORMED.len()])
        } else {
            w.valid.insert(format!("id-{i}"));
            Input::new(json_row(&x, i, &format!("id-{i}")))
        };
        let input = input.key(w.key(i));
        w.inputs.push(if headers {
            input.header("n", &i.to_string())
        } else {
            input
        });
    }
    w
}

/// Reads the output topic until every valid input of `w` is there and checks each output (key,
/// header and score carried through, nothing else in the topic), then the dead-letter topic: exactly
/// the malformed inputs, unchanged, with a reason and their source. Returns the numbers of outputs
/// and dead letters read. `context` (offsets, logs) is printed with a failure.
fn check_delivered(brokers: &str, t: &Topics, w: &Workload, context: &str) -> (usize, usize) {
    let out = read_topic_until(
        brokers,
        &t.output,
        Duration::from_secs(180),
        "read_uncommitted",
        Duration::from_secs(2),
        |recs| ids_of(recs).is_superset(&w.valid),
    );
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for r in &out {
        let v = r.json();
        let id = v["id"].as_str().expect("id carried through").to_string();
        let i: usize = id[3..].parse().unwrap();
        assert_eq!(r.key_str(), w.key(i));
        assert_eq!(w.index_of(r), i);
        assert!(v["reconstruction_error"].is_number());
        seen.insert(id);
    }
    let missing: BTreeSet<&String> = w.valid.difference(&seen).collect();
    if !missing.is_empty() {
        // Where the missing inputs sit in the input topic.
        let input = read_topic(brokers, &t.input, w.inputs.len(), Duration::from_secs(60));
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
            "{} valid inputs missing from the output ({}); {context}",
            missing.len(),
            at.join("; ")
        );
    }
    assert_eq!(seen, w.valid, "outputs of inputs that are not valid");

    let dead = read_topic(brokers, &t.dlq, w.bad.len(), Duration::from_secs(120));
    let dead_inputs: BTreeSet<usize> = dead
        .iter()
        .map(|d| {
            let i = w.index_of(d);
            assert_eq!(d.text(), MALFORMED[(i / 50) % MALFORMED.len()]);
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
    assert_eq!(dead_inputs, w.bad, "dead letters; {context}");
    (out.len(), dead.len())
}

/// Topic and group names unique to this run (Tansu keeps topics for the broker's lifetime).
fn topics(prefix: &str) -> Topics {
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Topics {
        input: format!("{prefix}-in-{run}"),
        output: format!("{prefix}-out-{run}"),
        dlq: format!("{prefix}-dlq-{run}"),
        group: format!("{prefix}-{run}"),
    }
}

/// Sends `signal` (`TERM`, `INT`) to the stage.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {}", child.id());
}

#[test]
fn sigkill_and_restart_lose_no_valid_message_and_dead_letter_every_malformed_one() {
    let brokers = brokers();
    let t = topics("e2e");
    create_topics(&brokers, &[(&t.input, 3), (&t.output, 3), (&t.dlq, 1)]);

    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train_model(dir.path(), "e2e", 6, 42);

    // 30 000 messages, one in 50 malformed in one of seven ways.
    let n = 30_000;
    let w = workload(n, 43);
    // One record per batch: Tansu 0.6 (tansu-storage, dynostore `fetch`) answers a fetch from
    // offset o with the stored batches whose *base* offset is ≥ o, so a fetch from an offset
    // inside a multi-record batch silently skips the rest of that batch. Kafka returns the batch
    // containing o. A consumer resuming from a committed offset inside a batch (what the restart
    // below does) would lose records through the broker, not the stage; with one record per
    // batch every offset is a batch boundary.
    produce_batched(&brokers, &t.input, &w.inputs, true);
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
    signal(&second, "TERM");
    let exit = wait_exit(&mut second, Duration::from_secs(60));
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}\n{}",
        std::fs::read_to_string(&log2).unwrap_or_default()
    );

    let context = format!(
        "committed at the kill: {committed_per_partition:?}\nfirst run:\n{}\nsecond run:\n{}",
        stage_log(&log1),
        stage_log(&log2)
    );
    let (outputs, dead_letters) = check_delivered(&brokers, &t, &w, &context);

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
    signal(&third, "INT");
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

    let duplicates = outputs - w.valid.len();
    eprintln!(
        "e2e: {n} inputs, killed at {committed_at_kill} committed ({committed_per_partition:?} per partition), {outputs} outputs ({duplicates} duplicates re-sent after the kill), {dead_letters} dead letters"
    );
}

/// The metrics endpoint the stage logged ("metrics at http://ADDR/metrics"; `--metrics-addr
/// 127.0.0.1:0` lets it pick a free port).
fn logged_metrics_addr(log: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    let at = text.find("metrics at http://")? + "metrics at http://".len();
    text[at..].split('/').next()?.parse().ok()
}

/// The unlabelled samples of the stage's `/metrics`, by name; `None` when it does not answer.
fn scrape(addr: SocketAddr) -> Option<BTreeMap<String, f64>> {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    c.read_to_string(&mut text).ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with("aeflow_") && !l.contains('{'))
            .filter_map(|l| {
                let (name, value) = l.split_once(' ')?;
                Some((name.to_string(), value.trim().parse().ok()?))
            })
            .collect(),
    )
}

#[test]
fn sigterm_with_a_large_batch_in_flight_finishes_it_commits_exactly_what_was_produced_and_exits_0()
{
    let brokers = brokers();
    let t = topics("sigterm");
    create_topics(&brokers, &[(&t.input, 3), (&t.output, 3), (&t.dlq, 1)]);
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train_model(dir.path(), "sigterm", 6, 42);

    // 20 000 inputs placed round-robin by the test, so the number on each partition is known.
    let n = 20_000;
    let mut w = workload(n, 44);
    let mut produced = vec![0i64; 3];
    for (i, input) in w.inputs.iter_mut().enumerate() {
        input.partition = Some((i % 3) as i32);
        produced[i % 3] += 1;
    }
    produce_batched(&brokers, &t.input, &w.inputs, true); // one record per batch: see above

    // One batch of all the input: cut when full (the linger outlasts the test). Its outputs go out
    // in small produce requests, so the batch stays in flight for a while.
    let log = dir.path().join("stage.log");
    let batch = n.to_string();
    let mut stage = start_stage(
        &brokers,
        &model,
        &t,
        &log,
        &[
            "--batch-size",
            &batch,
            "--linger-ms",
            "600000",
            "--metrics-addr",
            "127.0.0.1:0",
            "--kafka-option",
            "producer.batch.num.messages=20",
        ],
    );
    let exited = |stage: &mut Child| {
        if let Ok(Some(s)) = stage.try_wait() {
            panic!("aeflow stream exited early ({s}): {}", stage_log(&log));
        }
    };
    let mut addr = None;
    wait_until(
        "the stage's metrics address",
        Duration::from_secs(60),
        || {
            exited(&mut stage);
            addr = logged_metrics_addr(&log);
            addr.is_some()
        },
    );
    let addr = addr.unwrap();
    // All consumed, so the full batch is cut; outputs and dead letters are counted only once every
    // record of a batch is acknowledged, so none counted means it is still in flight.
    let started = Instant::now();
    wait_until(
        "the batch of all the input in flight",
        Duration::from_secs(180),
        || {
            exited(&mut stage);
            scrape(addr).is_some_and(|m| {
                let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
                get("aeflow_stream_messages_in_total") == n as f64
                    && get("aeflow_stream_messages_out_total") == 0.0
                    && get("aeflow_stream_messages_dead_lettered_total") == 0.0
            })
        },
    );
    signal(&stage, "TERM");
    let signalled = Instant::now();
    let exit = wait_exit(&mut stage, Duration::from_secs(60));
    let stopping = signalled.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}\n{}",
        stage_log(&log)
    );
    assert!(
        text.contains("shutting down: finishing 1 batch(es) in flight and 0 gathered message(s)"),
        "the signal came while the batch was in flight:\n{}",
        stage_log(&log)
    );
    assert!(
        !text.contains("still in flight after"),
        "{}",
        stage_log(&log)
    );

    // Committed: exactly what was produced on each partition (offsets start at 0), no less and no
    // more, so a restart reads nothing again.
    assert_eq!(
        committed(&brokers, &t.group, &t.input),
        produced,
        "committed offsets after SIGTERM\n{}",
        stage_log(&log)
    );
    let (outputs, dead_letters) = check_delivered(&brokers, &t, &w, &stage_log(&log));
    assert_eq!(
        outputs,
        w.valid.len(),
        "each output written once (nothing failed, so nothing was re-sent)"
    );
    eprintln!(
        "sigterm: {n} inputs in one batch, SIGTERM {:?} after the stage started, exit {stopping:?} after it; {outputs} outputs, {dead_letters} dead letters, committed {produced:?}",
        signalled - started
    );
}

/// The adaptive threshold survives a SIGKILL on Tansu as on the mock cluster
/// (tests/stream_adaptive.rs): the stage writes its window's checkpoint to a state topic with each
/// batch and the restarted stage reads the last one back, so its first threshold is within 5 % of
/// the last one before the kill, although the stream's threshold lies far from the model's.
#[test]
fn an_adaptive_threshold_resumes_after_sigkill_from_the_state_topic() {
    let brokers = brokers();
    let t = topics("adaptive");
    let state = format!("{}-state", t.group);
    create_topics(
        &brokers,
        &[(&t.input, 1), (&t.output, 1), (&t.dlq, 1), (&state, 1)],
    );
    let dir = tempfile::tempdir().unwrap();
    let (model_path, model) = train_model(dir.path(), "adaptive", 6, 42);
    let n = 6000;
    // Every feature shifted by +2: the stream's errors lie far above the model's threshold.
    let x = rows(n, 6, 44).mapv(|v| v + 2.0);
    let inputs: Vec<Input> = (0..n)
        .map(|i| Input::new(json_row(&x, i, &format!("id-{i}"))).key(format!("k{}", i % 7)))
        .collect();
    // One record per batch (see the SIGKILL test above for Tansu's fetch inside a batch). The
    // second half only after the kill, so the restarted stage has rows to judge however fast the
    // first one was.
    produce_batched(&brokers, &t.input, &inputs[..n / 2], true);
    let extra = [
        "--threshold",
        "adaptive",
        "--threshold-window",
        "1000",
        "--state-topic",
        &state,
        "--batch-size",
        "100",
        "--linger-ms",
        "10",
    ];
    let committed_now = |b: &str| committed(b, &t.group, &t.input)[0].max(0);
    let log1 = dir.path().join("adaptive1.log");
    let mut first = start_stage(&brokers, &model_path, &t, &log1, &extra);
    wait_until("2000 inputs committed", Duration::from_secs(120), || {
        if let Ok(Some(s)) = first.try_wait() {
            panic!(
                "aeflow stream exited early ({s}): {}",
                std::fs::read_to_string(&log1).unwrap_or_default()
            );
        }
        committed_now(&brokers) > 2000
    });
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    let at_kill = committed_now(&brokers) as usize;
    produce_batched(&brokers, &t.input, &inputs[n / 2..], true);
    let before = read_topic_until(
        &brokers,
        &t.output,
        Duration::from_secs(60),
        "read_uncommitted",
        Duration::from_millis(1500),
        |r| r.len() >= at_kill,
    );
    let last = before.iter().max_by_key(|r| r.offset).expect("outputs");
    let t_kill = last.json()["threshold"].as_f64().unwrap();
    let model_threshold = model.threshold().unwrap();
    assert!(
        t_kill > 2.0 * model_threshold,
        "{t_kill} vs {model_threshold}"
    );

    // Tansu 0.6 can give a member that joins while the killed one's session is still open no
    // partition, and never rebalance when that session ends (seen in CI: "partitions assigned:
    // none" for 180 s). Join only after the killed member's session (6 s, `start_stage`) is over.
    std::thread::sleep(Duration::from_millis(6_500));
    let log2 = dir.path().join("adaptive2.log");
    let mut second = start_stage(&brokers, &model_path, &t, &log2, &extra);
    let all = read_topic_until(
        &brokers,
        &t.output,
        Duration::from_secs(180),
        "read_uncommitted",
        Duration::from_millis(1500),
        |r| ids_of(r).len() >= n,
    );
    signal(&second, "TERM");
    wait_exit(&mut second, Duration::from_secs(60));
    let log = stage_log(&log2);
    assert!(log.contains("resumes from a checkpoint"), "{log}");
    assert_eq!(ids_of(&all).len(), n, "{log}");
    let first_after = all
        .iter()
        .filter(|r| r.offset > last.offset)
        .min_by_key(|r| r.offset)
        .expect("outputs after the restart");
    let t_restart = first_after.json()["threshold"].as_f64().unwrap();
    eprintln!(
        "tansu adaptive restart: threshold at the kill {t_kill:.4}, first after the restart \
         {t_restart:.4} (model's {model_threshold:.4})"
    );
    assert!(
        (t_restart - t_kill).abs() / t_kill < 0.05,
        "threshold before the kill {t_kill}, after the restart {t_restart}"
    );
}

/// A Tansu broker of the soak test's own: a child process on a loopback port, with SQLite storage
/// in `dir` so that topics, records and committed offsets survive a stop. Killed on drop.
struct OwnBroker {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    starts: usize,
}

impl OwnBroker {
    /// Starts a broker on a free port. A port found free may be taken before Tansu binds it; Tansu
    /// then exits and another port is tried (at most ten).
    fn start(bin: PathBuf, dir: PathBuf) -> Self {
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let mut broker = OwnBroker {
                bin: bin.clone(),
                dir: dir.clone(),
                port,
                child: None,
                starts: 0,
            };
            if broker.spawn() {
                return broker;
            }
        }
        panic!(
            "tansu could not listen on any of ten free ports; see {:?}",
            dir
        );
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts Tansu on `self.port`; `true` once it accepts connections, `false` when it exited.
    fn spawn(&mut self) -> bool {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("tansu-{}.log", self.starts)))
            .expect("tansu log file");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut child = Command::new(&self.bin)
            .current_dir(&self.dir) // the SQLite file is relative to it
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        loop {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tansu did not listen on {addr} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the broker with `signal` (`TERM`: a clean stop; `KILL`: a crash), bounded.
    fn stop(&mut self, signal: &str) {
        let mut child = self.child.take().expect("a running broker");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tansu did not stop within 30 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The panics in the broker's logs so far (with the line after each: the message).
    fn panics(&self) -> Vec<String> {
        let mut found = Vec::new();
        for start in 1..=self.starts {
            let log = std::fs::read_to_string(self.dir.join(format!("tansu-{start}.log")))
                .unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                if l.contains("panicked at") {
                    let message = lines.get(i + 1).copied().unwrap_or_default();
                    found.push(format!("run {start}: {l} {message}"));
                }
            }
        }
        found
    }

    /// Starts the broker again on the same port and storage.
    fn restart(&mut self) {
        assert!(
            self.spawn(),
            "tansu did not start again on port {}; see {:?}",
            self.port,
            self.dir
        );
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The Tansu binary that scripts/tansu.sh installs.
fn tansu_bin() -> PathBuf {
    let bin = std::env::var_os("AEFLOW_TANSU_BIN")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("AEFLOW_TOOLS").map(|t| Path::new(&t).join("bin/tansu")))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/aeflow/bin/tansu")))
        .expect("AEFLOW_TANSU_BIN, AEFLOW_TOOLS or HOME");
    assert!(
        bin.is_file(),
        "no Tansu binary at {}: run `scripts/tansu.sh install` (or set AEFLOW_TANSU_BIN)",
        bin.display()
    );
    bin
}

/// Committed offsets of `group` on `partitions` partitions of `topic`, or `None` while the broker
/// cannot answer (it is restarting).
fn try_committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> Option<Vec<i64>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .ok()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(5)).ok()?;
    Some(
        got.elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            })
            .collect(),
    )
}

/// A stage process that is killed when dropped, so a failing soak leaves none behind retrying a
/// broker that is gone.
struct OwnStage(Child);

impl std::ops::Deref for OwnStage {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for OwnStage {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for OwnStage {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the stage with a metrics endpoint on a free port; returns it with the endpoint's address.
fn start_watched_stage(
    brokers: &str,
    model: &Path,
    t: &Topics,
    log: &Path,
) -> (OwnStage, SocketAddr) {
    let mut stage = OwnStage(start_stage(
        brokers,
        model,
        t,
        log,
        &["--metrics-addr", "127.0.0.1:0"],
    ));
    let mut addr = None;
    wait_until(
        "the stage's metrics address",
        Duration::from_secs(60),
        || {
            if let Ok(Some(s)) = stage.try_wait() {
                panic!("aeflow stream exited early ({s}): {}", stage_log(log));
            }
            addr = logged_metrics_addr(log);
            addr.is_some()
        },
    );
    (stage, addr.unwrap())
}

/// Messages the stage at `metrics` has read since it started (0 while it does not answer).
fn messages_in(metrics: SocketAddr) -> f64 {
    scrape(metrics)
        .and_then(|m| m.get("aeflow_stream_messages_in_total").copied())
        .unwrap_or(0.0)
}

/// A fault of the soak, after a chunk of the input is produced.
enum Fault {
    /// Once the stage reads part of the chunk, SIGKILL it and start it again.
    KillStage,
    /// Once the chunk is committed, stop the broker with this signal, keep it down two seconds,
    /// start it again.
    StopBroker(&'static str),
}

#[test]
fn fault_soak_stage_sigkills_and_broker_restarts_lose_nothing_and_dead_letter_every_malformed_one()
{
    let dir = tempfile::tempdir().unwrap();
    let mut broker = OwnBroker::start(tansu_bin(), dir.path().to_path_buf());
    let brokers = broker.brokers();
    let t = topics("soak");
    create_topics(&brokers, &[(&t.input, 3), (&t.output, 3), (&t.dlq, 1)]);
    let (model, _) = train_model(dir.path(), "soak", 6, 42);

    // No input headers: Tansu 0.6's SQLite `header` table has no index, so fetching a record
    // scans every header stored (`SCAN h` in header_fetch.sql's plan), quadratic in headered
    // records. Inputs are told apart by their keys instead. Produced in multi-record batches:
    // the SQLite engine stores a row per record and fetches `offset_id >= o`, so a consumer
    // resuming inside a batch misses nothing (unlike the memory storage, see above).
    let n = 5_000;
    let w = workload_with(n, 45, false);
    let chunk = n / 5;
    let committed_sum = || -> Option<i64> {
        try_committed(&brokers, &t.group, &t.input, 3).map(|c| c.iter().map(|o| (*o).max(0)).sum())
    };

    // The input goes in five chunks, a fault after each of the first four, so every fault comes
    // with input still to be produced. The stage is killed as soon as it reads part of its chunk
    // (its metrics say so): batches in flight. The broker is stopped once the chunk is committed,
    // the stage idle: stopped while the stage was still producing, in 6 of 8 runs nothing could be
    // produced after the restart; in the two whose broker logs were kept, Tansu 0.6's SQLite engine
    // had panicked in its one storage task (lite.rs `idempotent_message_check` on the stage's
    // idempotent produce requests: "more or less than one row"; then `unreachable!()` in group
    // requests) and reset every connection from then on.
    let faults = [
        Fault::KillStage,
        Fault::StopBroker("TERM"),
        Fault::StopBroker("KILL"),
        Fault::KillStage,
    ];
    let mut logs = vec![dir.path().join("stage-1.log")];
    let (mut stage, mut metrics) = start_watched_stage(&brokers, &model, &t, &logs[0]);
    let all_logs = |logs: &[PathBuf]| -> String {
        logs.iter()
            .enumerate()
            .map(|(i, l)| format!("run {}:\n{}", i + 1, stage_log(l)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let state = |broker: &OwnBroker, at_fault: &[(i64, f64)], logs: &[PathBuf]| {
        format!(
            "committed now: {:?}; (committed, read) at each fault: {at_fault:?}\nTansu panics: {:#?}\n{}",
            committed_sum(),
            broker.panics(),
            all_logs(logs)
        )
    };
    // (committed offsets' sum, messages the running stage had read) at each fault
    let mut at_fault = Vec::new();
    let started = Instant::now();
    for (k, fault) in faults.iter().enumerate() {
        let read_before = messages_in(metrics);
        produce_batched(
            &brokers,
            &t.input,
            &w.inputs[k * chunk..(k + 1) * chunk],
            false,
        );
        let produced = ((k + 1) * chunk) as i64;
        let what = match fault {
            Fault::KillStage => format!("the stage reading chunk {}", k + 1),
            Fault::StopBroker(_) => format!("chunk {} committed", k + 1),
        };
        wait_until(&what, Duration::from_secs(120), || {
            if let Ok(Some(s)) = stage.try_wait() {
                panic!("aeflow stream exited ({s}):\n{}", all_logs(&logs));
            }
            match fault {
                Fault::KillStage => messages_in(metrics) > read_before,
                Fault::StopBroker(_) => committed_sum() == Some(produced),
            }
        });
        at_fault.push((committed_sum().unwrap_or(-1), messages_in(metrics)));
        match fault {
            Fault::KillStage => {
                stage.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
                stage.wait().unwrap();
                logs.push(dir.path().join(format!("stage-{}.log", logs.len() + 1)));
                (stage, metrics) = start_watched_stage(&brokers, &model, &t, logs.last().unwrap());
            }
            Fault::StopBroker(signal) => {
                broker.stop(signal);
                // Down for two seconds: the stage's requests fail and are retried meanwhile.
                std::thread::sleep(Duration::from_secs(2));
                broker.restart();
            }
        }
    }
    produce_batched(&brokers, &t.input, &w.inputs[4 * chunk..], false);
    wait_until_or(
        "every input committed",
        Duration::from_secs(120),
        || {
            if let Ok(Some(s)) = stage.try_wait() {
                panic!("aeflow stream exited ({s}):\n{}", all_logs(&logs));
            }
            committed_sum() == Some(n as i64)
        },
        || state(&broker, &at_fault, &logs),
    );
    let elapsed = started.elapsed();
    signal(&stage, "TERM");
    let exit = wait_exit(&mut stage, Duration::from_secs(60));
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}\n{}",
        all_logs(&logs)
    );

    let context = format!("committed at each fault: {at_fault:?}\n{}", all_logs(&logs));
    let checking = Instant::now();
    let (outputs, dead_letters) = check_delivered(&brokers, &t, &w, &context);
    eprintln!(
        "soak: {n} inputs in 5 chunks; (committed, read by the running stage) at the faults (stage kill, broker TERM, broker KILL, stage kill): {at_fault:?}, {outputs} outputs ({} duplicates), {dead_letters} dead letters, {elapsed:?} from first start to all committed, {:?} to read the topics back",
        outputs - w.valid.len(),
        checking.elapsed()
    );
}
