//! The variational and convolutional kinds in the Kafka stage, on librdkafka's mock cluster
//! (in-process brokers on localhost; needs nothing installed): a convolutional model reads its
//! vector field from JSON messages, a variational model scoring the negative ELBO reads scalar
//! fields, and each message's `reconstruction_error` equals the model's own score of that row.

mod stream_support;

use std::sync::Arc;
use std::time::Duration;

use aeflow::model::{
    Autoencoder, ConvolutionalConfig, Kind, ScalerKind, ScoreOptions, Silent, TrainConfig,
    VariationalConfig, VariationalScore,
};
use aeflow::stream::StreamStage;
use ndarray::Array2;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use stream_support::*;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(90);

/// Scores `inputs` (JSON objects with an `id` from 0) with the model at `path` through a stage,
/// and returns the output messages' `reconstruction_error`s by `id`.
async fn score_through_the_stage(
    path: &std::path::Path,
    inputs: &[Input],
    group: &str,
) -> Vec<f64> {
    let _ = env_logger::builder().is_test(true).try_init();
    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(1).expect("mock cluster");
    for t in ["in", "out"] {
        cluster.create_topic(t, 1, 1).expect("create topic");
    }
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, "in", inputs);
    let stage = StreamStage::builder()
        .brokers(&brokers)
        .group_id(group)
        .input_topic("in")
        .output_topic("out")
        .linger(Duration::from_millis(10))
        .summary_interval(Duration::from_secs(3600))
        .kafka_option("session.timeout.ms", "6000")
        .model_path(path)
        .build()
        .expect("build stage");
    let metrics = stage.metrics();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(stage.run_until(async {
        let _ = rx.await;
    }));
    let n = inputs.len() as u64;
    let m = Arc::clone(&metrics);
    wait_for("every message processed", WAIT, move || {
        let s = m.snapshot();
        s.messages_out + s.rejected >= n
    })
    .await;
    let _ = tx.send(());
    let snapshot = tokio::time::timeout(WAIT, handle)
        .await
        .expect("stage stops in time")
        .expect("stage task")
        .expect("stage run");
    assert_eq!(snapshot.rejected, 0, "no message is rejected");
    let out = tokio::task::spawn_blocking(move || read_topic(&brokers, "out", n as usize, WAIT))
        .await
        .unwrap();
    let mut errors = vec![f64::NAN; n as usize];
    for r in &out {
        let v = r.json();
        let id = v["id"].as_u64().expect("id") as usize;
        errors[id] = v["reconstruction_error"]
            .as_f64()
            .expect("reconstruction_error");
    }
    errors
}

fn assert_scores_equal(what: &str, got: &[f64], model: &Autoencoder, x: &Array2<f32>) {
    let want = model
        .score(x.view(), &ScoreOptions::default())
        .unwrap()
        .reconstruction_error;
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{what}: row {i}: stage {g}, model {w}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convolutional_and_variational_models_score_in_the_stage() {
    let dir = tempfile::tempdir().unwrap();

    // Convolutional on sequences of 12 values, read from the vector field `v`.
    let x = rows(600, 12, 3);
    let names: Vec<String> = (0..12).map(|i| format!("v[{i}]")).collect();
    let config = TrainConfig {
        kind: Kind::Convolutional(ConvolutionalConfig {
            filters: vec![4, 4],
            kernel_size: vec![5, 3],
            ..ConvolutionalConfig::new(vec![1, 12])
        }),
        latent: Some(3),
        scaler: ScalerKind::None,
        epochs: 4,
        ..TrainConfig::default()
    };
    let cae = Autoencoder::fit(x.view(), &names, &config, &mut Silent).unwrap();
    let path = dir.path().join("cae.aemodel");
    cae.save(&path).unwrap();
    let probe = rows(20, 12, 4);
    let inputs: Vec<Input> = (0..probe.nrows())
        .map(|i| {
            let v: Vec<f64> = probe.row(i).iter().map(|&a| a as f64).collect();
            Input::new(serde_json::json!({"id": i, "v": v}).to_string())
        })
        .collect();
    let got = score_through_the_stage(&path, &inputs, "g-cae").await;
    assert_scores_equal("convolutional", &got, &cae, &probe);

    // Variational scoring the negative ELBO, on scalar fields f0…f3.
    let x = rows(600, 4, 5);
    let config = TrainConfig {
        kind: Kind::Variational(VariationalConfig {
            beta: 0.5,
            score: VariationalScore::Elbo,
            ..VariationalConfig::default()
        }),
        epochs: 4,
        ..TrainConfig::default()
    };
    let vae = Autoencoder::fit(x.view(), &feature_names(4), &config, &mut Silent).unwrap();
    let path = dir.path().join("vae.aemodel");
    vae.save(&path).unwrap();
    let probe = rows(20, 4, 6);
    let inputs: Vec<Input> = (0..probe.nrows())
        .map(|i| {
            let mut obj = serde_json::Map::new();
            obj.insert("id".into(), i.into());
            for (j, &a) in probe.row(i).iter().enumerate() {
                obj.insert(format!("f{j}"), (a as f64).into());
            }
            Input::new(serde_json::Value::Object(obj).to_string())
        })
        .collect();
    let got = score_through_the_stage(&path, &inputs, "g-vae").await;
    assert_scores_equal("variational (elbo)", &got, &vae, &probe);
}
