//! Writing rows to a Kafka topic: each row is encoded by the value format into one record and
//! produced with librdkafka (Kafka's default partitioner, or `fixed` / `round-robin`). A record
//! the broker refuses fails the job with its reason.
//!
//! Upsert mode (`upsert-kafka`): inserts and update-afters are records keyed by the primary
//! key, deletes are tombstones (null value); an update-before followed by the update-after of
//! the same key is dropped (the update-after overwrites it), otherwise it is a tombstone too.
//! With `sink.buffer-flush.*` the last change per key is buffered and flushed when the buffer
//! holds max-rows keys, when the interval passes, and at every checkpoint.
//!
//! Delivery guarantees (`sink.delivery-guarantee`, as Flink's):
//! - `none`: records are handed to the client and not waited for;
//! - `at-least-once` (default): every checkpoint barrier and the end of input wait until all
//!   records are acknowledged, so a restored job re-sends at most what came after the last
//!   checkpoint;
//! - `exactly-once`: each checkpoint interval's records go into one Kafka transaction
//!   (transactional id `<sink.transactional-id-prefix>-<subtask>-<n>`, a small pool per subtask
//!   since the next interval starts before the previous checkpoint completes). At the barrier
//!   the transaction is flushed (pre-committed); it is committed when the checkpoint completes,
//!   so read_committed consumers see exactly the checkpointed output.
//!
//! Recovery. Flink's Java client re-attaches to a pre-committed transaction after a failure
//! (it resumes the producer id and epoch); librdkafka cannot. So the committable stored in the
//! checkpoint also holds that transaction's records, and every transaction commits, atomically
//! with its records, a marker: the checkpoint id as the offset of partition 0 of the topic for
//! a consumer group private to the writer (`<prefix>-<subtask>-marker-<random>`). A restored
//! writer reads the marker: if the checkpoint's transaction committed, nothing is left to do;
//! otherwise the stored records are produced again, in the writer's next transaction (and
//! stored again in its checkpoint until that commits). Every transactional id the failed writer
//! used is fenced: initialising an id aborts the transaction it left open, which would
//! otherwise block read_committed readers. The price: a checkpoint holds the sink's output of
//! one interval until that interval commits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_formats::RecordEncoder;
use rask_runtime::connector::{SinkContext, SinkWriter};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::{RowKind, StreamBatch};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

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

impl Deliveries {
    fn check(&self) -> Result<()> {
        match self.failure.lock().ok().and_then(|f| f.clone()) {
            Some(f) => Err(RuntimeError::External(f)),
            None => Ok(()),
        }
    }
}

type Client = BaseProducer<Deliveries>;

/// Hand one record to the client, serving acknowledgements while its queue is full.
fn send(producer: &Client, deliveries: &Deliveries, topic: &str, r: &Stored) -> Result<()> {
    loop {
        let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(p) = &r.value {
            rec = rec.payload(p);
        }
        if let Some(k) = &r.key {
            rec = rec.key(k);
        }
        if r.partition >= 0 {
            rec = rec.partition(r.partition);
        }
        if let Some(t) = r.timestamp {
            rec = rec.timestamp(t);
        }
        if !r.headers.is_empty() {
            let mut h = rdkafka::message::OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                h = h.insert(rdkafka::message::Header { key: k, value: v.as_deref() });
            }
            rec = rec.headers(h);
        }
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(10));
                deliveries.check()?;
            }
            Err((e, _)) => return Err(RuntimeError::External(format!("cannot produce to Kafka topic '{topic}': {e}"))),
        }
    }
}

/// One transactional producer and the records of its open transaction.
struct Txn {
    id: String,
    producer: Client,
    /// Every record produced in the open transaction.
    records: Vec<Stored>,
}

/// One record: as produced, and as a transaction's committable keeps it.
#[derive(Debug, Clone, PartialEq, Default)]
struct Stored {
    /// -1: the partitioner's choice.
    partition: i32,
    key: Option<Vec<u8>>,
    /// `None`: a tombstone.
    value: Option<Vec<u8>>,
    /// The record's timestamp (epoch ms; `None`: the producer's clock), from a `timestamp`
    /// metadata column.
    timestamp: Option<i64>,
    /// From a `headers` metadata column.
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What a pre-committed transaction leaves in the checkpoint.
#[derive(Debug, PartialEq)]
struct Committable {
    checkpoint: u64,
    /// The transaction to commit (empty: the interval wrote nothing).
    txn: String,
    marker_group: String,
    /// Every transactional id the writer had initialised (fenced after a failure).
    ids: Vec<String>,
    records: Vec<Stored>,
}

const COMMITTABLE_MAGIC: &[u8; 4] = b"RKX3";
/// Before records had timestamps and headers.
const COMMITTABLE_MAGIC_2: &[u8; 4] = b"RKX2";
/// Length standing for "no key" (or no value: a tombstone).
const NO_KEY: u32 = u32::MAX;

fn corrupt() -> RuntimeError {
    RuntimeError::User("corrupt Kafka sink transaction in the checkpoint".into())
}

/// Reads the committable encoding: little-endian integers, u32-length-prefixed strings.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt());
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u32(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.u32()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| corrupt())
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Committable {
    fn encode(&self) -> Vec<u8> {
        let size: usize = self.records.iter().map(|r| r.value.as_ref().map_or(0, Vec::len) + r.key.as_ref().map_or(0, Vec::len) + 24).sum();
        let mut out = Vec::with_capacity(64 + size);
        out.extend_from_slice(COMMITTABLE_MAGIC);
        out.extend_from_slice(&self.checkpoint.to_le_bytes());
        put_str(&mut out, &self.txn);
        put_str(&mut out, &self.marker_group);
        out.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        for id in &self.ids {
            put_str(&mut out, id);
        }
        out.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        fn put_bytes(out: &mut Vec<u8>, b: &Option<Vec<u8>>) {
            match b {
                Some(b) => {
                    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    out.extend_from_slice(b);
                }
                None => out.extend_from_slice(&NO_KEY.to_le_bytes()),
            }
        }
        for r in &self.records {
            out.extend_from_slice(&r.partition.to_le_bytes());
            put_bytes(&mut out, &r.key);
            put_bytes(&mut out, &r.value);
            out.extend_from_slice(&r.timestamp.unwrap_or(i64::MIN).to_le_bytes());
            out.extend_from_slice(&(r.headers.len() as u32).to_le_bytes());
            for (k, v) in &r.headers {
                put_str(&mut out, k);
                put_bytes(&mut out, v);
            }
        }
        out
    }

    fn decode(b: &[u8]) -> Result<Committable> {
        let mut r = Reader(b);
        let v3 = match r.take(4)? {
            m if m == COMMITTABLE_MAGIC => true,
            m if m == COMMITTABLE_MAGIC_2 => false,
            _ => return Err(corrupt()),
        };
        let checkpoint = u64::from_le_bytes(r.array()?);
        let txn = r.string()?;
        let marker_group = r.string()?;
        let n = r.u32()?;
        let ids = (0..n).map(|_| r.string()).collect::<Result<Vec<_>>>()?;
        let n = u64::from_le_bytes(r.array()?) as usize;
        let mut records = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let p = i32::from_le_bytes(r.array()?);
            fn bytes(r: &mut Reader<'_>) -> Result<Option<Vec<u8>>> {
                Ok(match r.u32()? {
                    n if n == NO_KEY as usize => None,
                    n => Some(r.take(n)?.to_vec()),
                })
            }
            let key = bytes(&mut r)?;
            let value = bytes(&mut r)?;
            let mut rec = Stored { partition: p, key, value, ..Default::default() };
            if v3 {
                rec.timestamp = Some(i64::from_le_bytes(r.array()?)).filter(|t| *t != i64::MIN);
                let n = r.u32()?;
                for _ in 0..n {
                    let k = r.string()?;
                    rec.headers.push((k, bytes(&mut r)?));
                }
            }
            records.push(rec);
        }
        Ok(Committable { checkpoint, txn, marker_group, ids, records })
    }
}

fn txn_error(what: &str, id: &str, e: KafkaError) -> RuntimeError {
    RuntimeError::External(format!("Kafka transaction '{id}': {what} failed: {e}"))
}

/// The exactly-once side of the writer: a pool of transactional producers.
struct Transactions {
    prefix: String,
    subtask: usize,
    base: ClientConfig,
    deliveries: Deliveries,
    wait: Duration,
    marker_group: String,
    /// A consumer of `marker_group` (never subscribed): its group metadata for the marker
    /// commits.
    marker: BaseConsumer,
    current: Txn,
    /// Pre-committed transactions waiting for their checkpoint to complete.
    awaiting: Vec<(u64, Txn)>,
    /// Initialised producers without an open transaction.
    spare: Vec<Txn>,
    next_index: usize,
}

/// An initialised transactional producer (initialising fences earlier users of the id).
fn transactional(base: &ClientConfig, deliveries: &Deliveries, id: &str, wait: Duration) -> Result<Client> {
    let mut cfg = base.clone();
    cfg.set("transactional.id", id);
    let producer: Client = cfg.create_with_context(deliveries.clone()).map_err(client_error)?;
    producer.init_transactions(wait).map_err(|e| txn_error("initialisation", id, e))?;
    Ok(producer)
}

impl Transactions {
    fn new(opts: &KafkaOptions, mut base: ClientConfig, deliveries: Deliveries, subtask: usize) -> Result<Transactions> {
        let prefix = opts.transactional_id_prefix.clone().filter(|p| !p.is_empty()).ok_or_else(|| {
            RuntimeError::User("'sink.delivery-guarantee' = 'exactly-once' requires option 'sink.transactional-id-prefix' (a prefix unique to this job)".into())
        })?;
        if !opts.properties.contains_key("transaction.timeout.ms") {
            // Longer than any checkpoint interval (librdkafka's default is 60 s; Kafka
            // brokers cap it at transaction.max.timeout.ms, 15 min by default).
            base.set("transaction.timeout.ms", "900000");
        }
        let wait = timeout(opts);
        let nonce = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
            h.write_u32(std::process::id());
            h.finish()
        };
        let marker_group = format!("{prefix}-{subtask}-marker-{nonce:016x}");
        let marker: BaseConsumer = base.clone().set("group.id", &marker_group).set("enable.auto.commit", "false").create().map_err(client_error)?;
        // Two ids up front (the usual pool), both initialised now: a failed attempt's open
        // transactions on them end here.
        let id = |n: usize| format!("{prefix}-{subtask}-{n}");
        let current = Txn { producer: transactional(&base, &deliveries, &id(0), wait)?, id: id(0), records: Vec::new() };
        let spare = Txn { producer: transactional(&base, &deliveries, &id(1), wait)?, id: id(1), records: Vec::new() };
        current.producer.begin_transaction().map_err(|e| txn_error("begin", &current.id, e))?;
        Ok(Transactions { prefix, subtask, base, deliveries, wait, marker_group, marker, current, awaiting: Vec::new(), spare: vec![spare], next_index: 2 })
    }

    /// What the checkpoint keeps of transaction `txn` (empty: none) and its records.
    fn committable(&self, checkpoint: u64, txn: String, records: Vec<Stored>) -> Committable {
        Committable { checkpoint, txn, marker_group: self.marker_group.clone(), ids: self.ids(), records }
    }

    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::iter::once(&self.current).chain(self.awaiting.iter().map(|(_, t)| t)).chain(&self.spare).map(|t| t.id.clone()).collect();
        ids.sort();
        ids
    }

    /// Barrier `checkpoint`: flush the open transaction, add the marker, and start the next
    /// one on another producer. Returns the committable.
    fn pre_commit(&mut self, checkpoint: u64, topic: &str) -> Result<Committable> {
        if self.current.records.is_empty() {
            // Nothing to commit: the transaction stays open for the next interval.
            return Ok(self.committable(checkpoint, String::new(), Vec::new()));
        }
        let t = &self.current;
        t.producer.flush(self.wait).map_err(|e| txn_error("flush", &t.id, e))?;
        self.deliveries.check()?;
        let mut marker = TopicPartitionList::new();
        marker.add_partition_offset(topic, 0, Offset::Offset(checkpoint as i64)).map_err(|e| txn_error("marker", &t.id, e))?;
        let meta = self.marker.group_metadata().ok_or_else(|| RuntimeError::Internal("Kafka consumer without group metadata".into()))?;
        t.producer.send_offsets_to_transaction(&marker, &meta, self.wait).map_err(|e| txn_error("marker commit", &t.id, e))?;
        let next = match self.spare.pop() {
            Some(t) => t,
            None => {
                let id = format!("{}-{}-{}", self.prefix, self.subtask, self.next_index);
                self.next_index += 1;
                Txn { producer: transactional(&self.base, &self.deliveries, &id, self.wait)?, id, records: Vec::new() }
            }
        };
        next.producer.begin_transaction().map_err(|e| txn_error("begin", &next.id, e))?;
        let mut done = std::mem::replace(&mut self.current, next);
        // The records move to the checkpoint: only a restored writer needs them again.
        let records = std::mem::take(&mut done.records);
        let txn = done.id.clone();
        self.awaiting.push((checkpoint, done));
        Ok(self.committable(checkpoint, txn, records))
    }

    /// Commit what a completed (or restored) checkpoint pre-committed.
    fn commit(&mut self, c: Committable, topic: &str) -> Result<()> {
        if c.marker_group == self.marker_group {
            if c.txn.is_empty() {
                return Ok(());
            }
            let i = self.awaiting.iter().position(|(k, t)| *k == c.checkpoint && t.id == c.txn).ok_or_else(|| {
                RuntimeError::Internal(format!("Kafka transaction '{}' of checkpoint {} is not pre-committed", c.txn, c.checkpoint))
            })?;
            let (_, t) = self.awaiting.remove(i);
            rask_types::failpoint("kafka-sink-before-commit");
            t.producer.commit_transaction(self.wait).map_err(|e| txn_error("commit", &t.id, e))?;
            self.deliveries.check()?;
            self.spare.push(t);
            return Ok(());
        }
        // Restored after a failure: fence the failed writer's ids that are not ours …
        let ours = self.ids();
        for id in c.ids.iter().filter(|id| !ours.contains(id)) {
            drop(transactional(&self.base, &self.deliveries, id, self.wait)?);
        }
        // … and produce its records again unless its transaction committed.
        if c.txn.is_empty() || c.records.is_empty() || self.marker_committed(&c, topic)? {
            return Ok(());
        }
        tracing::info!(transaction = %c.txn, checkpoint = c.checkpoint, records = c.records.len(), "re-producing the records of a transaction the failure left uncommitted");
        for r in c.records {
            send(&self.current.producer, &self.deliveries, topic, &r)?;
            self.current.records.push(r);
        }
        Ok(())
    }

    /// Whether the transaction of checkpoint `c` committed (its marker, or a later one of the
    /// same writer, is the group's committed offset).
    fn marker_committed(&self, c: &Committable, topic: &str) -> Result<bool> {
        let consumer: BaseConsumer = self.base.clone().set("group.id", &c.marker_group).set("enable.auto.commit", "false").create().map_err(client_error)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, 0);
        let got = consumer
            .committed_offsets(tpl, self.wait)
            .map_err(|e| RuntimeError::External(format!("cannot read the commit marker of Kafka transaction '{}' (group '{}'): {e}", c.txn, c.marker_group)))?;
        Ok(got.elements().iter().any(|e| matches!(e.offset(), Offset::Offset(o) if o >= c.checkpoint as i64)))
    }
}

impl Drop for Transactions {
    fn drop(&mut self) {
        // A cancelled or failed job: end the open transaction rather than leave it blocking
        // read_committed readers until the id is reused (its records are not checkpointed).
        if !self.current.records.is_empty() {
            let _ = self.current.producer.abort_transaction(Duration::from_secs(5));
        }
    }
}

/// The columns of `batch` a key or value holds, named as its format sees them.
fn part(batch: &arrow::array::RecordBatch, (idx, schema): &(Vec<usize>, arrow::datatypes::SchemaRef)) -> Result<arrow::array::RecordBatch> {
    Ok(arrow::array::RecordBatch::try_new(schema.clone(), batch.project(idx)?.columns().to_vec())?)
}

enum Mode {
    Plain(Client),
    Transactional(Box<Transactions>),
}

pub struct KafkaWriter {
    mode: Mode,
    deliveries: Deliveries,
    encoder: Box<dyn RecordEncoder>,
    /// With `key.format`: the key columns' encoder.
    key_encoder: Option<Box<dyn RecordEncoder>>,
    layout: super::options::Layout,
    topic: String,
    delivery: Delivery,
    partitioner: Partitioner,
    partitions: i32,
    subtask: usize,
    next_partition: i32,
    wait: Duration,
    records: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    /// `upsert-kafka`: updates are upserts by key, deletes tombstones.
    upsert: bool,
    /// `sink.buffer-flush.*` (upsert mode): the last change per key, waiting.
    buffer: Option<Buffer>,
    /// The sink's `timestamp` and `headers` metadata columns.
    timestamp_col: Option<usize>,
    headers_col: Option<usize>,
}

/// The last record per key since the last flush (`sink.buffer-flush.max-rows` keys at most).
struct Buffer {
    max_rows: usize,
    interval: Duration,
    /// Key → index in `records`.
    index: std::collections::HashMap<Vec<u8>, usize>,
    records: Vec<Stored>,
    since: Option<std::time::Instant>,
}

impl Buffer {
    /// Full, or holding a change older than the flush interval.
    fn due(&self) -> bool {
        self.records.len() >= self.max_rows || self.since.is_some_and(|t| t.elapsed() >= self.interval)
    }
}

impl KafkaWriter {
    pub fn new(opts: &KafkaOptions, ctx: &SinkContext, schema: arrow::datatypes::SchemaRef) -> Result<Self> {
        if opts.topics.len() != 1 {
            return Err(RuntimeError::User("a Kafka sink writes to exactly one 'topic'".into()));
        }
        let deliveries = Deliveries::default();
        let mut cfg = opts.client_config();
        if !opts.properties.contains_key("linger.ms") {
            cfg.set("linger.ms", "5");
        }
        if !opts.properties.contains_key("partitioner") {
            // The Java client's default: keyed records land where a Java producer puts them.
            cfg.set("partitioner", "murmur2_random");
        }
        let layout = opts.layout(&schema).map_err(RuntimeError::User)?;
        let producer: Client = cfg.create_with_context(deliveries.clone()).map_err(client_error)?;
        let wait = timeout(opts);
        let topic = opts.topics[0].clone();
        let md = fetch_metadata(producer.client(), Some(&topic), opts)?;
        let partitions = md.topics().first().map_or(0, |t| t.partitions().len()) as i32;
        if partitions == 0 {
            return Err(no_topic(&topic, opts));
        }
        let encoder = rask_formats::encoder(&opts.format, layout.value.1.clone(), &opts.format_options).map_err(|e| RuntimeError::User(e.to_string()))?;
        let key_encoder = match (&opts.key, &layout.key) {
            (Some(k), Some((_, s))) => {
                Some(rask_formats::encoder(&k.format, s.clone(), &k.format_options).map_err(|e| RuntimeError::User(format!("key format: {e}")))?)
            }
            _ => None,
        };
        let mode = if opts.delivery == Delivery::ExactlyOnce {
            drop(producer);
            Mode::Transactional(Box::new(Transactions::new(opts, cfg, deliveries.clone(), ctx.subtask)?))
        } else {
            Mode::Plain(producer)
        };
        Ok(KafkaWriter {
            mode,
            deliveries,
            encoder,
            key_encoder,
            layout,
            topic,
            delivery: opts.delivery,
            partitioner: opts.partitioner,
            partitions,
            subtask: ctx.subtask,
            next_partition: ctx.subtask as i32,
            wait,
            records: Vec::new(),
            keys: Vec::new(),
            upsert: opts.upsert,
            buffer: None,
            timestamp_col: None,
            headers_col: None,
        })
    }

    /// Buffer the last change per key (`sink.buffer-flush.max-rows`, `.interval`).
    pub fn with_buffer(mut self, buffer: Option<(usize, Duration)>) -> Self {
        self.buffer = buffer.map(|(max_rows, interval)| Buffer { max_rows, interval, index: Default::default(), records: Vec::new(), since: None });
        self
    }

    /// Produce one record (in exactly-once mode it joins the open transaction's records).
    fn produce(&mut self, mut r: Stored) -> Result<()> {
        r.partition = match self.partitioner {
            Partitioner::Default => -1,
            Partitioner::Fixed => self.subtask as i32 % self.partitions,
            Partitioner::RoundRobin => {
                self.next_partition = (self.next_partition + 1) % self.partitions;
                self.next_partition
            }
        };
        send(self.producer(), &self.deliveries, &self.topic, &r)?;
        if let Mode::Transactional(t) = &mut self.mode {
            t.current.records.push(r);
        }
        Ok(())
    }

    /// The `timestamp` metadata column of `batch` as epoch milliseconds (cast once per batch).
    fn timestamps(&self, batch: &arrow::array::RecordBatch) -> Result<Option<arrow::array::Int64Array>> {
        use arrow::array::AsArray;
        let Some(c) = self.timestamp_col else { return Ok(None) };
        let ms = arrow::compute::cast(batch.column(c), &arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None))?;
        let ms = arrow::compute::cast(&ms, &arrow::datatypes::DataType::Int64)?;
        Ok(Some(ms.as_primitive::<arrow::datatypes::Int64Type>().clone()))
    }

    /// Row `i`'s timestamp (from [`Self::timestamps`]) and headers from the sink's metadata
    /// columns.
    fn metadata(&self, batch: &arrow::array::RecordBatch, timestamps: Option<&arrow::array::Int64Array>, i: usize, r: &mut Stored) {
        use arrow::array::{Array, AsArray};
        if let Some(t) = timestamps
            && t.is_valid(i)
        {
            r.timestamp = Some(t.value(i));
        }
        if let Some(c) = self.headers_col {
            let a = batch.column(c);
            if a.is_valid(i) {
                let m = a.as_map().value(i);
                let keys = m.column(0).as_string::<i32>();
                let values = m.column(1).as_binary::<i32>();
                for j in 0..m.len() {
                    r.headers.push((keys.value(j).to_string(), values.is_valid(j).then(|| values.value(j).to_vec())));
                }
            }
        }
    }

    /// Write `timestamp` and `headers` metadata columns (the sink's columns after the physical
    /// ones, in `table`'s declaration order).
    pub fn with_metadata(mut self, table: &rask_sql::catalog::TableDef) -> Self {
        let physical = table.physical_schema().fields().len();
        for (j, (_, key, _)) in table.written_metadata().enumerate() {
            match key {
                "timestamp" => self.timestamp_col = Some(physical + j),
                "headers" => self.headers_col = Some(physical + j),
                _ => {}
            }
        }
        self
    }

    /// Hand the buffered records on.
    fn flush_buffer(&mut self) -> Result<()> {
        let Some(b) = self.buffer.as_mut() else { return Ok(()) };
        b.index.clear();
        b.since = None;
        let records = std::mem::take(&mut b.records);
        for r in records {
            self.produce(r)?;
        }
        Ok(())
    }

    /// One upsert-mode change: to the buffer, or produced.
    fn upsert_record(&mut self, r: Stored) -> Result<()> {
        let Some(b) = self.buffer.as_mut() else { return self.produce(r) };
        let key = r.key.clone().unwrap_or_default();
        match b.index.get(&key) {
            Some(i) => b.records[*i] = r,
            None => {
                b.index.insert(key, b.records.len());
                b.records.push(r);
            }
        }
        b.since.get_or_insert_with(std::time::Instant::now);
        if b.due() {
            self.flush_buffer()?;
        }
        Ok(())
    }

    fn producer(&self) -> &Client {
        match &self.mode {
            Mode::Plain(p) => p,
            Mode::Transactional(t) => &t.current.producer,
        }
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        self.records.clear();
        self.keys.clear();
        let value = part(&batch.data, &self.layout.value)?;
        if self.upsert {
            self.encoder.encode(&value, &mut self.records).map_err(|e| RuntimeError::User(e.to_string()))?;
        } else {
            self.encoder.encode_changelog(&value, batch.kinds.as_deref(), &mut self.records).map_err(|e| RuntimeError::User(e.to_string()))?;
        }
        if let (Some(enc), Some(key)) = (self.key_encoder.as_mut(), &self.layout.key) {
            enc.encode(&part(&batch.data, key)?, &mut self.keys).map_err(|e| RuntimeError::User(format!("key format: {e}")))?;
        }
        let mut records = std::mem::take(&mut self.records);
        let mut keys = std::mem::take(&mut self.keys);
        let timestamps = self.timestamps(&batch.data)?;
        for i in 0..records.len() {
            let mut r = Stored { key: keys.get_mut(i).map(std::mem::take), ..Default::default() };
            self.metadata(&batch.data, timestamps.as_ref(), i, &mut r);
            if !self.upsert {
                r.value = Some(std::mem::take(&mut records[i]));
                self.produce(r)?;
                continue;
            }
            let key = r.key.as_ref().ok_or_else(|| RuntimeError::Internal("upsert-kafka row without a key".into()))?;
            r.value = match batch.kind(i) {
                RowKind::Insert | RowKind::UpdateAfter => Some(std::mem::take(&mut records[i])),
                // Overwritten by the update-after of the same key that follows.
                RowKind::UpdateBefore if i + 1 < records.len() && batch.kind(i + 1) == RowKind::UpdateAfter && &keys[i + 1] == key => continue,
                RowKind::UpdateBefore | RowKind::Delete => None,
            };
            self.upsert_record(r)?;
        }
        records.clear();
        keys.clear();
        self.records = records;
        self.keys = keys;
        self.producer().poll(Duration::ZERO);
        self.deliveries.check()
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        self.flush_buffer()?;
        match &mut self.mode {
            Mode::Transactional(t) => Ok(vec![t.pre_commit(checkpoint, &self.topic)?.encode()]),
            Mode::Plain(p) => {
                if self.delivery == Delivery::None {
                    p.poll(Duration::ZERO);
                } else {
                    p.flush(self.wait).map_err(|e| {
                        RuntimeError::External(format!("Kafka did not acknowledge the records for topic '{}' within {} s: {e}", self.topic, self.wait.as_secs()))
                    })?;
                }
                self.deliveries.check()?;
                Ok(Vec::new())
            }
        }
    }

    fn commit(&mut self, committables: &[Vec<u8>]) -> Result<()> {
        let Mode::Transactional(t) = &mut self.mode else { return Ok(()) };
        for c in committables {
            t.commit(Committable::decode(c)?, &self.topic)?;
        }
        Ok(())
    }

    fn exactly_once(&self) -> bool {
        matches!(self.mode, Mode::Transactional(_))
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.buffer.as_ref().map(|b| b.interval)
    }

    fn on_timer(&mut self) -> Result<()> {
        if self.buffer.as_ref().is_some_and(Buffer::due) {
            self.flush_buffer()?;
            self.producer().poll(Duration::ZERO);
        }
        self.deliveries.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committables_round_trip_and_reject_garbage() {
        let c = Committable {
            checkpoint: 42,
            txn: "job-1-0".into(),
            marker_group: "job-1-marker-ab".into(),
            ids: vec!["job-1-0".into(), "job-1-1".into()],
            records: vec![
                Stored { partition: -1, value: Some(b"{\"a\":1}".to_vec()), ..Default::default() },
                Stored { partition: 2, key: Some(b"k".to_vec()), value: Some(Vec::new()), timestamp: Some(-5), headers: vec![("h".into(), None), ("i".into(), Some(b"v".to_vec()))] },
                Stored { partition: 0, key: Some(b"k".to_vec()), value: None, timestamp: Some(1_700_000_000_000), ..Default::default() },
            ],
        };
        let b = c.encode();
        assert_eq!(Committable::decode(&b).unwrap(), c);
        assert!(Committable::decode(&b[..b.len() - 1]).is_err());
        assert!(Committable::decode(b"nope").is_err());
    }
}
