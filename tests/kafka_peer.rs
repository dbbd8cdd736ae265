//! The Kafka peer of the kit (`tests/peers/peer.sh run kafka`): a real
//! single-node KRaft broker that the Kafka components' tests (issue 15)
//! run against. These tests hold the kit to what those need: records
//! round-trip with their keys and partitions, a topic of three partitions
//! can be made, and the broker killed and started again keeps its data.

mod common;

use common::kafka;

#[test]
fn the_broker_keeps_records_keys_and_partitions_across_a_kill_and_restart() {
    let Some(broker) = kafka::broker() else {
        return;
    };
    broker.create_topic("kit-three", 3);
    let metadata = broker.kcat(&["-L", "-t", "kit-three"], None);
    let metadata = String::from_utf8_lossy(&metadata.stdout);
    assert!(
        metadata.contains("with 3 partitions"),
        "the topic has 3 partitions: {metadata}"
    );

    // Keyed records; kcat's partitioner (-p -1) picks each one's partition.
    let input: String = (0..300).map(|i| format!("k{i}\t{i}\n")).collect();
    let sent = broker.kcat(
        &["-P", "-t", "kit-three", "-K", "\t", "-p", "-1"],
        Some(input.as_bytes()),
    );
    assert!(
        sent.status.success(),
        "kcat -P: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let check = |records: Vec<String>| {
        let mut got: Vec<usize> = records
            .iter()
            .map(|r| {
                let (key, value) = r.split_once(' ').expect("key value");
                assert_eq!(key, format!("k{value}"), "a record keeps its key");
                value.parse().expect("a number")
            })
            .collect();
        got.sort();
        assert_eq!(got.len(), 300, "every record, once");
        assert!(got.iter().enumerate().all(|(i, n)| *n == i));
    };
    check(broker.records("kit-three", "%k %s\n", 300));
    let partitions: std::collections::BTreeSet<String> = broker
        .records("kit-three", "%p\n", 300)
        .into_iter()
        .collect();
    assert_eq!(
        partitions.len(),
        3,
        "keys spread over the 3 partitions: {partitions:?}"
    );

    broker.stop();
    broker.start();
    check(broker.records("kit-three", "%k %s\n", 300));
}
