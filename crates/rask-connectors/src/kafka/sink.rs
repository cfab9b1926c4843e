//! Writing rows to a Kafka topic: each row is encoded by the value format into one record and
//! produced with librdkafka (Kafka's default partitioner, or `fixed` / `round-robin`). With
//! `at-least-once` (the default) every checkpoint barrier and the end of input wait until all
//! records are acknowledged, so a restored job re-sends at most what came after the last
//! checkpoint; `none` does not wait. A record the broker refuses fails the job with its reason.

use std::sync::{Arc, Mutex};

use rask_formats::RecordEncoder;
use rask_runtime::connector::{SinkContext, SinkWriter};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::StreamBatch;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::options::{Delivery, KafkaOptions, Partitioner};
use super::{client_error, fetch_metadata, no_topic, timeout};

/// Collects the first delivery failure (reported on the thread that polls the producer).
#[derive(Clone, Default)]
struct Deliveries {
    failure: Arc<Mutex<Option<String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result
            && let Ok(mut f) = self.failure.lock()
            && f.is_none()
        {
            use rdkafka::message::Message;
            *f = Some(format!("Kafka refused a record for topic '{}' partition {}: {e}", m.topic(), m.partition()));
        }
    }
}

pub struct KafkaWriter {
    producer: BaseProducer<Deliveries>,
    deliveries: Deliveries,
    encoder: Box<dyn RecordEncoder>,
    topic: String,
    delivery: Delivery,
    partitioner: Partitioner,
    partitions: i32,
    subtask: usize,
    next_partition: i32,
    wait: std::time::Duration,
    records: Vec<Vec<u8>>,
}

impl KafkaWriter {
    pub fn new(opts: &KafkaOptions, ctx: &SinkContext, schema: arrow::datatypes::SchemaRef) -> Result<Self> {
        if opts.topics.len() != 1 {
            return Err(RuntimeError::User("a Kafka sink writes to exactly one 'topic'".into()));
        }
        if opts.delivery == Delivery::ExactlyOnce {
            return Err(RuntimeError::User(
                "'sink.delivery-guarantee' = 'exactly-once' is not supported by the Kafka sink yet; use 'at-least-once'".into(),
            ));
        }
        let deliveries = Deliveries::default();
        let mut cfg = opts.client_config();
        if !opts.properties.contains_key("linger.ms") {
            cfg.set("linger.ms", "5");
        }
        let producer: BaseProducer<Deliveries> = cfg.create_with_context(deliveries.clone()).map_err(client_error)?;
        let wait = timeout(opts);
        let topic = opts.topics[0].clone();
        let md = fetch_metadata(producer.client(), Some(&topic), opts)?;
        let partitions = md.topics().first().map_or(0, |t| t.partitions().len()) as i32;
        if partitions == 0 {
            return Err(no_topic(&topic, opts));
        }
        let encoder = rask_formats::encoder(&opts.format, schema, &opts.format_options).map_err(|e| RuntimeError::User(e.to_string()))?;
        Ok(KafkaWriter {
            producer,
            deliveries,
            encoder,
            topic,
            delivery: opts.delivery,
            partitioner: opts.partitioner,
            partitions,
            subtask: ctx.subtask,
            next_partition: ctx.subtask as i32,
            wait,
            records: Vec::new(),
        })
    }

    fn check(&self) -> Result<()> {
        match self.deliveries.failure.lock().ok().and_then(|f| f.clone()) {
            Some(f) => Err(RuntimeError::External(f)),
            None => Ok(()),
        }
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        if batch.kinds.is_some() {
            return Err(RuntimeError::User("the Kafka sink takes append-only rows; an updating result needs 'upsert-kafka'".into()));
        }
        self.records.clear();
        self.encoder.encode(&batch.data, &mut self.records).map_err(|e| RuntimeError::User(e.to_string()))?;
        for i in 0..self.records.len() {
            let partition = match self.partitioner {
                Partitioner::Default => None,
                Partitioner::Fixed => Some(self.subtask as i32 % self.partitions),
                Partitioner::RoundRobin => {
                    self.next_partition = (self.next_partition + 1) % self.partitions;
                    Some(self.next_partition)
                }
            };
            loop {
                let mut rec: BaseRecord<'_, (), [u8]> = BaseRecord::to(&self.topic).payload(&self.records[i][..]);
                if let Some(p) = partition {
                    rec = rec.partition(p);
                }
                match self.producer.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // The client's queue is full: serve acknowledgements, then retry.
                        self.producer.poll(std::time::Duration::from_millis(10));
                        self.check()?;
                    }
                    Err((e, _)) => return Err(RuntimeError::External(format!("cannot produce to Kafka topic '{}': {e}", self.topic))),
                }
            }
        }
        self.producer.poll(std::time::Duration::ZERO);
        self.check()
    }

    fn prepare_commit(&mut self) -> Result<Vec<Vec<u8>>> {
        if self.delivery != Delivery::None {
            self.producer
                .flush(self.wait)
                .map_err(|e| RuntimeError::External(format!("Kafka did not acknowledge the records for topic '{}' within {} s: {e}", self.topic, self.wait.as_secs())))?;
        } else {
            self.producer.poll(std::time::Duration::ZERO);
        }
        self.check()?;
        Ok(Vec::new())
    }
}
