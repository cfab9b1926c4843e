//! Flink's JSON changelog formats, `debezium-json`, `canal-json` and `maxwell-json`: each record
//! is an envelope around one or two rows (the row before and after a change) plus the kind of
//! change; decoding turns it into rows with row kinds (+I, -U/+U, -D), encoding writes each
//! changelog row as its own envelope (Flink writes +I/+U as inserts and -U/-D as deletes). The
//! rows themselves are read and written by the `json` format, configured by the
//! `<format>.*` options that correspond to `json.*` ones. Checked against Flink 2.3.

use arrow::array::{RecordBatch, UInt8Array};
use arrow::datatypes::SchemaRef;
use regex::Regex;
use rask_types::options::{OptionKind, OptionSpec, Options};
use rask_types::RowKind;

use crate::error::FormatError;
use crate::json::{array_elements, object_fields, string_value, JsonDecoder, JsonEncoder};
use crate::{RecordDecoder, RecordEncoder};

/// Which envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Debezium,
    Canal,
    Maxwell,
}

impl Flavor {
    pub fn of(format: &str) -> Option<Flavor> {
        match format {
            "debezium-json" => Some(Flavor::Debezium),
            "canal-json" => Some(Flavor::Canal),
            "maxwell-json" => Some(Flavor::Maxwell),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Flavor::Debezium => "debezium-json",
            Flavor::Canal => "canal-json",
            Flavor::Maxwell => "maxwell-json",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Flavor::Debezium => "Debezium",
            Flavor::Canal => "Canal",
            Flavor::Maxwell => "Maxwell",
        }
    }
}

/// The json options each changelog format passes on under its own prefix.
const SHARED: [&str; 6] = [
    "ignore-parse-errors",
    "timestamp-format.standard",
    "map-null-key.mode",
    "map-null-key.literal",
    "encode.decimal-as-plain-number",
    "encode.ignore-null-fields",
];

/// Options of a changelog format (Flink's keys).
pub fn options(flavor: Flavor) -> Vec<OptionSpec> {
    use OptionKind::{Bool, Enum, String as Text};
    let shared = |keys: [&'static str; 5]| {
        vec![
            OptionSpec::new(keys[0], Bool, "skip malformed records; unconvertible fields become NULL").default("false"),
            OptionSpec::new(keys[1], Enum(&["SQL", "ISO-8601"]), "timestamp text format").default("SQL"),
            OptionSpec::new(keys[2], Enum(&["FAIL", "DROP", "LITERAL"]), "how to write a NULL map key").default("FAIL"),
            OptionSpec::new(keys[3], Text, "the key written for a NULL map key in LITERAL mode").default("null"),
            OptionSpec::new(keys[4], Bool, "write DECIMAL without scientific notation").default("false"),
        ]
    };
    match flavor {
        Flavor::Debezium => {
            let mut o = shared([
                "debezium-json.ignore-parse-errors",
                "debezium-json.timestamp-format.standard",
                "debezium-json.map-null-key.mode",
                "debezium-json.map-null-key.literal",
                "debezium-json.encode.decimal-as-plain-number",
            ]);
            o.push(OptionSpec::new("debezium-json.encode.ignore-null-fields", Bool, "omit NULL fields when writing").default("false"));
            o.push(OptionSpec::new("debezium-json.schema-include", Bool, "the records carry Debezium's schema (a schema/payload envelope)").default("false"));
            o
        }
        Flavor::Canal => {
            let mut o = shared([
                "canal-json.ignore-parse-errors",
                "canal-json.timestamp-format.standard",
                "canal-json.map-null-key.mode",
                "canal-json.map-null-key.literal",
                "canal-json.encode.decimal-as-plain-number",
            ]);
            o.push(OptionSpec::new("canal-json.database.include", Text, "only read changes of databases matching this regular expression"));
            o.push(OptionSpec::new("canal-json.table.include", Text, "only read changes of tables matching this regular expression"));
            o
        }
        Flavor::Maxwell => shared([
            "maxwell-json.ignore-parse-errors",
            "maxwell-json.timestamp-format.standard",
            "maxwell-json.map-null-key.mode",
            "maxwell-json.map-null-key.literal",
            "maxwell-json.encode.decimal-as-plain-number",
        ]),
    }
}

/// The json format's options for the rows inside the envelope.
fn json_options(flavor: Flavor, options: &Options) -> Options {
    let p = format!("{}.", flavor.name());
    let map = options.raw().iter().filter_map(|(k, v)| k.strip_prefix(&p).filter(|s| SHARED.contains(s)).map(|s| (format!("json.{s}"), v.clone()))).collect();
    Options::new(map)
}

fn include(options: &Options, key: &str) -> Result<Option<Regex>, FormatError> {
    match options.get(key) {
        None => Ok(None),
        Some(r) => Regex::new(&format!("^(?:{r})$")).map(Some).map_err(|e| FormatError::Unsupported(format!("option '{key}': invalid regular expression: {e}"))),
    }
}

/// Decodes changelog envelopes into rows with row kinds.
pub struct ChangelogDecoder {
    flavor: Flavor,
    rows: JsonDecoder,
    kinds: Vec<u8>,
    schema_include: bool,
    ignore_errors: bool,
    database: Option<Regex>,
    table: Option<Regex>,
}

impl ChangelogDecoder {
    pub fn new(flavor: Flavor, schema: SchemaRef, options: &Options) -> Result<Self, FormatError> {
        let json = json_options(flavor, options);
        let p = flavor.name();
        let flag = |k: &str| options.bool(&format!("{p}.{k}"), false).map_err(FormatError::Unsupported);
        Ok(ChangelogDecoder {
            flavor,
            rows: JsonDecoder::new(schema, &json)?,
            kinds: Vec::new(),
            schema_include: flavor == Flavor::Debezium && flag("schema-include")?,
            ignore_errors: flag("ignore-parse-errors")?,
            database: include(options, "canal-json.database.include")?,
            table: include(options, "canal-json.table.include")?,
        })
    }

    /// Append one row from the JSON object `bytes` with `kind`.
    fn row(&mut self, bytes: &[u8], kind: RowKind) -> Result<(), String> {
        match self.rows.decode(bytes) {
            Ok(true) => {
                self.kinds.push(kind as u8);
                Ok(())
            }
            Ok(false) => Err("a row is null".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn decode_envelope(&mut self, record: &[u8]) -> Result<(), String> {
        let mut fields = object_fields(record)?;
        let f = self.flavor;
        match f {
            Flavor::Debezium => {
                if self.schema_include {
                    let payload = get(&fields, "payload").ok_or("the \"payload\" field is missing (debezium-json.schema-include is true)")?;
                    fields = object_fields(payload)?;
                }
                let op = get(&fields, "op").and_then(string_value).ok_or("the \"op\" field is missing")?;
                let (before, after) = (get(&fields, "before"), get(&fields, "after"));
                match op.as_str() {
                    "c" | "r" => self.row(after.ok_or("the \"after\" field of an insert is null")?, RowKind::Insert),
                    "u" => {
                        let before = before.ok_or(
                            "the \"before\" field of an UPDATE message is null; with the Debezium Postgres connector, set the table's REPLICA IDENTITY to FULL",
                        )?;
                        let after = after.ok_or("the \"after\" field of an UPDATE message is null")?;
                        self.row(before, RowKind::UpdateBefore)?;
                        self.row(after, RowKind::UpdateAfter)
                    }
                    "d" => self.row(
                        before.ok_or("the \"before\" field of a DELETE message is null; with the Debezium Postgres connector, set the table's REPLICA IDENTITY to FULL")?,
                        RowKind::Delete,
                    ),
                    other => Err(format!("unknown \"op\" value \"{other}\"")),
                }
            }
            Flavor::Canal => {
                let ty = get(&fields, "type").and_then(string_value).ok_or("the \"type\" field is missing")?;
                if ty == "CREATE" {
                    // A DDL event ("data" is null): no row, as in Flink.
                    return Ok(());
                }
                for (re, key) in [(&self.database, "database"), (&self.table, "table")] {
                    if let Some(re) = re
                        && !get(&fields, key).and_then(string_value).is_some_and(|v| re.is_match(&v))
                    {
                        return Ok(());
                    }
                }
                let data = get(&fields, "data").map(array_elements).transpose()?.unwrap_or_default();
                match ty.as_str() {
                    "INSERT" => data.into_iter().try_for_each(|d| self.row(d, RowKind::Insert)),
                    "DELETE" => data.into_iter().try_for_each(|d| self.row(d, RowKind::Delete)),
                    "UPDATE" => {
                        let old = get(&fields, "old").map(array_elements).transpose()?.unwrap_or_default();
                        for (i, d) in data.into_iter().enumerate() {
                            match old.get(i) {
                                Some(o) => self.row(&overlay(d, o)?, RowKind::UpdateBefore)?,
                                None => self.row(d, RowKind::UpdateBefore)?,
                            }
                            self.row(d, RowKind::UpdateAfter)?;
                        }
                        Ok(())
                    }
                    other => Err(format!("unknown \"type\" value \"{other}\"")),
                }
            }
            Flavor::Maxwell => {
                let ty = get(&fields, "type").and_then(string_value).ok_or("the \"type\" field is missing")?;
                let data = get(&fields, "data").ok_or("the \"data\" field is null")?;
                match ty.as_str() {
                    "insert" => self.row(data, RowKind::Insert),
                    "delete" => self.row(data, RowKind::Delete),
                    "update" => {
                        match get(&fields, "old") {
                            Some(o) => self.row(&overlay(data, o)?, RowKind::UpdateBefore)?,
                            None => self.row(data, RowKind::UpdateBefore)?,
                        }
                        self.row(data, RowKind::UpdateAfter)
                    }
                    other => Err(format!("unknown \"type\" value \"{other}\"")),
                }
            }
        }
    }
}

/// A field's value bytes, `None` when it is missing or null.
fn get<'a>(fields: &[(String, &'a [u8])], name: &str) -> Option<&'a [u8]> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v).filter(|v| *v != b"null")
}

/// The object `data` with the fields of `old` replacing its own (the row before an update:
/// canal and maxwell list only the fields that changed).
fn overlay(data: &[u8], old: &[u8]) -> Result<Vec<u8>, String> {
    let old_fields = object_fields(old)?;
    let mut out = Vec::with_capacity(data.len() + 8);
    out.push(b'{');
    let mut first = true;
    let mut push = |out: &mut Vec<u8>, k: &str, v: &[u8]| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        let mut key = String::new();
        crate::json::write_json_string(&mut key, k);
        out.extend_from_slice(key.as_bytes());
        out.push(b':');
        out.extend_from_slice(v);
    };
    for (k, v) in object_fields(data)? {
        let v = old_fields.iter().find(|(o, _)| *o == k).map_or(v, |(_, ov)| ov);
        push(&mut out, &k, v);
    }
    out.push(b'}');
    Ok(out)
}

impl RecordDecoder for ChangelogDecoder {
    fn decode(&mut self, record: &[u8]) -> Result<bool, FormatError> {
        if record.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let before = self.rows.buffered();
        match self.decode_envelope(record) {
            Ok(()) => Ok(self.rows.buffered() > before),
            Err(e) => {
                // Drop a half-decoded record's rows (an update whose second row failed).
                if self.rows.buffered() > before {
                    self.rows.truncate(before);
                    self.kinds.truncate(before);
                }
                if self.ignore_errors {
                    return Ok(false);
                }
                let text = String::from_utf8_lossy(record);
                Err(FormatError::Malformed(format!("corrupt {} JSON message '{text}': {e}", self.flavor.title())))
            }
        }
    }

    fn buffered(&self) -> usize {
        self.rows.buffered()
    }

    fn flush(&mut self) -> Result<RecordBatch, FormatError> {
        self.rows.flush()
    }

    fn take_kinds(&mut self) -> Option<UInt8Array> {
        Some(UInt8Array::from(std::mem::take(&mut self.kinds)))
    }
}

/// Writes each changelog row as an envelope: +I/+U as an insert, -U/-D as a delete (Flink's
/// serialisation, which keeps no update pairs).
pub struct ChangelogEncoder {
    flavor: Flavor,
    rows: JsonEncoder,
    scratch: Vec<Vec<u8>>,
}

impl ChangelogEncoder {
    pub fn new(flavor: Flavor, schema: SchemaRef, options: &Options) -> Result<Self, FormatError> {
        Ok(ChangelogEncoder { flavor, rows: JsonEncoder::new(schema, &json_options(flavor, options))?, scratch: Vec::new() })
    }
}

impl RecordEncoder for ChangelogEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
        self.encode_changelog(batch, None, out)
    }

    fn encode_changelog(&mut self, batch: &RecordBatch, kinds: Option<&UInt8Array>, out: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
        self.scratch.clear();
        self.rows.encode(batch, &mut self.scratch)?;
        for (i, row) in self.scratch.iter().enumerate() {
            let kind = kinds.and_then(|k| RowKind::from_u8(k.value(i))).unwrap_or(RowKind::Insert);
            let add = kind.is_accumulate();
            let mut rec = Vec::with_capacity(row.len() + 40);
            match (self.flavor, add) {
                (Flavor::Debezium, true) => {
                    rec.extend_from_slice(b"{\"before\":null,\"after\":");
                    rec.extend_from_slice(row);
                    rec.extend_from_slice(b",\"op\":\"c\"}");
                }
                (Flavor::Debezium, false) => {
                    rec.extend_from_slice(b"{\"before\":");
                    rec.extend_from_slice(row);
                    rec.extend_from_slice(b",\"after\":null,\"op\":\"d\"}");
                }
                (Flavor::Canal, _) => {
                    rec.extend_from_slice(b"{\"data\":[");
                    rec.extend_from_slice(row);
                    rec.extend_from_slice(if add { b"],\"type\":\"INSERT\"}" as &[u8] } else { b"],\"type\":\"DELETE\"}" });
                }
                (Flavor::Maxwell, _) => {
                    rec.extend_from_slice(b"{\"data\":");
                    rec.extend_from_slice(row);
                    rec.extend_from_slice(if add { b",\"type\":\"insert\"}" as &[u8] } else { b",\"type\":\"delete\"}" });
                }
            }
            out.push(rec);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use arrow::datatypes::{DataType, Field, Schema};
    use rask_types::value_fmt::format_row;
    use rask_types::StreamBatch;

    /// The row kinds of the rows just flushed.
    fn kinds_of(d: &mut ChangelogDecoder) -> Vec<&'static str> {
        d.take_kinds().map(|k| k.values().iter().map(|v| RowKind::from_u8(*v).map_or("?", RowKind::short)).collect()).unwrap_or_default()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("weight", DataType::Float64, true),
        ]))
    }

    fn decode(format: &str, opts: &[(&str, &str)], lines: &[&str]) -> Result<Vec<String>, String> {
        let o = Options::new(opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let mut d = ChangelogDecoder::new(Flavor::of(format).unwrap(), schema(), &o).map_err(|e| e.to_string())?;
        for l in lines {
            d.decode(l.as_bytes()).map_err(|e| e.to_string())?;
        }
        let b = d.flush().unwrap();
        let k = d.take_kinds().unwrap();
        let sb = StreamBatch::with_kinds(b, k);
        Ok((0..sb.num_rows()).map(|i| format_row(&sb, i)).collect())
    }

    /// Debezium records of a products table and Flink 2.3's changelog for them (print sink);
    /// shared with the Kafka integration test.
    const RECORDS: &str = include_str!("../../../tests/data/debezium-products.json");
    const CHANGELOG: &str = include_str!("../../../tests/data/debezium-products.changelog");

    #[test]
    fn debezium_json_like_flink() {
        let got = decode("debezium-json", &[], &RECORDS.lines().collect::<Vec<_>>()).unwrap();
        assert_eq!(got, CHANGELOG.lines().collect::<Vec<_>>());
        let got = decode(
            "debezium-json",
            &[("debezium-json.schema-include", "true")],
            &[r#"{"schema":{"type":"struct"},"payload":{"before":{"id":1,"name":"scooter","weight":3.14},"after":{"id":1,"name":"scooter","weight":5.5},"op":"u"}}"#],
        )
        .unwrap();
        assert_eq!(got, ["-U[1, scooter, 3.14]", "+U[1, scooter, 5.5]"]);
    }

    #[test]
    fn canal_and_maxwell_json_like_flink() {
        let canal = [
            r#"{"data":[{"id":"1","name":"scooter","weight":"3.14"},{"id":"2","name":"car battery","weight":"8.1"}],"database":"inventory","isDdl":false,"old":null,"table":"products","type":"INSERT"}"#,
            r#"{"data":[{"id":"1","name":"scooter","weight":"5.18"}],"database":"inventory","isDdl":false,"old":[{"weight":"3.14"}],"table":"products","type":"UPDATE"}"#,
            r#"{"data":null,"database":"inventory","isDdl":true,"sql":"CREATE TABLE x (a INT)","table":"x","type":"CREATE"}"#,
            r#"{"data":[{"id":"2","name":"car battery","weight":"8.1"}],"database":"inventory","isDdl":false,"old":null,"table":"products","type":"DELETE"}"#,
            r#"{"data":[{"id":"3","name":"hammer","weight":"0.75"}],"database":"other","isDdl":false,"old":null,"table":"products","type":"INSERT"}"#,
        ];
        let all = ["+I[1, scooter, 3.14]", "+I[2, car battery, 8.1]", "-U[1, scooter, 3.14]", "+U[1, scooter, 5.18]", "-D[2, car battery, 8.1]"];
        let mut want = all.to_vec();
        want.push("+I[3, hammer, 0.75]");
        assert_eq!(decode("canal-json", &[], &canal).unwrap(), want);
        assert_eq!(decode("canal-json", &[("canal-json.database.include", "inventory")], &canal).unwrap(), all);
        let maxwell = [
            r#"{"database":"test","table":"e","type":"insert","ts":1477053217,"xid":23396,"commit":true,"data":{"id":1,"name":"scooter","weight":3.14}}"#,
            r#"{"database":"test","table":"e","type":"update","ts":1477053218,"data":{"id":1,"name":"scooter","weight":5.18},"old":{"weight":3.14}}"#,
            r#"{"database":"test","table":"e","type":"delete","ts":1477053219,"data":{"id":1,"name":"scooter","weight":5.18}}"#,
        ];
        assert_eq!(
            decode("maxwell-json", &[], &maxwell).unwrap(),
            ["+I[1, scooter, 3.14]", "-U[1, scooter, 3.14]", "+U[1, scooter, 5.18]", "-D[1, scooter, 5.18]"]
        );
    }

    #[test]
    fn corrupt_messages_fail_with_the_message_or_are_skipped() {
        let bad = r#"{"before":null,"after":{"id":1},"op":"x"}"#;
        let e = decode("debezium-json", &[], &[bad]).unwrap_err();
        assert!(e.contains("corrupt Debezium JSON message") && e.contains("unknown \"op\" value \"x\""), "{e}");
        let e = decode("debezium-json", &[], &[r#"{"before":null,"after":{"id":1},"op":"u"}"#]).unwrap_err();
        assert!(e.contains("REPLICA IDENTITY"), "{e}");
        let e = decode("maxwell-json", &[], &[r#"{"type":"bootstrap-insert","data":{"id":4}}"#]).unwrap_err();
        assert!(e.contains("unknown \"type\" value \"bootstrap-insert\""), "{e}");
        // An update whose after row is broken leaves no half of it behind.
        let o = Options::new([("debezium-json.ignore-parse-errors".to_string(), "true".to_string())].into_iter().collect());
        let mut d = ChangelogDecoder::new(Flavor::Debezium, schema(), &o).unwrap();
        assert!(!d.decode(br#"{"before":{"id":1},"after":5,"op":"u"}"#).unwrap());
        assert!(!d.decode(b"not json").unwrap());
        assert!(d.decode(br#"{"before":null,"after":{"id":2},"op":"c"}"#).unwrap());
        assert_eq!(d.buffered(), 1);
        d.flush().unwrap();
        assert_eq!(kinds_of(&mut d), ["+I"]);
    }

    /// Expected records: Flink 2.3's filesystem sink writing a group aggregation's changelog.
    #[test]
    fn encodes_like_flink() {
        let s = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("c", DataType::Int64, true), Field::new("mx", DataType::Int32, true)]));
        let b = RecordBatch::try_new(
            s.clone(),
            vec![
                Arc::new(arrow::array::StringArray::from(vec!["c", "c", "c"])),
                Arc::new(arrow::array::Int64Array::from(vec![1, 1, 2])),
                Arc::new(arrow::array::Int32Array::from(vec![None, None, Some(8)])),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from(vec![0, 1, 2]);
        let enc = |f: &str| {
            let mut e = ChangelogEncoder::new(Flavor::of(f).unwrap(), s.clone(), &Options::default()).unwrap();
            let mut out = Vec::new();
            e.encode_changelog(&b, Some(&kinds), &mut out).unwrap();
            out.into_iter().map(|r| String::from_utf8(r).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(
            enc("debezium-json"),
            [
                r#"{"before":null,"after":{"k":"c","c":1,"mx":null},"op":"c"}"#,
                r#"{"before":{"k":"c","c":1,"mx":null},"after":null,"op":"d"}"#,
                r#"{"before":null,"after":{"k":"c","c":2,"mx":8},"op":"c"}"#
            ]
        );
        assert_eq!(
            enc("canal-json"),
            [
                r#"{"data":[{"k":"c","c":1,"mx":null}],"type":"INSERT"}"#,
                r#"{"data":[{"k":"c","c":1,"mx":null}],"type":"DELETE"}"#,
                r#"{"data":[{"k":"c","c":2,"mx":8}],"type":"INSERT"}"#
            ]
        );
        assert_eq!(
            enc("maxwell-json"),
            [
                r#"{"data":{"k":"c","c":1,"mx":null},"type":"insert"}"#,
                r#"{"data":{"k":"c","c":1,"mx":null},"type":"delete"}"#,
                r#"{"data":{"k":"c","c":2,"mx":8},"type":"insert"}"#
            ]
        );
    }
}
