//! Reading Kafka partitions into batches. Every subtask lists the table's partitions (sorted
//! by topic and partition) and reads those whose index modulo the parallelism is its own; it
//! assigns them to a librdkafka consumer (no group rebalancing: Rask owns the assignment, as
//! Flink's KafkaSource does) starting from the restored offsets or the startup mode, and with
//! a bounded mode stops each partition at its stop offset. The position stored in checkpoints
//! is the next offset of every partition read (all subtasks' positions are merged on restore,
//! so partitions move freely at another parallelism). A malformed record fails the job with
//! its topic, partition and offset unless the format's `ignore-parse-errors` is set.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_formats::RecordDecoder;
use rask_runtime::connector::{SourceContext, SourceEvent, SourceMetrics, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::options::{KafkaOptions, Side, StartFrom, StopAt};
use super::{client_error, fetch_metadata, no_topic, timeout};

/// How long a `next` call waits for records before returning what it has (or `Idle`).
const POLL_WAIT: Duration = Duration::from_millis(100);

#[derive(Serialize, Deserialize)]
struct Position {
    /// (topic, partition, next offset to read, bounded mode's stop offset).
    offsets: Vec<(String, i32, i64, Option<i64>)>,
}

/// Decoded record keys, aligned with the decoded values by `rows`.
struct KeyRows {
    decoder: Box<dyn RecordDecoder>,
    /// Per value row: its key's row in `decoder`, if the key held one.
    rows: Vec<Option<u32>>,
}

impl KeyRows {
    fn push(&mut self, key: Option<&[u8]>) -> std::result::Result<(), rask_formats::error::FormatError> {
        let before = self.decoder.buffered();
        let added = match key {
            Some(k) => self.decoder.decode(k)?,
            None => self.decoder.decode_null()?,
        };
        self.rows.push(added.then_some(before as u32));
        Ok(())
    }

    /// The key columns of the buffered rows (NULL where a row's key had none); cleared.
    fn take(&mut self) -> Result<Vec<arrow::array::ArrayRef>> {
        let batch = self.decoder.flush().map_err(|e| RuntimeError::User(e.to_string()))?;
        let idx = arrow::array::UInt32Array::from(std::mem::take(&mut self.rows));
        batch.columns().iter().map(|c| Ok(arrow::compute::take(c, &idx, None)?)).collect()
    }
}

/// What the table asks for with `METADATA FROM 'key'` (Flink's Kafka metadata keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaKey {
    Topic,
    Partition,
    Headers,
    Offset,
    Timestamp,
    TimestampType,
}

impl MetaKey {
    /// Every readable key with its type, in Flink's order.
    pub(crate) const ALL: [(&'static str, MetaKey); 6] = [
        ("topic", MetaKey::Topic),
        ("partition", MetaKey::Partition),
        ("headers", MetaKey::Headers),
        ("offset", MetaKey::Offset),
        ("timestamp", MetaKey::Timestamp),
        ("timestamp-type", MetaKey::TimestampType),
    ];

    pub(crate) fn flink_type(self) -> rask_types::types::FlinkTypeN {
        use rask_types::types::{FlinkType, FlinkTypeN};
        let ty = match self {
            MetaKey::Topic | MetaKey::TimestampType => FlinkType::String,
            MetaKey::Partition => FlinkType::Int,
            MetaKey::Headers => FlinkType::Map(Box::new(FlinkType::String), Box::new(FlinkType::Bytes)),
            MetaKey::Offset => FlinkType::BigInt,
            MetaKey::Timestamp => FlinkType::TimestampLtz(3),
        };
        FlinkTypeN { ty, nullable: false }
    }
}

/// The metadata of the rows a partition has buffered (only what the table asks for).
#[derive(Default)]
struct MetaRows {
    offsets: Vec<i64>,
    timestamps: Vec<i64>,
    timestamp_types: Vec<&'static str>,
    headers: Vec<Vec<(String, Option<Vec<u8>>)>>,
}

impl MetaRows {
    fn push(&mut self, keys: &[(MetaKey, arrow::datatypes::FieldRef)], msg: &rdkafka::message::BorrowedMessage<'_>) {
        use rdkafka::message::{Headers, Timestamp};
        // A key may back several columns: collect it once.
        for (i, (k, _)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(d, _)| d == k) {
                continue;
            }
            match k {
                MetaKey::Offset => self.offsets.push(msg.offset()),
                MetaKey::Timestamp => self.timestamps.push(msg.timestamp().to_millis().unwrap_or(-1)),
                MetaKey::TimestampType => self.timestamp_types.push(match msg.timestamp() {
                    Timestamp::NotAvailable => "NoTimestampType",
                    Timestamp::CreateTime(_) => "CreateTime",
                    Timestamp::LogAppendTime(_) => "LogAppendTime",
                }),
                MetaKey::Headers => self.headers.push(
                    msg.headers().map(|h| h.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect()).unwrap_or_default(),
                ),
                MetaKey::Topic | MetaKey::Partition => {}
            }
        }
    }

    /// The metadata columns of the `rows` rows buffered, in the table's order; cleared.
    fn take(&mut self, keys: &[(MetaKey, arrow::datatypes::FieldRef)], topic: &str, partition: i32, rows: usize) -> Result<Vec<arrow::array::ArrayRef>> {
        use arrow::array::{ArrayRef, BinaryBuilder, Int32Array, Int64Array, MapBuilder, MapFieldNames, StringArray, StringBuilder, TimestampMillisecondArray};
        let mut out: Vec<ArrayRef> = Vec::with_capacity(keys.len());
        for (i, (k, field)) in keys.iter().enumerate() {
            if let Some(j) = keys[..i].iter().position(|(d, _)| d == k) {
                out.push(out[j].clone());
                continue;
            }
            let a: ArrayRef = match k {
                MetaKey::Topic => Arc::new(StringArray::from(vec![topic; rows])),
                MetaKey::Partition => Arc::new(Int32Array::from(vec![partition; rows])),
                MetaKey::Offset => Arc::new(Int64Array::from(std::mem::take(&mut self.offsets))),
                MetaKey::Timestamp => {
                    let tz = match field.data_type() {
                        arrow::datatypes::DataType::Timestamp(_, tz) => tz.clone(),
                        _ => None,
                    };
                    Arc::new(TimestampMillisecondArray::from(std::mem::take(&mut self.timestamps)).with_timezone_opt(tz))
                }
                MetaKey::TimestampType => Arc::new(StringArray::from(std::mem::take(&mut self.timestamp_types))),
                MetaKey::Headers => {
                    let names = MapFieldNames { entry: "entries".into(), key: "key".into(), value: "value".into() };
                    let mut b = MapBuilder::new(Some(names), StringBuilder::new(), BinaryBuilder::new());
                    for row in std::mem::take(&mut self.headers) {
                        for (hk, hv) in row {
                            b.keys().append_value(hk);
                            b.values().append_option(hv);
                        }
                        b.append(true)?;
                    }
                    Arc::new(b.finish())
                }
            };
            if a.len() != rows {
                return Err(RuntimeError::Internal(format!("Kafka metadata column '{}' has {} values for {rows} rows", field.name(), a.len())));
            }
            out.push(a);
        }
        Ok(out)
    }
}

struct Partition {
    topic: String,
    partition: i32,
    /// The next offset to read.
    next: i64,
    /// The offset after the last record whose row has been handed on (or skipped): what a
    /// checkpoint stores (rows still buffered are read again after a restore).
    emitted: i64,
    /// Split id: the partition's index among all the table's partitions.
    split: u32,
    /// Rows decoded and not handed on yet.
    decoder: Box<dyn RecordDecoder>,
    /// With `key.format`: the keys of those rows (a row whose key has no row, e.g. a null
    /// JSON key, gets NULL key columns, as in Flink).
    keys: Option<KeyRows>,
    /// Their metadata.
    meta: MetaRows,
    /// Bounded mode: stop before this offset.
    stop: Option<i64>,
    done: bool,
    /// `upsert-kafka`: per row read, its value's row in `decoder` (`None`: a tombstone, a
    /// delete of the key).
    upsert: Option<Vec<Option<u32>>>,
}

impl Partition {
    /// Rows read and not handed on yet.
    fn pending(&self) -> usize {
        match &self.upsert {
            Some(rows) => rows.len(),
            None => self.decoder.buffered(),
        }
    }
}

pub struct KafkaReader {
    consumer: BaseConsumer<EndOffsets>,
    parts: Vec<Partition>,
    /// Every split this reader owns (tagged on its batches for per-split watermarks).
    splits: Arc<[u32]>,
    /// Batches flushed and not returned yet: (partition index, its offset once returned).
    ready: std::collections::VecDeque<(usize, i64, rask_types::StreamBatch)>,
    bounded: bool,
    batch_size: usize,
    metrics: Arc<SourceMetrics>,
    /// Metadata columns appended to every batch.
    meta_keys: Vec<(MetaKey, arrow::datatypes::FieldRef)>,
    /// The batches' schema: physical columns, then metadata.
    schema: arrow::datatypes::SchemaRef,
    /// Partition discovery: interval, when it last ran, every partition seen (any owner),
    /// and what this subtask needs to take new ones.
    discovery: Option<Duration>,
    discovered_at: Instant,
    known: std::collections::BTreeSet<(String, i32)>,
    opts: KafkaOptions,
    subtask: usize,
    parallelism: usize,
    source_schema: arrow::datatypes::SchemaRef,
    /// Which physical columns the record key and value hold.
    layout: super::options::Layout,
    /// Commit checkpointed offsets to the consumer group (`properties.group.id` set and
    /// `properties.commit.offsets.on.checkpoint` not false, as Flink's KafkaSource).
    commit_offsets: bool,
    /// This subtask's consumer lag in [`SourceMetrics::pending_records`], updated once a second.
    pending: rask_runtime::connector::PendingRecords,
    pending_at: Instant,
}

/// The consumer's context: keeps each partition's end offset from librdkafka's statistics
/// (served during `poll`): the high watermark, or the last stable offset when reading
/// committed records only.
#[derive(Default)]
pub struct EndOffsets {
    read_committed: bool,
    ends: std::sync::Mutex<std::collections::HashMap<(String, i32), i64>>,
}

impl rdkafka::ClientContext for EndOffsets {
    fn stats(&self, stats: rdkafka::Statistics) {
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        for (t, topic) in stats.topics {
            for (p, part) in topic.partitions {
                let end = if self.read_committed { part.ls_offset } else { part.hi_offset };
                if p >= 0 && end >= 0 {
                    ends.insert((t.clone(), p), end);
                }
            }
        }
    }
}

impl ConsumerContext for EndOffsets {}

/// The subtask reading a partition: Flink's KafkaSource rule (a topic's partitions round-robin
/// from a start index given by the topic name's Java hash code), the same in every subtask
/// whenever it is computed, so partitions discovered later are owned by exactly one subtask.
pub(crate) fn owner(topic: &str, partition: i32, parallelism: usize) -> usize {
    let hash = topic.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    let start = (hash.wrapping_mul(31) & 0x7FFF_FFFF) as usize % parallelism;
    (start + partition.max(0) as usize) % parallelism
}

/// Every (topic, partition) of the table, sorted.
pub(crate) fn list_partitions<C: ConsumerContext>(consumer: &BaseConsumer<C>, opts: &KafkaOptions) -> Result<Vec<(String, i32)>> {
    let one = match &opts.topic_pattern {
        None if opts.topics.len() == 1 => Some(opts.topics[0].as_str()),
        _ => None,
    };
    let md = fetch_metadata(consumer.client(), one, opts)?;
    let mut out = Vec::new();
    for t in md.topics() {
        let wanted = match &opts.topic_pattern {
            Some(re) => re.is_match(t.name()),
            None => opts.topics.iter().any(|n| n == t.name()),
        };
        if !wanted {
            continue;
        }
        if let Some(e) = t.error() {
            return Err(RuntimeError::User(format!("Kafka topic '{}': {:?}", t.name(), rdkafka::types::RDKafkaRespErr::from(e))));
        }
        out.extend(t.partitions().iter().map(|p| (t.name().to_string(), p.id())));
    }
    for t in &opts.topics {
        if !out.iter().any(|(n, _)| n == t) {
            return Err(no_topic(t, opts));
        }
    }
    out.sort();
    Ok(out)
}

/// A partition's value decoder and, with a key format, key decoder.
fn decoders(opts: &KafkaOptions, layout: &super::options::Layout) -> Result<(Box<dyn RecordDecoder>, Option<KeyRows>)> {
    let mut value_schema = layout.value.1.clone();
    if opts.upsert {
        // A tombstone's row has no value: NULL until its key columns are filled in from the key.
        let fields: Vec<arrow::datatypes::Field> = value_schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        value_schema = Arc::new(arrow::datatypes::Schema::new(fields));
    }
    let mut value = rask_formats::decoder(&opts.format, value_schema, &opts.format_options).map_err(|e| RuntimeError::User(e.to_string()))?;
    value.read_only(&layout.value_read);
    let keys = match (&opts.key, &layout.key) {
        (Some(k), Some((_, schema))) => Some(KeyRows {
            decoder: rask_formats::decoder(&k.format, schema.clone(), &k.format_options).map_err(|e| RuntimeError::User(format!("key format: {e}")))?,
            rows: Vec::new(),
        }),
        _ => None,
    };
    Ok((value, keys))
}

/// The (earliest, end) offsets of a partition.
fn offset_range<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &str, partition: i32, wait: Duration) -> Result<(i64, i64)> {
    consumer
        .fetch_watermarks(topic, partition, wait)
        .map_err(|e| RuntimeError::External(format!("cannot read the offsets of Kafka topic '{topic}' partition {partition}: {e}")))
}

/// Offsets for `parts` by a lookup (committed offsets or offsets for a time); `None` where
/// there is none.
fn lookup<C: ConsumerContext>(consumer: &BaseConsumer<C>, parts: &[(String, i32)], at: Option<i64>, wait: Duration) -> Result<BTreeMap<(String, i32), Option<i64>>> {
    let mut tpl = TopicPartitionList::new();
    for (t, p) in parts {
        tpl.add_partition_offset(t, *p, at.map_or(Offset::Invalid, Offset::Offset)).map_err(client_error)?;
    }
    let res = match at {
        None => consumer.committed_offsets(tpl, wait),
        Some(_) => consumer.offsets_for_times(tpl, wait),
    }
    .map_err(|e| RuntimeError::External(format!("cannot look up Kafka offsets: {e}")))?;
    Ok(res.elements().iter().map(|e| ((e.topic().to_string(), e.partition()), if let Offset::Offset(o) = e.offset() { Some(o) } else { None })).collect())
}

impl KafkaReader {
    pub fn new(opts: &KafkaOptions, ctx: &SourceContext, restore_all: Option<&[Vec<u8>]>) -> Result<Self> {
        if (opts.start == StartFrom::Group || opts.stop == StopAt::Group) && !opts.properties.contains_key("group.id") {
            return Err(RuntimeError::User(
                "reading Kafka from 'group-offsets' (the default 'scan.startup.mode') needs option 'properties.group.id'; or set 'scan.startup.mode'".into(),
            ));
        }
        let wait = timeout(opts);
        let mut cfg = opts.client_config();
        if !opts.properties.contains_key("group.id") {
            cfg.set("group.id", format!("rask-{}", std::process::id()));
        }
        cfg.set("enable.auto.commit", "false");
        cfg.set("enable.auto.offset.store", "false");
        if !opts.properties.contains_key("isolation.level") {
            cfg.set("isolation.level", "read_uncommitted"); // the Java client's default, as in Flink
        }
        // librdkafka's statistics carry each partition's end offsets as of the latest fetch:
        // the consumer lag without a request to the broker.
        if !opts.properties.contains_key("statistics.interval.ms") {
            cfg.set("statistics.interval.ms", "1000");
        }
        let read_committed = opts.properties.get("isolation.level").is_some_and(|v| v.eq_ignore_ascii_case("read_committed"));
        let consumer: BaseConsumer<EndOffsets> = cfg.create_with_context(EndOffsets { read_committed, ..Default::default() }).map_err(client_error)?;
        let all = list_partitions(&consumer, opts)?;
        let known: std::collections::BTreeSet<(String, i32)> = all.iter().cloned().collect();
        let indexed: Vec<(u32, (String, i32))> = all
            .into_iter()
            .enumerate()
            .filter(|(_, (t, p))| owner(t, *p, ctx.parallelism) == ctx.subtask)
            .map(|(i, p)| (i as u32, p))
            .collect();
        let mine: Vec<(String, i32)> = indexed.iter().map(|(_, p)| p.clone()).collect();

        // Where each partition starts: the checkpoint's offset, else the startup mode; and
        // where it stops (bounded mode): the checkpoint's stop offset, else the bounded mode.
        let mut start: BTreeMap<(String, i32), Offset> = BTreeMap::new();
        let mut stops: BTreeMap<(String, i32), i64> = BTreeMap::new();
        if let Some(positions) = restore_all {
            for pos in crate::position::decode_all::<Position>("kafka source", positions)? {
                for (t, p, o, stop) in pos.offsets {
                    if let Some(s) = stop {
                        stops.insert((t.clone(), p), s);
                    }
                    start.insert((t, p), Offset::Offset(o));
                }
            }
        }
        let fresh: Vec<(String, i32)> = mine.iter().filter(|k| !start.contains_key(k)).cloned().collect();
        if !fresh.is_empty() {
            match &opts.start {
                StartFrom::Earliest | StartFrom::Latest | StartFrom::Specific(_) => {
                    for k in &fresh {
                        let off = match &opts.start {
                            StartFrom::Latest => Offset::End,
                            StartFrom::Specific(m) => m.get(&k.1).map_or(Offset::Beginning, |o| Offset::Offset(*o)),
                            _ => Offset::Beginning,
                        };
                        start.insert(k.clone(), off);
                    }
                }
                StartFrom::Timestamp(ts) => {
                    for (k, o) in lookup(&consumer, &fresh, Some(*ts), wait)? {
                        start.insert(k, o.map_or(Offset::End, Offset::Offset));
                    }
                }
                StartFrom::Group => {
                    let reset = opts.properties.get("auto.offset.reset").map(|s| s.to_ascii_lowercase());
                    for (k, o) in lookup(&consumer, &fresh, None, wait)? {
                        let off = match (o, reset.as_deref()) {
                            (Some(o), _) => Offset::Offset(o),
                            (None, Some("earliest" | "smallest" | "beginning")) => Offset::Beginning,
                            (None, Some("latest" | "largest" | "end")) => Offset::End,
                            (None, _) => {
                                return Err(RuntimeError::User(format!(
                                    "Kafka group '{}' has no committed offset for topic '{}' partition {}; set 'properties.auto.offset.reset' \
                                     (earliest or latest) or another 'scan.startup.mode'",
                                    opts.properties.get("group.id").map(String::as_str).unwrap_or(""),
                                    k.0,
                                    k.1
                                )));
                            }
                        };
                        start.insert(k, off);
                    }
                }
            }
        }
        // Stop offsets are fixed when a partition is first read.
        let unstopped: Vec<(String, i32)> = mine.iter().filter(|k| !stops.contains_key(k)).cloned().collect();
        match &opts.stop {
            StopAt::Unbounded => {}
            StopAt::Latest | StopAt::Specific(_) => {
                for (t, p) in unstopped {
                    let stop = match &opts.stop {
                        StopAt::Specific(s) if s.contains_key(&p) => s[&p],
                        _ => offset_range(&consumer, &t, p, wait)?.1,
                    };
                    stops.insert((t, p), stop);
                }
            }
            StopAt::Group => stops.extend(lookup(&consumer, &unstopped, None, wait)?.into_iter().map(|(k, o)| (k, o.unwrap_or(0)))),
            StopAt::Timestamp(ts) => {
                for (k, o) in lookup(&consumer, &unstopped, Some(*ts), wait)? {
                    let stop = match o {
                        Some(o) => o,
                        None => offset_range(&consumer, &k.0, k.1, wait)?.1,
                    };
                    stops.insert(k, stop);
                }
            }
        }
        let bounded = opts.stop != StopAt::Unbounded;
        let mut layout = opts.layout(&ctx.schema).map_err(RuntimeError::User)?;
        if ctx.read.len() == ctx.schema.fields().len() {
            layout.value_read = layout.value.0.iter().map(|i| ctx.read[*i].clone()).collect();
        }
        let meta_keys = ctx
            .metadata
            .iter()
            .map(|(k, f)| {
                MetaKey::ALL.iter().find(|(n, _)| n == k).map(|(_, m)| (*m, f.clone())).ok_or_else(|| RuntimeError::User(format!("Kafka has no metadata key '{k}'")))
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = {
            let mut fields: Vec<arrow::datatypes::FieldRef> = ctx.schema.fields().iter().cloned().collect();
            fields.extend(meta_keys.iter().map(|(_, f)| f.clone()));
            Arc::new(arrow::datatypes::Schema::new(fields))
        };
        let mut tpl = TopicPartitionList::new();
        let mut parts = Vec::new();
        for (split, (t, p)) in &indexed {
            let k = (t.clone(), *p);
            // Concrete offsets, so that a checkpoint pins where an unread partition starts.
            let next = match start.get(&k).copied().unwrap_or(Offset::Beginning) {
                Offset::Offset(o) => o,
                other => {
                    let (low, high) = offset_range(&consumer, t, *p, wait)?;
                    if other == Offset::End { high } else { low }
                }
            };
            let stop = stops.get(&k).copied();
            let done = stop.is_some_and(|s| next >= s);
            if !done {
                tpl.add_partition_offset(t, *p, Offset::Offset(next)).map_err(client_error)?;
            }
            let (decoder, keys) = decoders(opts, &layout)?;
            parts.push(Partition { topic: t.clone(), partition: *p, next, emitted: next, split: *split, decoder, keys, meta: MetaRows::default(), stop, done, upsert: opts.upsert.then(Vec::new) });
        }
        consumer.assign(&tpl).map_err(client_error)?;
        let splits: Arc<[u32]> = parts.iter().map(|p| p.split).collect();
        Ok(KafkaReader {
            consumer,
            parts,
            splits,
            ready: Default::default(),
            bounded,
            batch_size: ctx.batch_size,
            metrics: ctx.metrics.clone(),
            meta_keys,
            schema,
            discovery: opts.discovery.filter(|_| !bounded),
            discovered_at: Instant::now(),
            known,
            opts: opts.clone(),
            subtask: ctx.subtask,
            parallelism: ctx.parallelism,
            source_schema: ctx.schema.clone(),
            layout,
            pending: Default::default(),
            pending_at: Instant::now() - Duration::from_secs(1),
            commit_offsets: opts.properties.contains_key("group.id")
                && opts.properties.get("commit.offsets.on.checkpoint").is_none_or(|v| !v.eq_ignore_ascii_case("false")),
        })
    }

    /// Queue partition `i`'s buffered rows as a batch tagged with its split.
    fn flush(&mut self, i: usize) -> Result<()> {
        let p = &mut self.parts[i];
        if p.pending() == 0 {
            return Ok(());
        }
        let mut rb = p.decoder.flush().map_err(|e| RuntimeError::User(e.to_string()))?;
        // Upsert mode: the value columns per row read (NULL for a tombstone), its kind.
        let mut upsert_kinds = None;
        let mut tombstones = None;
        if let Some(rows) = p.upsert.as_mut() {
            let idx = arrow::array::UInt32Array::from(std::mem::take(rows));
            let cols = rb.columns().iter().map(|c| arrow::compute::take(c, &idx, None)).collect::<std::result::Result<Vec<_>, _>>()?;
            rb = arrow::array::RecordBatch::try_new(rb.schema(), cols)?;
            let deleted = arrow::compute::is_null(&idx)?;
            upsert_kinds = Some(arrow::array::UInt8Array::from_iter_values(
                deleted.values().iter().map(|d| if d { rask_types::RowKind::Delete } else { rask_types::RowKind::Insert } as u8),
            ));
            tombstones = Some(deleted);
        }
        if let Some(k) = p.keys.as_mut() {
            let key_cols = k.take()?;
            let key_idx = self.layout.key.as_ref().map(|(k, _)| k.as_slice()).unwrap_or_default();
            // The physical columns, each from the value or (EXCEPT_KEY) the key; a key column
            // read from the value comes from the key in a tombstone (which has no value).
            let cols = self.layout.columns.iter().enumerate().map(|(j, s)| match s {
                Side::Value(i) => match (&tombstones, key_idx.iter().position(|k| *k == j)) {
                    (Some(t), Some(k)) if t.true_count() > 0 => Ok(arrow::compute::kernels::zip::zip(t, &key_cols[k], rb.column(*i))?),
                    _ => Ok(rb.column(*i).clone()),
                },
                Side::Key(i) => Ok(key_cols[*i].clone()),
            });
            rb = arrow::array::RecordBatch::try_new(self.source_schema.clone(), cols.collect::<Result<Vec<_>>>()?)?;
        }
        if !self.meta_keys.is_empty() {
            let mut cols = rb.columns().to_vec();
            cols.extend(p.meta.take(&self.meta_keys, &p.topic, p.partition, rb.num_rows())?);
            rb = arrow::array::RecordBatch::try_new(self.schema.clone(), cols)?;
        }
        let mut b = match upsert_kinds.or_else(|| p.decoder.take_kinds()) {
            Some(kinds) => rask_types::StreamBatch::with_kinds(rb, kinds),
            None => rask_types::StreamBatch::inserts(rb),
        };
        b.split = Some(rask_types::SplitTag { split: p.split, splits: self.splits.clone() });
        self.ready.push_back((i, p.next, b));
        Ok(())
    }

    /// Queue every partition's buffered rows.
    fn flush_all(&mut self) -> Result<()> {
        (0..self.parts.len()).try_for_each(|i| self.flush(i))
    }

    /// The next queued batch; the partition's stored offset moves past its rows.
    fn pop(&mut self) -> Option<SourceEvent> {
        let (i, offset, b) = self.ready.pop_front()?;
        let p = &mut self.parts[i];
        p.emitted = p.emitted.max(offset);
        Some(SourceEvent::Batch(b))
    }

    /// Bounded partitions whose fetch position passed the stop offset without a record there
    /// (the last offsets were transaction markers, which consumers never see) are done.
    fn check_positions(&mut self) -> Result<()> {
        if !self.bounded {
            return Ok(());
        }
        let pos = self.consumer.position().map_err(client_error)?;
        for i in 0..self.parts.len() {
            let p = &self.parts[i];
            if p.done {
                continue;
            }
            if let (Some(stop), Some(Offset::Offset(at))) = (p.stop, pos.find_partition(&p.topic, p.partition).map(|e| e.offset()))
                && at >= stop
            {
                let p = &mut self.parts[i];
                p.next = p.next.max(stop);
                if p.pending() == 0 {
                    p.emitted = p.next;
                }
                self.finish(i)?;
            }
        }
        Ok(())
    }

    /// Look for new partitions (and topics matching the pattern); take the ones this subtask
    /// owns from their earliest offset, as Flink does for partitions found after the start.
    fn discover(&mut self) -> Result<()> {
        self.discovered_at = Instant::now();
        let all = list_partitions(&self.consumer, &self.opts)?;
        let wait = timeout(&self.opts);
        let mut tpl = TopicPartitionList::new();
        let mut splits: Vec<u32> = self.splits.to_vec();
        for (t, p) in all {
            if !self.known.insert((t.clone(), p)) || owner(&t, p, self.parallelism) != self.subtask {
                continue;
            }
            let next = offset_range(&self.consumer, &t, p, wait)?.0;
            tracing::info!(topic = %t, partition = p, offset = next, "reading a newly discovered Kafka partition");
            tpl.add_partition_offset(&t, p, Offset::Offset(next)).map_err(client_error)?;
            let split = splits.iter().max().map_or(0, |m| m + 1);
            splits.push(split);
            let (decoder, keys) = decoders(&self.opts, &self.layout)?;
            self.parts.push(Partition { topic: t, partition: p, next, emitted: next, split, decoder, keys, meta: MetaRows::default(), stop: None, done: false, upsert: self.opts.upsert.then(Vec::new) });
        }
        if tpl.count() > 0 {
            self.consumer.incremental_assign(&tpl).map_err(client_error)?;
            self.splits = splits.into();
        }
        Ok(())
    }

    /// Report the consumer lag (Flink's `pendingRecords`): per partition still read, its end
    /// offset from the latest statistics (no request to the broker) minus the offset of the
    /// next row to hand on. At most once a second, once every partition's end is known.
    fn report_lag(&mut self) {
        if self.pending_at.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.pending_at = Instant::now();
        let ends = self.consumer.context().ends.lock().unwrap_or_else(|p| p.into_inner());
        let mut lag = 0i64;
        for p in self.parts.iter().filter(|p| !p.done) {
            match ends.get(&(p.topic.clone(), p.partition)) {
                Some(end) => lag += (end - p.emitted).max(0),
                None => return,
            }
        }
        drop(ends);
        self.pending.report(&self.metrics, lag);
    }

    /// A bounded partition reached its stop offset: stop fetching it.
    fn finish(&mut self, i: usize) -> Result<()> {
        self.parts[i].done = true;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.parts[i].topic, self.parts[i].partition);
        self.consumer.pause(&tpl).map_err(client_error)
    }
}

impl SourceReader for KafkaReader {
    fn next(&mut self) -> Result<SourceEvent> {
        if let Some(b) = self.pop() {
            return Ok(b);
        }
        if self.discovery.is_some_and(|d| self.discovered_at.elapsed() >= d) {
            self.discover()?;
        }
        self.report_lag();
        let started = Instant::now();
        loop {
            if self.bounded && self.parts.iter().all(|p| p.done) {
                self.flush_all()?;
                return Ok(self.pop().unwrap_or(SourceEvent::End));
            }
            let left = POLL_WAIT.saturating_sub(started.elapsed());
            let msg = match self.consumer.poll(left) {
                None => {
                    self.check_positions()?;
                    if self.bounded && self.parts.iter().all(|p| p.done) {
                        continue;
                    }
                    break;
                }
                Some(Err(e)) => return Err(RuntimeError::External(format!("Kafka source: {e}"))),
                Some(Ok(m)) => m,
            };
            self.metrics.bytes_read.fetch_add((msg.payload_len() + msg.key_len()) as u64, std::sync::atomic::Ordering::Relaxed);
            let Some(i) = self.parts.iter().position(|p| p.partition == msg.partition() && p.topic == msg.topic()) else { continue };
            let offset = msg.offset();
            if self.parts[i].done || self.parts[i].stop.is_some_and(|s| offset >= s) {
                if !self.parts[i].done {
                    self.finish(i)?;
                }
                continue;
            }
            let before = self.parts[i].decoder.buffered();
            let upsert = self.parts[i].upsert.is_some();
            let decoded = match msg.payload() {
                Some(p) => self.parts[i].decoder.decode(p),
                // Upsert mode: a tombstone deletes its key.
                None if upsert => Ok(true),
                None => self.parts[i].decoder.decode_null(),
            };
            match decoded {
                Ok(true) => {
                    let after = self.parts[i].decoder.buffered();
                    let read = if let Some(rows) = self.parts[i].upsert.as_mut() {
                        match msg.payload() {
                            Some(_) => rows.extend((before..after).map(|r| Some(r as u32))),
                            None => rows.push(None),
                        }
                        if msg.payload().is_some() { after - before } else { 1 }
                    } else {
                        after - before
                    };
                    // A changelog format may turn one record into two rows (an update).
                    for _ in 0..read {
                        if let Some(k) = self.parts[i].keys.as_mut()
                            && let Err(e) = k.push(msg.key())
                        {
                            return Err(RuntimeError::User(format!(
                                "cannot parse the key of the record at Kafka topic '{}', partition {}, offset {offset}: {e}",
                                msg.topic(),
                                msg.partition(),
                            )));
                        }
                        if !self.meta_keys.is_empty() {
                            self.parts[i].meta.push(&self.meta_keys, &msg);
                        }
                    }
                }
                Ok(false) => {
                    if msg.payload().is_some_and(|p| !p.is_empty()) {
                        self.metrics.skipped_records.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    return Err(RuntimeError::User(format!(
                        "cannot parse record at Kafka topic '{}', partition {}, offset {offset}: {e} (set '{}.ignore-parse-errors' = 'true' to skip bad records)",
                        msg.topic(),
                        msg.partition(),
                        self.opts.format
                    )));
                }
            }
            let p = &mut self.parts[i];
            p.next = offset + 1;
            if p.pending() == 0 {
                p.emitted = p.next; // nothing of this partition is waiting
            }
            if p.stop.is_some_and(|s| offset + 1 >= s) {
                self.finish(i)?;
            }
            if self.parts[i].pending() >= self.batch_size {
                self.flush(i)?;
                return Ok(self.pop().unwrap_or(SourceEvent::Idle));
            }
        }
        self.flush_all()?;
        Ok(self.pop().unwrap_or(SourceEvent::Idle))
    }

    fn on_checkpoint_complete(&mut self, position: &[u8]) -> Result<()> {
        if !self.commit_offsets {
            return Ok(());
        }
        let pos: Position = crate::position::decode("kafka source", position)?;
        let mut tpl = TopicPartitionList::new();
        for (t, p, offset, _) in &pos.offsets {
            tpl.add_partition_offset(t, *p, Offset::Offset(*offset)).map_err(client_error)?;
        }
        // For monitoring only (the checkpoint holds the offsets): a failure is logged, as in Flink.
        if let Err(e) = self.consumer.commit(&tpl, rdkafka::consumer::CommitMode::Async) {
            tracing::warn!("committing checkpointed offsets to the Kafka consumer group failed: {e}");
        }
        Ok(())
    }

    fn position(&mut self) -> Result<Option<Vec<u8>>> {
        let offsets = self.parts.iter().map(|p| (p.topic.clone(), p.partition, p.emitted, p.stop)).collect();
        crate::position::encode("kafka source", &Position { offsets })
    }
}
