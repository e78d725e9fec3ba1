//! The client commands (`myelin topic ...`, `produce`, `consume`) against an in-process
//! broker, run as the real binary.

mod common;

use common::{bounded, cli_ok, run_cli, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_create_list_describe_alter_delete() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let addr = b.kafka_addr();

    let out = cli_ok(
        addr,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "cleanup.policy=compact",
        ],
        b"",
    )
    .await;
    assert!(out.starts_with("Created topic orders"), "{out}");
    cli_ok(addr, &["topic", "create", "audit"], b"").await;
    let out = cli_ok(addr, &["topic", "list"], b"").await;
    assert_eq!(out, "audit\norders\n");

    // Creating it again fails with Kafka's error name, unless told it may exist.
    let a = addr.to_string();
    let again = run_cli(&["topic", "create", "orders", "-b", &a], b"").await;
    assert!(!again.success);
    assert!(
        again.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        again.stderr
    );
    cli_ok(addr, &["topic", "create", "orders", "--if-not-exists"], b"").await;
    let bad = run_cli(&["topic", "create", "bad/name", "-b", &a], b"").await;
    assert!(
        bad.stderr.contains("INVALID_TOPIC_EXCEPTION"),
        "{}",
        bad.stderr
    );

    let out = cli_ok(addr, &["topic", "describe", "orders"], b"").await;
    assert!(out.contains("PartitionCount: 3"), "{out}");
    assert!(out.contains("cleanup.policy=compact"), "{out}");
    assert!(out.contains("Partition: 2\tLeader: 0"), "{out}");
    assert!(out.contains("LogEndOffset: 0"), "{out}");

    cli_ok(
        addr,
        &["topic", "alter", "orders", "--config", "retention.ms=1234"],
        b"",
    )
    .await;
    let out = cli_ok(addr, &["topic", "describe", "orders"], b"").await;
    assert!(out.contains("retention.ms=1234"), "{out}");
    let bad = run_cli(
        &[
            "topic",
            "alter",
            "orders",
            "--config",
            "retention.ms=soon",
            "-b",
            &a,
        ],
        b"",
    )
    .await;
    assert!(!bad.success);
    assert!(bad.stderr.contains("INVALID_CONFIG"), "{}", bad.stderr);

    cli_ok(addr, &["topic", "delete", "orders"], b"").await;
    assert_eq!(cli_ok(addr, &["topic", "list"], b"").await, "audit\n");
    let gone = run_cli(&["topic", "delete", "orders", "-b", &a], b"").await;
    assert!(
        gone.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        gone.stderr
    );
    let gone = run_cli(&["topic", "describe", "orders", "-b", &a], b"").await;
    assert!(!gone.success);

    bounded(b.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_lines_then_consume_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let addr = b.kafka_addr();
    cli_ok(
        addr,
        &["topic", "create", "lines", "--partitions", "1"],
        b"",
    )
    .await;

    let input: String = (0..500).map(|i| format!("key{i}:value {i}\n")).collect();
    cli_ok(
        addr,
        &[
            "produce",
            "lines",
            "--key-separator",
            ":",
            "--header",
            "source=test",
            "--compression",
            "zstd",
        ],
        input.as_bytes(),
    )
    .await;
    cli_ok(
        addr,
        &["produce", "lines", "--acks", "1"],
        b"plain\n\nlast\n",
    )
    .await;

    let out = cli_ok(addr, &["consume", "lines", "--exit-at-end"], b"").await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 503);
    assert_eq!(lines[0], "value 0");
    assert_eq!(lines[499], "value 499");
    assert_eq!(&lines[500..], ["plain", "", "last"]);

    let out = cli_ok(
        addr,
        &[
            "consume",
            "lines",
            "--from",
            "10",
            "--count",
            "2",
            "--print-key",
            "--print-headers",
            "--print-offset",
        ],
        b"",
    )
    .await;
    assert_eq!(
        out,
        "0:10\tsource=test\tkey10\tvalue 10\n0:11\tsource=test\tkey11\tvalue 11\n"
    );
    let out = cli_ok(addr, &["consume", "lines", "--from", "-1", "-e"], b"").await;
    assert_eq!(out, "last\n");
    let out = cli_ok(addr, &["consume", "lines", "--from", "end", "-e"], b"").await;
    assert_eq!(out, "");
    let out = cli_ok(addr, &["consume", "lines", "--from", "@0", "-c", "1"], b"").await;
    assert_eq!(out, "value 0\n");

    // The describe shows the offsets.
    let out = cli_ok(addr, &["topic", "describe", "lines"], b"").await;
    assert!(
        out.contains("LogStartOffset: 0\tLogEndOffset: 503"),
        "{out}"
    );

    // Keyed records spread over partitions by key; each partition keeps its order.
    cli_ok(addr, &["topic", "create", "spread", "-p", "4"], b"").await;
    let input: String = (0..100).map(|i| format!("k{}|{i}\n", i % 10)).collect();
    cli_ok(addr, &["produce", "spread", "-K", "|"], input.as_bytes()).await;
    let out = cli_ok(
        addr,
        &["consume", "spread", "-e", "--print-key", "-K", "="],
        b"",
    )
    .await;
    let mut got: Vec<(String, u32)> = out
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(got.len(), 100);
    for key in 0..10 {
        let of_key: Vec<u32> = got
            .iter()
            .filter(|(k, _)| *k == format!("k{key}"))
            .map(|(_, v)| *v)
            .collect();
        assert!(of_key.windows(2).all(|w| w[0] < w[1]), "k{key}: {of_key:?}");
        assert_eq!(of_key.len(), 10);
    }
    got.sort();

    // A missing topic is named in the error.
    let a = addr.to_string();
    let out = run_cli(&["consume", "nope", "-e", "-b", &a], b"").await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        out.stderr
    );

    bounded(b.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_auto_creates_with_num_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let b = bounded(
        common::broker(dir.path())
            .config("num.partitions", "2")
            .start(),
    )
    .await
    .unwrap();
    let addr = b.kafka_addr();
    cli_ok(addr, &["produce", "fresh", "--partition", "1"], b"hello\n").await;
    let out = cli_ok(addr, &["topic", "describe", "fresh"], b"").await;
    assert!(out.contains("PartitionCount: 2"), "{out}");
    let out = cli_ok(addr, &["consume", "fresh", "-p", "1", "-e"], b"").await;
    assert_eq!(out, "hello\n");
    let (_, text) = common::http_get(b.http_addr().unwrap(), "/metrics").await;
    assert!(
        text.contains("myelin_partition_log_end_offset{partition=\"1\",topic=\"fresh\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("myelin_kafka_requests_total{api=\"Produce\"} 1"),
        "{text}"
    );
    bounded(b.shutdown()).await.unwrap();
}
