//! The in-memory catalog of a session: tables (with their connector options, computed columns,
//! watermark and primary key), views, and the connector registry used to validate options.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion_sql::sqlparser::ast::{Expr, Query};
use rask_types::options::Options;
use rask_types::types::FlinkTypeN;
use rask_types::Pos;

/// What kinds of rows a stream carries (Flink's `ChangelogMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangelogMode {
    /// Only inserts (+I): an append-only stream.
    #[default]
    InsertOnly,
    /// Inserts, updates as -U/+U pairs, and deletes (+I, -U, +U, -D).
    All,
    /// Upserts by primary key (+I/+U: the key's new row, whatever was there) and deletes by
    /// key (-D carrying only the key's columns), as an upsert-kafka topic holds them. The
    /// planner puts a `ChangelogNormalize` keyed by the primary key behind such a source, which
    /// turns it into a full changelog (Flink's `ChangelogMode.upsert()`).
    Upsert,
}

/// What a connector can do; returned by the registry when validating a table's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectorCaps {
    pub source: bool,
    pub sink: bool,
    /// A bounded source ends by itself (e.g. a file, or datagen with number-of-rows).
    pub bounded: bool,
    /// The rows the source produces (a changelog format such as debezium-json: all kinds).
    pub produces: ChangelogMode,
    /// The sink accepts updates and deletes (-U, +U, -D), not only inserts.
    pub accepts_updates: bool,
    /// Rows can be looked up by key (the right side of a lookup join, `FOR SYSTEM_TIME AS OF`
    /// a processing-time attribute).
    pub lookup: bool,
    /// The connector stores a `PARTITIONED BY` table's rows by partition (Flink's
    /// `SupportsPartitioning`).
    pub partitioned: bool,
}

/// The connector registry as the planner sees it (implemented by `rask-connectors`, so the
/// planner never depends on connector code).
pub trait ConnectorCatalog: Send + Sync {
    /// Registered connector names, sorted.
    fn names(&self) -> Vec<String>;
    /// Validate a table's options (connector + format); `Err` names the bad option and lists
    /// the valid ones. `schema` is the table's physical schema, `primary_key` its primary key
    /// columns (empty without one).
    fn validate(&self, connector: &str, options: &Options, schema: &SchemaRef, primary_key: &[String]) -> Result<ConnectorCaps, String>;
    /// The metadata a connector's source can read (Flink's `METADATA FROM 'key'`): key and
    /// the type it produces, in the connector's documented order.
    fn readable_metadata(&self, _connector: &str, _options: &Options) -> Vec<(String, FlinkTypeN)> {
        Vec::new()
    }
    /// The metadata a connector's sink can write (a non-virtual `METADATA` column of a table
    /// used as a sink): key and the type it takes.
    fn writable_metadata(&self, _connector: &str, _options: &Options) -> Vec<(String, FlinkTypeN)> {
        Vec::new()
    }
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ColumnSpec {
    Physical,
    /// `name AS expr`: the expression text (planned when the table is used).
    Computed(Expr),
    /// `METADATA [FROM 'key'] [VIRTUAL]`; `produced` is the type the connector produces for
    /// the key (the column's type is a cast of it).
    Metadata { key: String, is_virtual: bool, produced: FlinkTypeN },
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: FlinkTypeN,
    pub spec: ColumnSpec,
    pub pos: Pos,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Watermark {
    pub column: String,
    pub expr: Expr,
    pub pos: Pos,
}

/// A table created with `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<Column>,
    pub watermark: Option<Watermark>,
    pub primary_key: Option<Vec<String>>,
    /// `PARTITIONED BY (…)` columns (physical), in order.
    pub partition_keys: Vec<String>,
    pub connector: String,
    pub options: Options,
    pub caps: ConnectorCaps,
    pub pos: Pos,
}

impl TableDef {
    /// Columns the connector reads or writes (not computed, not metadata).
    pub fn physical_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| matches!(c.spec, ColumnSpec::Physical))
    }

    /// Arrow schema of the physical columns, in declaration order.
    pub fn physical_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.physical_columns()
                .map(|c| Field::new(&c.name, c.ty.ty.to_arrow(), c.ty.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// Metadata columns in declaration order: what a source appends after the physical
    /// columns.
    pub fn metadata_columns(&self) -> impl Iterator<Item = (&Column, &str, &FlinkTypeN)> {
        self.columns.iter().filter_map(|c| match &c.spec {
            ColumnSpec::Metadata { key, produced, .. } => Some((c, key.as_str(), produced)),
            _ => None,
        })
    }

    /// What the table's source produces: the physical columns, then the metadata columns (as
    /// the connector produces them, named after the columns).
    pub fn source_schema(&self) -> SchemaRef {
        let phys = self.physical_schema();
        let mut fields: Vec<Field> = phys.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(self.metadata_columns().map(|(c, _, t)| Field::new(&c.name, t.ty.to_arrow(), t.nullable)));
        Arc::new(Schema::new(fields))
    }

    /// What the table's sink receives: the physical columns, then the non-virtual metadata
    /// columns (in the type the connector takes for the key, nullable as declared, named after
    /// the columns).
    pub fn sink_schema(&self) -> SchemaRef {
        let phys = self.physical_schema();
        let mut fields: Vec<Field> = phys.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(self.written_metadata().map(|(c, _, t)| Field::new(&c.name, t.ty.to_arrow(), c.ty.nullable)));
        Arc::new(Schema::new(fields))
    }

    /// The non-virtual metadata columns (written by a sink), in declaration order.
    pub fn written_metadata(&self) -> impl Iterator<Item = (&Column, &str, &FlinkTypeN)> {
        self.metadata_columns().filter(|(c, _, _)| matches!(c.spec, ColumnSpec::Metadata { is_virtual: false, .. }))
    }

    /// Columns an INSERT writes: physical and non-virtual metadata columns.
    pub fn sink_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| match &c.spec {
            ColumnSpec::Physical => true,
            ColumnSpec::Metadata { is_virtual, .. } => !is_virtual,
            ColumnSpec::Computed(_) => false,
        })
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct ViewDef {
    pub name: String,
    pub columns: Vec<String>,
    pub query: Query,
}

#[derive(Debug, Clone)]
pub enum CatalogEntry {
    Table(Arc<TableDef>),
    View(Arc<ViewDef>),
}

/// A user-defined function (`CREATE [TEMPORARY [SYSTEM]] FUNCTION name AS 'identifier'
/// LANGUAGE PYTHON`), resolved to its implementation when a statement uses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionDef {
    /// The bare name, lower case (Flink's function names are case-insensitive).
    pub name: String,
    /// The database it belongs to (`None`: a temporary system function, in no database).
    pub database: Option<String>,
    pub identifier: String,
    pub language: String,
    pub temporary: bool,
}

/// Flink's built-in catalog and database, the only catalog and the default database.
pub const DEFAULT_CATALOG: &str = "default_catalog";
pub const DEFAULT_DATABASE: &str = "default_database";

/// Tables and views by name, in databases of Flink's one in-memory catalog
/// (`default_catalog`). Names are case-sensitive, as in Flink. A name is `t` (the current
/// database), `db.t` or `default_catalog.db.t`; entries of the default database are kept under
/// their bare name, the others as `db.t`.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
    /// User-defined functions by key (as entries: bare in the default database, `db.f`
    /// otherwise; lower case).
    functions: BTreeMap<String, FunctionDef>,
    /// `TEMPORARY SYSTEM` functions by name: in no database, ahead of the built-in ones.
    system_functions: BTreeMap<String, FunctionDef>,
    /// Databases besides the default one.
    databases: std::collections::BTreeSet<String>,
    current: String,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            entries: BTreeMap::new(),
            functions: BTreeMap::new(),
            system_functions: BTreeMap::new(),
            databases: Default::default(),
            current: DEFAULT_DATABASE.into(),
        }
    }
}

impl Catalog {
    /// The key of `name`: the database it is in (`None`: a catalog other than the default
    /// one) and the entry key.
    fn key(&self, name: &str) -> Option<(String, String)> {
        let parts: Vec<&str> = name.split('.').collect();
        let (db, table) = match parts.as_slice() {
            [t] => (self.current.as_str(), *t),
            [db, t] => (*db, *t),
            [cat, db, t] if *cat == DEFAULT_CATALOG => (*db, *t),
            _ => return None,
        };
        let key = if db == DEFAULT_DATABASE { table.to_string() } else { format!("{db}.{table}") };
        Some((db.to_string(), key))
    }
    /// A function's key and database: as an entry's, with the name in lower case.
    fn function_key(&self, name: &str) -> Option<(String, String)> {
        let (db, k) = self.key(name)?;
        let k = match k.rsplit_once('.') {
            Some((d, f)) => format!("{d}.{}", f.to_ascii_lowercase()),
            None => k.to_ascii_lowercase(),
        };
        Some((db, k))
    }
    /// The catalog function `name` (`f`: in the current database, or `db.f`).
    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.function_key(name).and_then(|(_, k)| self.functions.get(&k))
    }
    /// The temporary system function `name`.
    pub fn system_function(&self, name: &str) -> Option<&FunctionDef> {
        self.system_functions.get(&name.to_ascii_lowercase())
    }
    /// Add a function; `name` as written (its database must exist unless it is a system
    /// function). Returns the stored definition.
    pub fn insert_function(&mut self, name: &str, identifier: &str, language: &str, temporary: bool, system: bool) -> Result<FunctionDef, String> {
        if system {
            if name.contains('.') {
                return Err(format!("'{name}': a system function has no catalog or database, name it without one"));
            }
            let def = FunctionDef { name: name.to_ascii_lowercase(), database: None, identifier: identifier.into(), language: language.into(), temporary };
            self.system_functions.insert(def.name.clone(), def.clone());
            return Ok(def);
        }
        let db = self.database_of(name)?;
        let (_, key) = self.function_key(name).ok_or_else(|| format!("'{name}' is not a function name"))?;
        let bare = key.rsplit('.').next().unwrap_or(&key).to_string();
        let def = FunctionDef { name: bare, database: Some(db), identifier: identifier.into(), language: language.into(), temporary };
        self.functions.insert(key, def.clone());
        Ok(def)
    }
    /// Remove a function (a system one if `system`).
    pub fn remove_function(&mut self, name: &str, system: bool) -> Option<FunctionDef> {
        if system {
            return self.system_functions.remove(&name.to_ascii_lowercase());
        }
        let (_, k) = self.function_key(name)?;
        self.functions.remove(&k)
    }
    /// The functions of database `db`, then the system functions if `with_system`.
    pub fn functions_in<'a>(&'a self, db: &'a str, with_system: bool) -> impl Iterator<Item = &'a FunctionDef> + 'a {
        self.functions
            .values()
            .filter(move |f| f.database.as_deref() == Some(db))
            .chain(self.system_functions.values().filter(move |_| with_system))
    }
    pub fn get(&self, name: &str) -> Option<&CatalogEntry> {
        self.key(name).and_then(|(_, k)| self.entries.get(&k))
    }
    /// Add an entry (its database must exist: see [`Catalog::database_of`]).
    pub fn insert(&mut self, name: String, e: CatalogEntry) {
        let k = self.key(&name).map_or(name, |(_, k)| k);
        self.entries.insert(k, e);
    }
    pub fn remove(&mut self, name: &str) -> Option<CatalogEntry> {
        let (_, k) = self.key(name)?;
        self.entries.remove(&k)
    }
    /// The database a new entry called `name` goes into, or why it cannot.
    pub fn database_of(&self, name: &str) -> Result<String, String> {
        match self.key(name) {
            Some((db, _)) if self.has_database(&db) => Ok(db),
            Some((db, _)) => Err(format!("database '{db}' does not exist in catalog '{DEFAULT_CATALOG}'")),
            None => Err(format!("'{name}': only the catalog '{DEFAULT_CATALOG}' exists")),
        }
    }
    pub fn has_database(&self, db: &str) -> bool {
        db == DEFAULT_DATABASE || self.databases.contains(db)
    }
    /// All databases, the default one first.
    pub fn databases(&self) -> Vec<String> {
        std::iter::once(DEFAULT_DATABASE.to_string()).chain(self.databases.iter().cloned()).collect()
    }
    pub fn current_database(&self) -> &str {
        &self.current
    }
    pub fn create_database(&mut self, db: &str) -> bool {
        !self.has_database(db) && self.databases.insert(db.to_string())
    }
    /// Drop a database (`cascade`: with its tables and views). `Err` names why not.
    pub fn drop_database(&mut self, db: &str, cascade: bool) -> Result<bool, String> {
        if db == DEFAULT_DATABASE {
            return Err(format!("the default database '{DEFAULT_DATABASE}' cannot be dropped"));
        }
        if db == self.current {
            return Err(format!("database '{db}' is the current database; USE another one first"));
        }
        if !self.databases.contains(db) {
            return Ok(false);
        }
        let prefix = format!("{db}.");
        let inside: Vec<String> = self.entries.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
        let functions: Vec<String> = self.functions.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
        if !(inside.is_empty() && functions.is_empty()) && !cascade {
            let mut what = Vec::new();
            if !inside.is_empty() {
                what.push(format!("{} tables or views", inside.len()));
            }
            if !functions.is_empty() {
                what.push(format!("{} functions", functions.len()));
            }
            return Err(format!("database '{db}' is not empty ({}); drop it with CASCADE", what.join(", ")));
        }
        for k in inside {
            self.entries.remove(&k);
        }
        for k in functions {
            self.functions.remove(&k);
        }
        self.databases.remove(db);
        Ok(true)
    }
    pub fn use_database(&mut self, db: &str) -> Result<(), String> {
        let db = db.strip_prefix("default_catalog.").unwrap_or(db);
        if !self.has_database(db) {
            return Err(format!("database '{db}' does not exist in catalog '{DEFAULT_CATALOG}'"));
        }
        self.current = db.to_string();
        Ok(())
    }
    /// The tables and views of database `db`, by their bare names.
    pub fn names_in<'a>(&'a self, db: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{db}.");
        self.entries.keys().filter_map(move |k| if db == DEFAULT_DATABASE { (!k.contains('.')).then_some(k.as_str()) } else { k.strip_prefix(prefix.as_str()) })
    }
    /// The views of the current database.
    pub fn views(&self) -> impl Iterator<Item = &str> {
        self.names_in(&self.current).filter(|n| matches!(self.get(n), Some(CatalogEntry::View(_))))
    }
    /// The tables and views of the current database.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names_in(&self.current)
    }
}
