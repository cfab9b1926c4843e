//! The Nexmark data model, generated column by column into Arrow arrays.
//!
//! Event number `n` (0-based over the whole stream) becomes the event with number
//! `a = shuffle(n)` (identity unless `out-of-order.group-size` > 1). `a` alone fixes the kind
//! (`a % (person + auction + bid proportions)`), the person/auction ids and the event time
//! (`base + a / rate`), as in the Nexmark generator of Beam and Flink; the random fields (names,
//! prices, hot or random bidders…) come from a random stream seeded by `(seed, block)`, where a
//! block is [`BLOCK`] consecutive event numbers. So the same seed gives the same events whatever
//! the parallelism or batch size: subtasks generate disjoint blocks.
//!
//! Strings are slices of pools of random text made once per generator (the values are not the
//! Java generator's, which is unseeded; the distributions are the same).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, StructArray, TimestampMillisecondArray};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::options::NexmarkConfig;

/// Event numbers per block of the random stream (and per generated batch).
pub const BLOCK: u64 = 8192;

const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;
const PERSON_ID_LEAD: u64 = 10;
const AUCTION_ID_LEAD: u64 = 10;
const HOT_SELLER_RATIO: u64 = 100;
const HOT_AUCTION_RATIO: u64 = 100;
const HOT_BIDDER_RATIO: u64 = 100;
const HOT_CHANNELS_RATIO: u64 = 2;
const CHANNELS_NUMBER: u64 = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] = ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
/// Size of the random-text pools: small enough to stay in the L2 cache (random offsets into a
/// larger pool made every string copy a cache miss), large enough for varied strings.
const POOL: usize = 1 << 16;

/// The physical columns of a nexmark table, as in Flink nexmark's DDL.
pub fn nexmark_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, None);
    let f = |n: &str, t: DataType| Field::new(n, t, true);
    let s = || DataType::Utf8;
    let i = || DataType::Int64;
    let person = Fields::from(vec![
        f("id", i()),
        f("name", s()),
        f("emailAddress", s()),
        f("creditCard", s()),
        f("city", s()),
        f("state", s()),
        f("dateTime", ts()),
        f("extra", s()),
    ]);
    let auction = Fields::from(vec![
        f("id", i()),
        f("itemName", s()),
        f("description", s()),
        f("initialBid", i()),
        f("reserve", i()),
        f("dateTime", ts()),
        f("expires", ts()),
        f("seller", i()),
        f("category", i()),
        f("extra", s()),
    ]);
    let bid = Fields::from(vec![f("auction", i()), f("bidder", i()), f("price", i()), f("channel", s()), f("url", s()), f("dateTime", ts()), f("extra", s())]);
    Arc::new(Schema::new(vec![
        f("event_type", DataType::Int32),
        f("person", DataType::Struct(person)),
        f("auction", DataType::Struct(auction)),
        f("bid", DataType::Struct(bid)),
    ]))
}

fn type_name(t: &DataType) -> String {
    rask_types::types::FlinkType::from_arrow(t).map(|f| f.to_string()).unwrap_or_else(|| t.to_string())
}

/// The table's physical columns must be Flink nexmark's (names case-insensitive).
pub fn check_schema(schema: &SchemaRef) -> Result<(), String> {
    let want = nexmark_schema();
    let expected = || {
        want.fields().iter().map(|f| format!("{} {}", f.name(), type_name(f.data_type()))).collect::<Vec<_>>().join(", ")
    };
    if schema.fields().len() != want.fields().len() {
        return Err(format!(
            "the nexmark connector produces the physical columns {}; the table declares {} physical column(s)",
            expected(),
            schema.fields().len()
        ));
    }
    for (got, w) in schema.fields().iter().zip(want.fields()) {
        if !got.name().eq_ignore_ascii_case(w.name()) || !same_shape(got.data_type(), w.data_type()) {
            return Err(format!(
                "the nexmark connector produces the physical columns {}; column '{}' {} does not match '{}' {}",
                expected(),
                got.name(),
                type_name(got.data_type()),
                w.name(),
                type_name(w.data_type())
            ));
        }
    }
    Ok(())
}

fn same_shape(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::Struct(x), DataType::Struct(y)) => {
            x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(p, q)| p.name().eq_ignore_ascii_case(q.name()) && same_shape(p.data_type(), q.data_type()))
        }
        _ => a == b,
    }
}

/// A small, fast random stream (wyrand).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, block: u64) -> Self {
        let mut r = Rng(seed ^ block.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x6e65_786d_6172_6b00);
        r.next();
        r
    }
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) ^ t) as u64
    }
    /// Uniform in `[0, k)` for `k >= 1`.
    #[inline]
    fn below(&mut self, k: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(k)) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    #[inline]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Nexmark's price: 10^(6u) * 100 cents, log-uniform between $1 and $1M.
#[inline]
fn price(r: &mut Rng) -> i64 {
    (r.unit() * 6.0 * std::f64::consts::LN_10).exp().mul_add(100.0, 0.5).floor() as i64
}

/// A UTF-8 column of one event kind, built compactly (only that kind's rows, in pieces with
/// `part` or whole with `push`), then spread over the batch's rows by [`StrCol::finish`].
struct StrCol {
    offsets: Vec<i32>,
    data: Vec<u8>,
}

impl StrCol {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        StrCol { offsets, data: Vec::with_capacity(bytes) }
    }
    /// Append to the value being built (closed by [`StrCol::end`]).
    #[inline]
    fn part(&mut self, s: &str) {
        self.data.extend_from_slice(s.as_bytes());
    }
    #[inline]
    fn end(&mut self) {
        self.offsets.push(self.data.len() as i32);
    }
    #[inline]
    fn push(&mut self, s: &str) {
        self.part(s);
        self.end();
    }
    /// Append a number in decimal.
    #[inline]
    fn part_u64(&mut self, mut v: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.data.extend_from_slice(&buf[i..]);
    }
    /// The column over all rows: the `k`-th row whose kind is `kind` gets the `k`-th value,
    /// the others are NULL (`nulls`). The value bytes are not copied.
    fn finish(self, kinds: &[i32], kind: i32, nulls: &Option<NullBuffer>) -> ArrayRef {
        let mut offsets = Vec::with_capacity(kinds.len() + 1);
        let mut k = 0;
        offsets.push(0);
        for &t in kinds {
            if t == kind {
                k += 1;
            }
            offsets.push(self.offsets[k]);
        }
        match StringArray::try_new(OffsetBuffer::new(ScalarBuffer::from(offsets)), self.data.into(), nulls.clone()) {
            Ok(a) => Arc::new(a),
            // Only ASCII is written; an error here is a bug in this file.
            Err(e) => panic!("nexmark generated an invalid string column: {e}"),
        }
    }
}

fn i64s(v: Vec<i64>, nulls: &Option<NullBuffer>) -> ArrayRef {
    Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls.clone()))
}

fn timestamps(v: Vec<i64>, nulls: &Option<NullBuffer>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::new(ScalarBuffer::from(v), nulls.clone()))
}

/// Generates blocks of events for one configuration.
pub struct Generator {
    cfg: NexmarkConfig,
    base_time: i64,
    total: u64,
    schema: SchemaRef,
    /// Random letters (`extra`).
    letters: String,
    /// Random letters and spaces (names, descriptions, e-mail addresses).
    text: String,
    /// `text` with '_' for ' ' (URL paths).
    url_text: String,
}

impl Generator {
    /// `schema` is the table's physical schema (checked by [`check_schema`]).
    pub fn new(cfg: NexmarkConfig, base_time: i64, schema: SchemaRef) -> Self {
        let mut r = Rng::new(cfg.seed, u64::MAX);
        let letters: String = (0..POOL + 4096).map(|_| (b'a' + r.below(26) as u8) as char).collect();
        let text: String = (0..POOL + 256)
            .map(|_| {
                let v = r.below(13 * 26);
                if v < 26 { ' ' } else { (b'a' + (v % 26) as u8) as char }
            })
            .collect();
        let url_text = text.replace(' ', "_");
        let total = cfg.person_proportion + cfg.auction_proportion + cfg.bid_proportion;
        Generator { cfg, base_time, total, schema, letters, text, url_text }
    }

    /// Channel `ch` (0..4 the hot ones, then `channel-0` …) and its URL: three random path parts
    /// and, for 9 in 10 ordinary channels, a `channel_id` parameter. A channel's URL is a
    /// function of the seed and the channel, computed here instead of looked up in a table of
    /// 10,000 (whose random accesses missed the cache on every bid).
    fn channel(&self, ch: u64, name: &mut StrCol, url: &mut StrCol) {
        if ch < HOT_CHANNELS.len() as u64 {
            name.push(HOT_CHANNELS[ch as usize]);
        } else {
            name.part("channel-");
            name.part_u64(ch - 4);
            name.end();
        }
        let mut r = Rng::new(self.cfg.seed ^ 0x7572_6c00, ch);
        url.part("https://www.nexmark.com/");
        for _ in 0..3 {
            let len = 3 + r.below(2) as usize;
            let off = r.below(POOL as u64) as usize;
            url.part(&self.url_text[off..off + len]);
            url.part("/");
        }
        url.part("item.htm?query=1");
        if ch >= 4 && r.below(10) > 0 {
            url.part("&channel_id=");
            url.part_u64(u64::from(((ch - 4) as i32).reverse_bits().unsigned_abs()));
        }
        url.end();
    }

    /// Events in the whole stream (`None` = unbounded).
    pub fn events(&self) -> Option<u64> {
        self.cfg.events
    }

    /// Event time of event number `a`.
    pub fn timestamp(&self, a: u64) -> i64 {
        self.base_time + ((u128::from(a) * 1_000_000 / u128::from(self.cfg.rate)) / 1000) as i64
    }

    /// The event number that comes out at position `n` (shuffled within groups).
    #[inline]
    fn adjusted(&self, n: u64) -> u64 {
        let g = self.cfg.out_of_order_group;
        if g <= 1 { n } else { (n / g) * g + (n.wrapping_mul(953)) % g }
    }

    /// The latest person id (base 0) at the event `(epoch, offset)` of the proportion cycle.
    #[inline]
    fn last_person(&self, epoch: u64, mut offset: u64) -> u64 {
        if offset >= self.cfg.person_proportion {
            offset = self.cfg.person_proportion - 1;
        }
        epoch * self.cfg.person_proportion + offset
    }

    /// The latest auction id (base 0) at the event `(epoch, offset)`.
    #[inline]
    fn last_auction(&self, epoch: u64, mut offset: u64) -> u64 {
        let mut epoch = epoch as i64;
        let (pp, ap) = (self.cfg.person_proportion, self.cfg.auction_proportion);
        if offset < pp {
            epoch -= 1;
            offset = ap - 1;
        } else if offset >= pp + ap {
            offset = ap - 1;
        } else {
            offset -= pp;
        }
        (epoch * ap as i64 + offset as i64).max(0) as u64
    }

    fn random_person(&self, last_person: u64, r: &mut Rng) -> u64 {
        let num_people = last_person + 1;
        let active = num_people.min(self.cfg.num_active_people);
        num_people - active + r.below(active + PERSON_ID_LEAD)
    }

    fn random_auction(&self, last_auction: u64, r: &mut Rng) -> u64 {
        let max = last_auction;
        let min = max.saturating_sub(self.cfg.num_in_flight_auctions);
        min + r.below(max - min + 1 + AUCTION_ID_LEAD)
    }

    /// Nexmark's nextString(max): 3..max characters of text, trimmed.
    #[inline]
    fn string<'a>(&'a self, r: &mut Rng, max: u64) -> &'a str {
        let len = 3 + r.below(max - 3) as usize;
        let off = r.below(POOL as u64) as usize;
        self.text[off..off + len].trim()
    }

    /// Nexmark's nextExtra: letters so that the event's size is `avg` on average.
    #[inline]
    fn extra<'a>(&'a self, r: &mut Rng, current: u64, avg: u64) -> &'a str {
        if current > avg {
            return "";
        }
        let want = avg - current;
        let delta = (want as f64 * 0.2).round() as u64;
        let len = (want - delta + if delta == 0 { 0 } else { r.below(2 * delta) }) as usize;
        let len = len.min(4096);
        let off = r.below(POOL as u64) as usize;
        &self.letters[off..off + len]
    }

    /// Events `block * BLOCK ..` (`len` of them, at most [`BLOCK`]) as one batch.
    pub fn block(&self, block: u64, len: usize) -> RecordBatch {
        let mut r = Rng::new(self.cfg.seed, block);
        let first = block * BLOCK;
        let (pp, ap) = (self.cfg.person_proportion, self.cfg.auction_proportion);
        let mut kind = Vec::with_capacity(len);
        // person
        let (mut p_id, mut p_ts) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let mut p_name = StrCol::with_capacity(len, 0);
        let mut p_email = StrCol::with_capacity(len, 0);
        let mut p_card = StrCol::with_capacity(len, 0);
        let mut p_city = StrCol::with_capacity(len, 0);
        let mut p_state = StrCol::with_capacity(len, 0);
        let mut p_extra = StrCol::with_capacity(len, 0);
        // auction
        let (mut a_id, mut a_init, mut a_res, mut a_ts, mut a_exp, mut a_sel, mut a_cat) =
            (Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len));
        let mut a_item = StrCol::with_capacity(len, 0);
        let mut a_desc = StrCol::with_capacity(len, 0);
        let mut a_extra = StrCol::with_capacity(len, 0);
        // bid
        let (mut b_auc, mut b_bidder, mut b_price, mut b_ts) = (Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len), Vec::with_capacity(len));
        let mut b_chan = StrCol::with_capacity(len, len * 8);
        let mut b_url = StrCol::with_capacity(len, len * 64);
        let mut b_extra = StrCol::with_capacity(len, len * (self.cfg.avg_bid_size as usize).saturating_sub(30));
        let nfa = (self.cfg.num_in_flight_auctions * self.total) / ap;
        let mut card = [0u8; 19];

        for n in first..first + len as u64 {
            let a = self.adjusted(n);
            let ts = self.timestamp(a);
            let epoch = a / self.total;
            let rem = a - epoch * self.total;
            let k = if rem < pp { 0 } else if rem < pp + ap { 1 } else { 2 };
            kind.push(k);
            if k == 0 {
                p_id.push(self.last_person(epoch, rem) as i64 + FIRST_PERSON_ID);
                p_ts.push(ts);
                let (first_name, last_name) = (FIRST_NAMES[r.below(11) as usize], LAST_NAMES[r.below(9) as usize]);
                p_name.part(first_name);
                p_name.part(" ");
                p_name.push(last_name);
                let user = self.string(&mut r, 7);
                let host = self.string(&mut r, 5);
                p_email.part(user);
                p_email.part("@");
                p_email.part(host);
                p_email.push(".com");
                for g in 0..4 {
                    let v = r.below(10_000);
                    let at = g * 5;
                    card[at] = b'0' + (v / 1000) as u8;
                    card[at + 1] = b'0' + (v / 100 % 10) as u8;
                    card[at + 2] = b'0' + (v / 10 % 10) as u8;
                    card[at + 3] = b'0' + (v % 10) as u8;
                    if g < 3 {
                        card[at + 4] = b' ';
                    }
                }
                p_card.push(std::str::from_utf8(&card).unwrap_or_default());
                let city = US_CITIES[r.below(10) as usize];
                let state = US_STATES[r.below(6) as usize];
                p_city.push(city);
                p_state.push(state);
                let size = 8 + (first_name.len() + 1 + last_name.len() + user.len() + host.len() + 5 + 19 + city.len() + state.len()) as u64;
                p_extra.push(self.extra(&mut r, size, self.cfg.avg_person_size));
            } else {
                p_id.push(0);
                p_ts.push(0);
            }
            if k == 1 {
                a_id.push(self.last_auction(epoch, rem) as i64 + FIRST_AUCTION_ID);
                let seller = if r.below(self.cfg.hot_sellers_ratio) > 0 {
                    (self.last_person(epoch, rem) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
                } else {
                    self.random_person(self.last_person(epoch, rem), &mut r)
                };
                a_sel.push(seller as i64 + FIRST_PERSON_ID);
                a_cat.push(FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES) as i64);
                let initial = price(&mut r);
                a_init.push(initial);
                let horizon = self.timestamp(a + nfa) - ts;
                a_exp.push(ts + 1 + r.below((horizon * 2).max(1) as u64) as i64);
                a_ts.push(ts);
                let item = self.string(&mut r, 20);
                let desc = self.string(&mut r, 100);
                a_item.push(item);
                a_desc.push(desc);
                a_res.push(initial + price(&mut r));
                let size = 48 + (item.len() + desc.len()) as u64;
                a_extra.push(self.extra(&mut r, size, self.cfg.avg_auction_size));
            } else {
                for v in [&mut a_id, &mut a_sel, &mut a_cat, &mut a_init, &mut a_exp, &mut a_ts, &mut a_res] {
                    v.push(0);
                }
            }
            if k == 2 {
                let auction = if r.below(self.cfg.hot_auction_ratio) > 0 {
                    (self.last_auction(epoch, rem) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
                } else {
                    self.random_auction(self.last_auction(epoch, rem), &mut r)
                };
                b_auc.push(auction as i64 + FIRST_AUCTION_ID);
                let bidder = if r.below(self.cfg.hot_bidders_ratio) > 0 {
                    (self.last_person(epoch, rem) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
                } else {
                    self.random_person(self.last_person(epoch, rem), &mut r)
                };
                b_bidder.push(bidder as i64 + FIRST_PERSON_ID);
                b_price.push(price(&mut r));
                let ch = if r.below(HOT_CHANNELS_RATIO) > 0 { r.below(4) } else { 4 + r.below(CHANNELS_NUMBER) } as usize;
                self.channel(ch as u64, &mut b_chan, &mut b_url);
                b_ts.push(ts);
                b_extra.push(self.extra(&mut r, 32, self.cfg.avg_bid_size));
            } else {
                for v in [&mut b_auc, &mut b_bidder, &mut b_price, &mut b_ts] {
                    v.push(0);
                }
            }
        }
        // Each ROW column is valid exactly on the rows of its kind.
        let nulls = |of: i32| Some(NullBuffer::from_iter(kind.iter().map(|k| *k == of)));
        let (pn, an, bn) = (nulls(0), nulls(1), nulls(2));
        let person: Vec<ArrayRef> = vec![
            i64s(p_id, &pn),
            p_name.finish(&kind, 0, &pn),
            p_email.finish(&kind, 0, &pn),
            p_card.finish(&kind, 0, &pn),
            p_city.finish(&kind, 0, &pn),
            p_state.finish(&kind, 0, &pn),
            timestamps(p_ts, &pn),
            p_extra.finish(&kind, 0, &pn),
        ];
        let auction: Vec<ArrayRef> = vec![
            i64s(a_id, &an),
            a_item.finish(&kind, 1, &an),
            a_desc.finish(&kind, 1, &an),
            i64s(a_init, &an),
            i64s(a_res, &an),
            timestamps(a_ts, &an),
            timestamps(a_exp, &an),
            i64s(a_sel, &an),
            i64s(a_cat, &an),
            a_extra.finish(&kind, 1, &an),
        ];
        let bid: Vec<ArrayRef> = vec![
            i64s(b_auc, &bn),
            i64s(b_bidder, &bn),
            i64s(b_price, &bn),
            b_chan.finish(&kind, 2, &bn),
            b_url.finish(&kind, 2, &bn),
            timestamps(b_ts, &bn),
            b_extra.finish(&kind, 2, &bn),
        ];
        let strukt = |i: usize, cols: Vec<ArrayRef>, n: Option<NullBuffer>| -> ArrayRef {
            let DataType::Struct(fields) = self.schema.field(i).data_type() else {
                panic!("nexmark: column {i} is not a ROW (the schema was checked)")
            };
            match StructArray::try_new(fields.clone(), cols, n) {
                Ok(s) => Arc::new(s),
                Err(e) => panic!("nexmark: building a ROW column failed: {e}"),
            }
        };
        let columns = vec![Arc::new(Int32Array::from(kind)) as ArrayRef, strukt(1, person, pn), strukt(2, auction, an), strukt(3, bid, bn)];
        match RecordBatch::try_new(self.schema.clone(), columns) {
            Ok(b) => b,
            Err(e) => panic!("nexmark: building a batch failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMillisecondType};

    fn generator(cfg: NexmarkConfig) -> Generator {
        Generator::new(cfg, 1_704_067_200_000, nexmark_schema())
    }

    fn field<'a>(b: &'a RecordBatch, col: usize, f: usize) -> &'a ArrayRef {
        b.column(col).as_struct().column(f)
    }

    #[test]
    fn proportions_ids_and_times_follow_the_nexmark_model() {
        let g = generator(NexmarkConfig::default());
        let b = g.block(0, 100);
        let kinds = b.column(0).as_primitive::<arrow::datatypes::Int32Type>();
        let count = |k: i32| kinds.iter().filter(|v| *v == Some(k)).count();
        assert_eq!((count(0), count(1), count(2)), (2, 6, 92));
        // Event 0 is person 1000, events 1..3 auctions 1000..1002, event 50 person 1001.
        let pid = field(&b, 1, 0).as_primitive::<Int64Type>();
        assert_eq!((pid.value(0), pid.value(50)), (1000, 1001));
        assert!(pid.is_null(1) && b.column(1).is_null(1));
        let aid = field(&b, 2, 0).as_primitive::<Int64Type>();
        assert_eq!((aid.value(1), aid.value(3), aid.value(51)), (1000, 1002, 1003));
        // 10k events/s: 10 events per millisecond.
        let bts = field(&b, 3, 5).as_primitive::<TimestampMillisecondType>();
        assert_eq!(bts.value(99), 1_704_067_200_000 + 9);
        // Every bid refers to an auction and a person that exist or are about to.
        let (auc, bidder) = (field(&b, 3, 0).as_primitive::<Int64Type>(), field(&b, 3, 1).as_primitive::<Int64Type>());
        for i in 0..100 {
            if kinds.value(i) == 2 {
                assert!((1000..1000 + 6 + 11).contains(&auc.value(i)), "{}", auc.value(i));
                assert!((1000..1000 + 2 + 11).contains(&bidder.value(i)), "{}", bidder.value(i));
            }
        }
        // Auctions expire after they start.
        let (ats, exp) = (field(&b, 2, 5).as_primitive::<TimestampMillisecondType>(), field(&b, 2, 6).as_primitive::<TimestampMillisecondType>());
        assert!(exp.value(1) > ats.value(1));
    }

    #[test]
    fn sizes_average_out_and_text_is_well_formed() {
        let g = generator(NexmarkConfig::default());
        let b = g.block(3, BLOCK as usize);
        let extra = field(&b, 3, 6).as_string::<i32>();
        let bids: Vec<usize> = (0..b.num_rows()).filter(|&i| !extra.is_null(i)).map(|i| extra.value(i).len()).collect();
        let avg = bids.iter().sum::<usize>() as f64 / bids.len() as f64;
        assert!((avg - 68.0).abs() < 2.0, "average bid extra {avg}");
        let card = field(&b, 1, 3).as_string::<i32>();
        let email = field(&b, 1, 2).as_string::<i32>();
        for i in (0..b.num_rows()).filter(|&i| !card.is_null(i)) {
            assert_eq!(card.value(i).len(), 19);
            assert!(email.value(i).ends_with(".com") && email.value(i).contains('@'));
        }
        let url = field(&b, 3, 4).as_string::<i32>();
        assert!((0..b.num_rows()).filter(|&i| !url.is_null(i)).all(|i| url.value(i).starts_with("https://www.nexmark.com/")));
    }

    #[test]
    fn same_seed_same_events_other_seed_other_events() {
        let (g1, g2) = (generator(NexmarkConfig::default()), generator(NexmarkConfig::default()));
        assert_eq!(g1.block(5, 1000), g2.block(5, 1000));
        let g3 = generator(NexmarkConfig { seed: 9, ..NexmarkConfig::default() });
        assert_ne!(g1.block(5, 1000), g3.block(5, 1000));
    }

    #[test]
    fn out_of_order_groups_shuffle_events_within_the_group() {
        let g = generator(NexmarkConfig { out_of_order_group: 100, ..NexmarkConfig::default() });
        let b = g.block(0, 200);
        let mut ts: Vec<i64> = (0..200)
            .map(|i| {
                let k = b.column(0).as_primitive::<arrow::datatypes::Int32Type>().value(i) as usize;
                let f = [6, 5, 5][k];
                field(&b, k + 1, f).as_primitive::<TimestampMillisecondType>().value(i)
            })
            .collect();
        assert!(ts.windows(2).any(|w| w[0] > w[1]), "some events out of order");
        assert!(ts[..100].iter().all(|t| *t < 1_704_067_200_000 + 10), "first group stays in its 10 ms");
        ts.sort();
        let expected: Vec<i64> = (0..200).map(|a| g.timestamp(a)).collect();
        assert_eq!(ts, expected, "a permutation of the in-order events");
    }

    #[test]
    fn schema_mismatch_names_the_column() {
        let mut fields: Vec<Field> = nexmark_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[0] = Field::new("event_type", DataType::Int64, true);
        let e = check_schema(&Arc::new(Schema::new(fields))).unwrap_err();
        assert!(e.contains("'event_type' BIGINT") && e.contains("INT"), "{e}");
    }
}
