mod stream_support;
use stream_support::*;
use std::time::{Duration, Instant};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, CommitMode};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use aeflow::stream::StageConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    let brokers = std::env::var("AEFLOW_TANSU_BROKERS").unwrap();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    let r = admin.create_topics(&[NewTopic::new("g3", 3, TopicReplication::Fixed(1))], &AdminOptions::new()).await;
    eprintln!("create: {r:?}");
    let b = brokers.clone();
    tokio::task::spawn_blocking(move || {
        let x = rows(30000, 6, 43);
        let inputs: Vec<Input> = (0..30000).map(|i| Input::new(json_row(&x, i, &format!("id-{i}"))).key(format!("k{}", i % 97)).header("n", &i.to_string())).collect();
        produce(&b, "g3", &inputs);
        let all = read_topic(&b, "g3", 30000, Duration::from_secs(30));
        let p1: Vec<(i64, i64)> = all.iter().filter(|r| r.partition == 1).map(|r| (r.offset, r.header("n").unwrap().parse().unwrap())).collect();
        eprintln!("p1 has {} records, last {:?}", p1.len(), p1.last());
        for (k, start) in [4284i64].iter().enumerate() {
            let group = format!("grp{k}");
            let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &b).set("group.id", &group).create().unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset("g3", 0, Offset::Offset(9898)).unwrap();
            tpl.add_partition_offset("g3", 1, Offset::Offset(*start)).unwrap();
            tpl.add_partition_offset("g3", 2, Offset::Offset(10516)).unwrap();
            c.commit(&tpl, CommitMode::Sync).unwrap();
            drop(c);
            let mut cfg = StageConfig { brokers: b.clone(), group_id: group.clone(), input_topic: "g3".into(), output_topic: "o".into(), ..Default::default() };
            cfg.kafka_options.push(("consumer.isolation.level".into(), std::env::var("ISO").unwrap_or("read_uncommitted".into())));
            let mut cc = cfg.consumer_config();
            if let Ok(d) = std::env::var("DROP") { for k in d.split(',') { cc.remove(k); } }
            if std::env::var("PLAIN").is_ok() { cc = ClientConfig::new(); cc.set("bootstrap.servers", &b).set("group.id", &group).set("enable.auto.commit", "false"); }
            let c: BaseConsumer = cc.create().unwrap();
            c.subscribe(&["g3"]).unwrap();
            let mut got: Vec<(i64, i64)> = vec![];
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                match c.poll(Duration::from_millis(300)) {
                    Some(Ok(m)) => { if m.partition() == 1 { let n: i64 = m.headers().map(|h| { use rdkafka::message::Headers; std::str::from_utf8(h.get(0).value.unwrap()).unwrap().parse().unwrap() }).unwrap(); got.push((m.offset(), n)); } }
                    Some(Err(e)) => { eprintln!("err {e}"); }
                    None => if !got.is_empty() { break },
                }
            }
            let expected: Vec<(i64, i64)> = p1.iter().filter(|(o, _)| *o >= *start).copied().collect();
            let wrong = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
            eprintln!("from {start}: got {} expected {} first got {:?} first expected {:?} mismatches {wrong}", got.len(), expected.len(), got.first(), expected.first());
        }
    }).await.unwrap();
}
