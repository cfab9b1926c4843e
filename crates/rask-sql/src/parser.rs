//! The Flink SQL dialect: splits a script into statements and parses Flink's own syntax
//! (`CREATE TABLE … WITH`, computed columns, `WATERMARK FOR`, `SET 'k' = 'v'`,
//! `EXECUTE STATEMENT SET`, `SHOW`/`DESCRIBE`/`EXPLAIN`), delegating queries and expressions
//! to `sqlparser` so that positions (line:column) are preserved everywhere.

use datafusion_sql::sqlparser::ast::{self, Expr, Query, Statement};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace, Word};
use rask_types::types::{FlinkType, FlinkTypeN};
use rask_types::Pos;

use crate::error::{Result, SqlError};

/// A parsed statement with its position and original text.
#[derive(Debug, Clone)]
pub struct Located {
    pub stmt: FlinkStatement,
    pub pos: Pos,
    pub text: String,
}

/// Statements are built once per script line; their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FlinkStatement {
    CreateTable(CreateTable),
    CreateView(CreateView),
    Drop { name: String, if_exists: bool, view: bool },
    /// `INSERT INTO …` (a sqlparser `Statement::Insert`).
    Insert(Box<Statement>),
    Query(Box<Query>),
    /// `EXECUTE STATEMENT SET BEGIN …; END` or `BEGIN STATEMENT SET; … END;`.
    StatementSet(Vec<(Box<Statement>, Pos)>),
    /// `SET` (list) or `SET 'k' = 'v'`.
    Set(Option<(String, String)>),
    Reset(Option<String>),
    ShowTables,
    ShowViews,
    /// `SHOW [USER] FUNCTIONS`.
    ShowFunctions { user: bool },
    /// `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'identifier' [LANGUAGE …]`.
    CreateFunction(CreateFunction),
    /// `DROP [TEMPORARY [SYSTEM]] FUNCTION [IF EXISTS] name`.
    DropFunction { name: String, if_exists: bool, temporary: bool, system: bool },
    /// `CREATE DATABASE [IF NOT EXISTS] [catalog.]db [COMMENT '…'] [WITH (…)]`.
    CreateDatabase { name: String, if_not_exists: bool },
    /// `DROP DATABASE [IF EXISTS] [catalog.]db [RESTRICT | CASCADE]`.
    DropDatabase { name: String, if_exists: bool, cascade: bool },
    /// `USE [catalog.]db`.
    Use(String),
    /// `USE CATALOG c`.
    UseCatalog(String),
    ShowDatabases,
    ShowCurrentDatabase,
    ShowCatalogs,
    ShowCurrentCatalog,
    Describe(String),
    Explain(Box<Located>),
}

/// `CREATE [TEMPORARY [SYSTEM]] FUNCTION`: a user-defined function by its implementation's
/// name (`module.function` for `LANGUAGE PYTHON`; Flink's default language is JAVA).
#[derive(Debug, Clone)]
pub struct CreateFunction {
    /// The name as written (`f`, `db.f`); function names are case-insensitive.
    pub name: String,
    pub if_not_exists: bool,
    pub temporary: bool,
    pub system: bool,
    pub identifier: String,
    pub identifier_pos: Pos,
    /// JAVA, SCALA or PYTHON (upper case).
    pub language: String,
    pub language_pos: Pos,
}

#[derive(Debug, Clone)]
pub struct CreateTable {
    pub name: String,
    pub name_pos: Pos,
    pub if_not_exists: bool,
    pub temporary: bool,
    pub columns: Vec<ColumnDef>,
    pub watermark: Option<WatermarkDef>,
    pub primary_key: Option<Vec<String>>,
    pub options: Vec<(String, String, Pos)>,
    pub comment: Option<String>,
    pub partitioned_by: Vec<String>,
    pub like: Option<LikeClause>,
}

/// `LIKE source (INCLUDING ALL, EXCLUDING OPTIONS, …)`.
#[derive(Debug, Clone)]
pub struct LikeClause {
    pub source: String,
    pub pos: Pos,
    /// (strategy, feature) in the order written: strategy is INCLUDING | EXCLUDING |
    /// OVERWRITING; feature is ALL | CONSTRAINTS | GENERATED | METADATA | OPTIONS | PARTITIONS | WATERMARKS.
    pub options: Vec<(String, String)>,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ColumnKind {
    Physical(FlinkTypeN),
    Computed(Expr),
    /// `METADATA [FROM 'key'] [VIRTUAL]`
    Metadata { ty: FlinkTypeN, key: Option<String>, is_virtual: bool },
}

#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub pos: Pos,
    pub kind: ColumnKind,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WatermarkDef {
    pub column: String,
    pub expr: Expr,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct CreateView {
    pub name: String,
    pub if_not_exists: bool,
    pub columns: Vec<String>,
    pub query: Box<Query>,
}

fn pos_of(t: &TokenWithSpan) -> Pos {
    Pos::new(t.span.start.line, t.span.start.column)
}

fn map_parser_error(e: ParserError, fallback: Pos) -> SqlError {
    let msg = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
        ParserError::RecursionLimitExceeded => "expression nested too deeply".into(),
    };
    // sqlparser appends " at Line: L, Column: C"; turn that into our position.
    if let Some(idx) = msg.rfind(" at Line: ") {
        let tail = &msg[idx + 10..];
        let mut it = tail.split(", Column: ");
        if let (Some(l), Some(c)) = (it.next(), it.next())
            && let (Ok(l), Ok(c)) = (l.trim().parse(), c.trim().parse()) {
                return SqlError::parse(Pos::new(l, c), msg[..idx].to_string());
            }
    }
    SqlError::parse(fallback, msg)
}

/// Tokenize a whole script (positions are relative to the script).
fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    let dialect = GenericDialect {};
    let toks = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            let (l, c) = (e.location.line, e.location.column);
            SqlError::parse(Pos::new(l, c), e.message)
        })?;
    // Whitespace and comments go, except hints (`/*+ … */`, see [`rewrite_hints`]).
    Ok(toks.into_iter().filter(|t| !matches!(&t.token, Token::Whitespace(w) if !is_hint(w))).collect())
}

fn is_hint(w: &Whitespace) -> bool {
    matches!(w, Whitespace::MultiLineComment(s) if s.starts_with('+'))
}

fn is_word(t: &Token, kw: &str) -> bool {
    matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case(kw) && w.quote_style.is_none())
}

/// Parse a script into statements.
pub fn parse_script(sql: &str) -> Result<Vec<Located>> {
    let toks = tokenize(sql)?;
    let mut out = Vec::new();
    let mut i = 0;
    // An open `BEGIN STATEMENT SET;`: its INSERTs so far and where it began.
    type PendingSet = (Vec<(Box<Statement>, Pos)>, Pos, usize);
    let mut pending_set: Option<PendingSet> = None;
    while i < toks.len() {
        if matches!(toks[i].token, Token::SemiColon) {
            i += 1;
            continue;
        }
        if matches!(toks[i].token, Token::EOF) {
            break;
        }
        // Statement extent: up to the next top-level ';' (EXECUTE STATEMENT SET: up to END).
        let start = i;
        let is_exec_set = is_word(&toks[i].token, "EXECUTE")
            && toks.get(i + 1).is_some_and(|t| is_word(&t.token, "STATEMENT"))
            && toks.get(i + 2).is_some_and(|t| is_word(&t.token, "SET"));
        let mut j = i;
        if is_exec_set {
            while j < toks.len() && !is_word(&toks[j].token, "END") && !matches!(toks[j].token, Token::EOF) {
                j += 1;
            }
            if j >= toks.len() || matches!(toks[j].token, Token::EOF) {
                return Err(SqlError::parse(pos_of(&toks[start]), "EXECUTE STATEMENT SET BEGIN … is missing its END"));
            }
            j += 1; // include END
        } else {
            while j < toks.len() && !matches!(toks[j].token, Token::SemiColon | Token::EOF) {
                j += 1;
            }
        }
        let stmt_toks = &toks[start..j];
        let pos = pos_of(&toks[start]);
        let end_off = toks.get(j).map(|t| t.span.start);
        let text = slice_text(sql, toks[start].span.start, end_off);
        i = j;

        // BEGIN STATEMENT SET; … END;
        if is_word(&stmt_toks[0].token, "BEGIN")
            && stmt_toks.get(1).is_some_and(|t| is_word(&t.token, "STATEMENT"))
            && stmt_toks.get(2).is_some_and(|t| is_word(&t.token, "SET"))
        {
            pending_set = Some((Vec::new(), pos, out.len()));
            continue;
        }
        if stmt_toks.len() == 1 && is_word(&stmt_toks[0].token, "END") {
            match pending_set.take() {
                Some((inserts, p, _)) => {
                    out.push(Located { stmt: FlinkStatement::StatementSet(inserts), pos: p, text: String::new() });
                    continue;
                }
                None => return Err(SqlError::parse(pos, "END without BEGIN STATEMENT SET")),
            }
        }
        let stmt = parse_statement(stmt_toks, pos)?;
        if let Some((inserts, _, _)) = pending_set.as_mut() {
            match stmt {
                FlinkStatement::Insert(ins) => {
                    inserts.push((ins, pos));
                    continue;
                }
                _ => return Err(SqlError::parse(pos, "only INSERT statements are allowed in a STATEMENT SET")),
            }
        }
        out.push(Located { stmt, pos, text });
    }
    if let Some((_, p, _)) = pending_set {
        return Err(SqlError::parse(p, "BEGIN STATEMENT SET is missing its END"));
    }
    Ok(out)
}

fn slice_text(sql: &str, start: datafusion_sql::sqlparser::tokenizer::Location, end: Option<datafusion_sql::sqlparser::tokenizer::Location>) -> String {
    let offset = |loc: datafusion_sql::sqlparser::tokenizer::Location| -> usize {
        let mut line = 1u64;
        let mut col = 1u64;
        for (idx, ch) in sql.char_indices() {
            if line == loc.line && col == loc.column {
                return idx;
            }
            if ch == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        sql.len()
    };
    let s = offset(start);
    let e = end.map(offset).unwrap_or(sql.len());
    sql[s..e.max(s)].trim().to_string()
}

/// A cursor over one statement's tokens.
struct Cursor<'a> {
    toks: &'a [TokenWithSpan],
    i: usize,
    /// `>>` split in two while closing nested `ARRAY<ARRAY<INT>>`.
    pending_gt: bool,
    end_pos: Pos,
}

impl<'a> Cursor<'a> {
    fn new(toks: &'a [TokenWithSpan], end_pos: Pos) -> Self {
        Cursor { toks, i: 0, pending_gt: false, end_pos }
    }
    fn peek(&self) -> &Token {
        self.toks.get(self.i).map(|t| &t.token).unwrap_or(&Token::EOF)
    }
    fn peek_at(&self, n: usize) -> &Token {
        self.toks.get(self.i + n).map(|t| &t.token).unwrap_or(&Token::EOF)
    }
    fn pos(&self) -> Pos {
        self.toks.get(self.i).map(pos_of).unwrap_or(self.end_pos)
    }
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }
    fn at_end(&self) -> bool {
        matches!(self.peek(), Token::EOF)
    }
    fn eat_word(&mut self, kw: &str) -> bool {
        if is_word(self.peek(), kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect_word(&mut self, kw: &str) -> Result<()> {
        if self.eat_word(kw) { Ok(()) } else { Err(self.unexpected(&format!("expected {kw}"))) }
    }
    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == t {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &Token) -> Result<()> {
        if self.eat(t) { Ok(()) } else { Err(self.unexpected(&format!("expected '{t}'"))) }
    }
    fn unexpected(&self, what: &str) -> SqlError {
        let found = match self.peek() {
            Token::EOF => "end of statement".to_string(),
            t => format!("'{t}'"),
        };
        SqlError::parse(self.pos(), format!("{what}, found {found}"))
    }
    fn ident(&mut self) -> Result<String> {
        match self.peek().clone() {
            Token::Word(w) => {
                self.i += 1;
                Ok(w.value)
            }
            _ => Err(self.unexpected("expected an identifier")),
        }
    }
    /// `a.b.c` → "a.b.c" (catalog/database parts are kept as written).
    fn object_name(&mut self) -> Result<String> {
        let mut parts = vec![self.ident()?];
        while self.eat(&Token::Period) {
            parts.push(self.ident()?);
        }
        Ok(parts.join("."))
    }
    fn string_lit(&mut self) -> Result<String> {
        match self.peek().clone() {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                self.i += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("expected a string literal")),
        }
    }
    fn number(&mut self) -> Result<u64> {
        match self.peek().clone() {
            Token::Number(n, _) => {
                self.i += 1;
                n.parse().map_err(|_| SqlError::parse(self.pos(), format!("invalid number '{n}'")))
            }
            _ => Err(self.unexpected("expected a number")),
        }
    }
    fn expect_gt(&mut self) -> Result<()> {
        if self.pending_gt {
            self.pending_gt = false;
            self.i += 1;
            return Ok(());
        }
        match self.peek() {
            Token::Gt => {
                self.i += 1;
                Ok(())
            }
            Token::ShiftRight => {
                self.pending_gt = true;
                Ok(())
            }
            _ => Err(self.unexpected("expected '>'")),
        }
    }
    /// The remaining tokens, for sqlparser.
    fn rest(&self) -> Vec<TokenWithSpan> {
        self.toks[self.i..].to_vec()
    }
    /// Run a sqlparser function on the remaining tokens, advancing past what it consumed.
    fn with_sqlparser<T>(&mut self, f: impl FnOnce(&mut Parser) -> Result<T, ParserError>) -> Result<T> {
        let dialect = GenericDialect {};
        let pos = self.pos();
        let mut p = Parser::new(&dialect).with_tokens_with_locations(self.rest());
        let r = f(&mut p).map_err(|e| map_parser_error(e, pos))?;
        self.i += p.index();
        Ok(r)
    }
}

/// Rewrite Flink-only syntax that sqlparser does not know into equivalent tokens:
/// - the target type of `CAST`/`TRY_CAST` is parsed with Flink's type grammar (`MAP<K, V>`,
///   `ROW<…>`, `TIMESTAMP_LTZ(3)`, `STRING`, …) and passed on as one quoted custom type name,
///   which the type planner maps back to the Flink type;
/// - `MAP[k1, v1, k2, v2]` becomes the map literal `MAP {k1: v1, k2: v2}`.
fn rewrite_flink_tokens(toks: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(toks.len());
    let mut i = 0;
    // Stack of open MAP[ brackets: (depth of bracket nesting, number of commas seen).
    let mut map_stack: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0usize;
    while i < toks.len() {
        let t = &toks[i];
        match &t.token {
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("MAP") && matches!(toks.get(i + 1).map(|t| &t.token), Some(Token::LBracket)) => {
                out.push(t.clone());
                let mut lb = toks[i + 1].clone();
                lb.token = Token::LBrace;
                out.push(lb);
                depth += 1;
                map_stack.push((depth, 0));
                i += 2;
                continue;
            }
            Token::LBracket | Token::LParen | Token::LBrace => depth += 1,
            Token::RBracket if map_stack.last().is_some_and(|(d, _)| *d == depth) => {
                map_stack.pop();
                depth = depth.saturating_sub(1);
                let mut rb = t.clone();
                rb.token = Token::RBrace;
                out.push(rb);
                i += 1;
                continue;
            }
            Token::RBracket | Token::RParen | Token::RBrace => depth = depth.saturating_sub(1),
            Token::Comma => {
                if let Some((d, commas)) = map_stack.last_mut()
                    && *d == depth {
                        *commas += 1;
                        if *commas % 2 == 1 {
                            let mut c = t.clone();
                            c.token = Token::Colon;
                            out.push(c);
                            i += 1;
                            continue;
                        }
                    }
            }
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("AS") => {
                // Is this the AS of a CAST(... AS type)? Find the enclosing '(' and the word before it.
                let mut d = 0i64;
                let mut j = out.len();
                let mut is_cast = false;
                while j > 0 {
                    j -= 1;
                    match &out[j].token {
                        Token::RParen | Token::RBracket | Token::RBrace => d += 1,
                        Token::LParen | Token::LBracket | Token::LBrace => {
                            if d == 0 {
                                is_cast = matches!(&out[j].token, Token::LParen)
                                    && j > 0
                                    && matches!(&out[j - 1].token, Token::Word(w) if w.value.eq_ignore_ascii_case("CAST") || w.value.eq_ignore_ascii_case("TRY_CAST"));
                                break;
                            }
                            d -= 1;
                        }
                        _ => {}
                    }
                }
                if is_cast {
                    let rest: Vec<TokenWithSpan> = toks[i + 1..].to_vec();
                    let end_pos = Pos::new(t.span.end.line, t.span.end.column);
                    let mut c = Cursor::new(&rest, end_pos);
                    if let Ok(ty) = parse_type(&mut c)
                        && !c.pending_gt && matches!(c.peek(), Token::RParen) {
                            out.push(t.clone());
                            let mut tt = rest[0].clone();
                            tt.token = Token::Word(Word { value: ty.to_string(), quote_style: Some('`'), keyword: Keyword::NoKeyword });
                            out.push(tt);
                            i += 1 + c.i;
                            continue;
                        }
                }
            }
            _ => {}
        }
        out.push(t.clone());
        i += 1;
    }
    out
}

/// What a table name rewritten by [`rewrite_hints`] carries between the table's name and its
/// `OPTIONS` hint (a JSON object of the options).
pub const OPTIONS_MARKER: &str = " /*+ OPTIONS ";

/// One hint of a `/*+ … */` comment: `NAME('k'='v', …)` or `NAME(a, b)`.
struct Hint {
    name: String,
    kv: Vec<(String, String)>,
    list: Vec<String>,
}

/// The hints of a hint comment's text (after `+`).
fn parse_hints(text: &str, pos: Pos) -> Result<Vec<Hint>> {
    let bad = |m: &str| SqlError::parse(pos, format!("hint /*+{text}*/: {m}"));
    let toks: Vec<Token> = Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map_err(|e| bad(&e.message))?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut hints = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Token::Word(name) = &toks[i] else { return Err(bad("expected a hint name such as OPTIONS or LOOKUP")) };
        let mut h = Hint { name: name.value.to_ascii_uppercase(), kv: Vec::new(), list: Vec::new() };
        i += 1;
        if matches!(toks.get(i), Some(Token::LParen)) {
            i += 1;
            while !matches!(toks.get(i), Some(Token::RParen) | None) {
                match (toks.get(i), toks.get(i + 1), toks.get(i + 2)) {
                    (Some(Token::SingleQuotedString(k)), Some(Token::Eq), Some(Token::SingleQuotedString(v))) => {
                        h.kv.push((k.clone(), v.clone()));
                        i += 3;
                    }
                    (Some(Token::SingleQuotedString(v)), _, _) => {
                        h.list.push(v.clone());
                        i += 1;
                    }
                    (Some(Token::Word(w)), _, _) => {
                        h.list.push(w.value.clone());
                        i += 1;
                    }
                    _ => return Err(bad(&format!("unexpected {} in the arguments of {}", toks[i], h.name))),
                }
                if matches!(toks.get(i), Some(Token::Comma)) {
                    i += 1;
                }
            }
            if toks.get(i).is_none() {
                return Err(bad(&format!("{} is missing its ')'", h.name)));
            }
            i += 1;
        }
        hints.push(h);
        if matches!(toks.get(i), Some(Token::Comma)) {
            i += 1;
        }
    }
    Ok(hints)
}

/// The LOOKUP hint's options, as Flink accepts them.
fn check_lookup_hint(h: &Hint, pos: Pos) -> Result<()> {
    let bad = |m: String| SqlError::validation(pos, format!("LOOKUP hint: {m}"));
    if !h.list.is_empty() {
        return Err(bad("its options are 'key'='value' pairs".into()));
    }
    if !h.kv.iter().any(|(k, _)| k == "table") {
        return Err(bad("'table' (the lookup table's name or alias) is required".into()));
    }
    for (k, v) in &h.kv {
        let ok = match k.as_str() {
            "table" => true,
            "async" => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            "output-mode" => v.eq_ignore_ascii_case("ordered") || v.eq_ignore_ascii_case("allow_unordered"),
            "capacity" => v.parse::<u32>().is_ok_and(|n| n > 0),
            "timeout" => rask_types::options::parse_duration(v).is_ok(),
            "retry-predicate" => v.eq_ignore_ascii_case("lookup_miss"),
            "retry-strategy" => v.eq_ignore_ascii_case("fixed_delay"),
            "fixed-delay" => rask_types::options::parse_duration(v).is_ok(),
            "max-attempts" => v.parse::<u32>().is_ok_and(|n| n > 0),
            _ => return Err(bad(format!("unknown option '{k}'; options: table, async, output-mode, capacity, timeout, retry-predicate, retry-strategy, fixed-delay, max-attempts"))),
        };
        if !ok {
            return Err(bad(format!("'{v}' is not a valid value of '{k}'")));
        }
    }
    let retry = ["retry-predicate", "retry-strategy", "fixed-delay", "max-attempts"];
    let given = retry.iter().filter(|r| h.kv.iter().any(|(k, _)| k == *r)).count();
    if given != 0 && given != retry.len() {
        return Err(bad("retries need all of 'retry-predicate'='lookup_miss', 'retry-strategy'='fixed_delay', 'fixed-delay' and 'max-attempts'".into()));
    }
    Ok(())
}

/// A backquoted identifier.
fn quoted_word(value: String) -> Token {
    Token::Word(Word { value, quote_style: Some('`'), keyword: Keyword::NoKeyword })
}

/// Whether the token after a table reference starts its alias (`AS a`, `a`, `` `a` ``).
fn starts_alias(t: Option<&TokenWithSpan>) -> bool {
    matches!(t.map(|t| &t.token), Some(Token::Word(w)) if w.quote_style.is_some() || w.keyword == Keyword::AS || w.keyword == Keyword::NoKeyword)
}

/// Rename the table name at the end of `out` to `marked` (a marker the planner reads); with
/// `alias`, alias it by its own name so that `table.col` still resolves.
fn mark_table(out: &mut Vec<TokenWithSpan>, marked: String, alias: bool) {
    let Some(last) = out.last_mut() else { return };
    let name = match &last.token {
        Token::Word(w) => unmarked(&w.value).to_string(),
        _ => return,
    };
    last.token = quoted_word(marked);
    if alias {
        let mut a = last.clone();
        a.token = Token::Word(Word { value: "AS".into(), quote_style: None, keyword: Keyword::AS });
        let mut n = last.clone();
        n.token = quoted_word(name);
        out.push(a);
        out.push(n);
    }
}

/// What a lookup table's name carries when a LOOKUP hint names it (its options as JSON), before
/// the temporal marker.
pub const LOOKUP_MARKER: &str = " /*+ LOOKUP ";

/// The base table name of a (hint-)marked table name.
pub fn unmarked(name: &str) -> &str {
    let name = name.split(TEMPORAL_MARKER).next().unwrap_or(name);
    let name = name.split(LOOKUP_MARKER).next().unwrap_or(name);
    name.split(OPTIONS_MARKER).next().unwrap_or(name)
}

/// Attach each LOOKUP hint to the table joined `FOR SYSTEM_TIME AS OF` whose name or alias it
/// names (the table name gets `LOOKUP_MARKER {json}`).
fn attach_lookup_hints(out: &mut [TokenWithSpan], hints: Vec<(Hint, Pos)>) -> Result<()> {
    for (h, pos) in hints {
        let Some((_, target)) = h.kv.iter().find(|(k, _)| k == "table") else { continue };
        let mut found = false;
        for k in 1..out.len() {
            let at = |d: usize, kw: &str| out.get(k + d).is_some_and(|t| is_word(&t.token, kw));
            if !(at(0, "FOR") && at(1, "SYSTEM_TIME") && at(2, "AS") && at(3, "OF")) {
                continue;
            }
            // The alias after the time attribute (`o.pt [AS] d`).
            let mut j = k + 4;
            while matches!(out.get(j + 1).map(|t| &t.token), Some(Token::Period)) {
                j += 2;
            }
            j += 1;
            if out.get(j).is_some_and(|t| is_word(&t.token, "AS")) {
                j += 1;
            }
            let alias = match out.get(j).map(|t| &t.token) {
                Some(Token::Word(w)) => Some(w.value.clone()),
                _ => None,
            };
            let Token::Word(table) = out[k - 1].token.clone() else { continue };
            if unmarked(&table.value) == target.as_str() || alias.as_deref() == Some(target.as_str()) {
                let opts: serde_json::Map<String, serde_json::Value> =
                    h.kv.iter().filter(|(k, _)| k != "table").map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
                out[k - 1].token = quoted_word(format!("{}{LOOKUP_MARKER}{}", table.value, serde_json::Value::Object(opts)));
                found = true;
            }
        }
        if !found {
            return Err(SqlError::validation(pos, format!("LOOKUP hint: no table or alias '{target}' is joined FOR SYSTEM_TIME AS OF in this query")));
        }
    }
    Ok(())
}

/// Flink's hints in `/*+ … */` comments. After a table name, `OPTIONS('k'='v', …)` (dynamic
/// table options) renames the table to `name OPTIONS_MARKER {json}` (aliased by its own name
/// unless it has an alias or is an INSERT target), which the catalog resolves to the table with
/// those options merged into its WITH options and checked by its connector. After `SELECT`,
/// query hints: `LOOKUP(…)` is checked and needs nothing more (lookups are issued per batch,
/// in order, which is what its async and output-mode options ask for), join strategy hints
/// (`BROADCAST`, `SHUFFLE_HASH`, …) leave the streaming plan as it is, as in Flink's streaming
/// mode. Anything else is refused rather than ignored.
fn rewrite_hints(toks: &[TokenWithSpan]) -> Result<Vec<TokenWithSpan>> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(toks.len());
    let mut lookups = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Token::Whitespace(Whitespace::MultiLineComment(text)) = &toks[i].token else {
            out.push(toks[i].clone());
            i += 1;
            continue;
        };
        let pos = pos_of(&toks[i]);
        let hints = parse_hints(&text[1..], pos)?;
        i += 1;
        match out.last().map(|t| t.token.clone()) {
            Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("SELECT") => {
                for h in hints {
                    match h.name.as_str() {
                        "LOOKUP" => {
                            check_lookup_hint(&h, pos)?;
                            lookups.push((h, pos));
                        }
                        "BROADCAST" | "SHUFFLE_HASH" | "SHUFFLE_MERGE" | "NEST_LOOP" => {}
                        "STATE_TTL" => return Err(SqlError::unsupported(pos, "the STATE_TTL hint is not supported yet: use 'table.exec.state.ttl'")),
                        "OPTIONS" => return Err(SqlError::validation(pos, "the OPTIONS hint follows a table name, not SELECT")),
                        other => return Err(SqlError::validation(pos, format!("unknown hint {other}: Flink's query hints are LOOKUP, STATE_TTL and the join hints"))),
                    }
                }
            }
            Some(Token::Word(table)) => {
                let mut options = serde_json::Map::new();
                for h in &hints {
                    if h.name != "OPTIONS" {
                        return Err(SqlError::validation(pos, format!("{} is not a table hint: after a table name only OPTIONS('key'='value', …) is allowed", h.name)));
                    }
                    if !h.list.is_empty() || h.kv.is_empty() {
                        return Err(SqlError::validation(pos, "OPTIONS hint: expected 'key'='value' pairs"));
                    }
                    for (k, v) in &h.kv {
                        options.insert(k.clone(), serde_json::Value::String(v.clone()));
                    }
                }
                let json = serde_json::Value::Object(options).to_string();
                let insert_target = out.len() >= 2 && matches!(&out[out.len() - 2].token, Token::Word(w) if w.value.eq_ignore_ascii_case("INTO") || w.value.eq_ignore_ascii_case("TABLE"));
                // FOR SYSTEM_TIME AS OF follows: its rewrite adds the alias.
                let alias = !insert_target && !starts_alias(toks.get(i)) && !toks.get(i).is_some_and(|t| is_word(&t.token, "FOR"));
                mark_table(&mut out, format!("{}{OPTIONS_MARKER}{json}", table.value), alias);
            }
            _ => return Err(SqlError::validation(pos, "a hint follows SELECT (query hints such as LOOKUP) or a table name (OPTIONS)")),
        }
    }
    attach_lookup_hints(&mut out, lookups)?;
    Ok(out)
}

/// What a table name rewritten by [`rewrite_temporal_tables`] carries between the table's name
/// and its time attribute.
pub const TEMPORAL_MARKER: &str = " FOR SYSTEM_TIME AS OF ";

/// `JOIN dim FOR SYSTEM_TIME AS OF o.ts [AS d]` (a temporal or lookup join) → `JOIN "dim FOR
/// SYSTEM_TIME AS OF o.ts" AS d`: the table reference names the table and the time attribute
/// it is joined at, so the planner finds both on the join's right side (sqlparser reads
/// `FOR SYSTEM_TIME AS OF` only in dialects with table versioning). Without an alias, the
/// table's own name becomes the alias, so `dim.col` still resolves.
fn rewrite_temporal_tables(toks: &[TokenWithSpan]) -> Result<Vec<TokenWithSpan>> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let at = |k: usize, kw: &str| toks.get(i + k).is_some_and(|t| is_word(&t.token, kw));
        if !(at(0, "FOR") && at(1, "SYSTEM_TIME") && at(2, "AS") && at(3, "OF")) {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        let for_pos = pos_of(&toks[i]);
        // The time attribute: a (qualified) column name.
        let mut j = i + 4;
        let mut time = Vec::new();
        loop {
            match toks.get(j).map(|t| &t.token) {
                Some(Token::Word(w)) => time.push(w.value.clone()),
                _ => {
                    let p = toks.get(j).map(pos_of).unwrap_or(for_pos);
                    return Err(SqlError::parse(p, "FOR SYSTEM_TIME AS OF expects a time attribute column of the left table (e.g. o.proc_time)"));
                }
            }
            j += 1;
            if matches!(toks.get(j).map(|t| &t.token), Some(Token::Period)) {
                j += 1;
            } else {
                break;
            }
        }
        if matches!(toks.get(j).map(|t| &t.token), Some(Token::LParen)) {
            return Err(SqlError::parse(
                pos_of(&toks[i + 4]),
                "FOR SYSTEM_TIME AS OF expects a time attribute column of the left table (e.g. o.proc_time), not an expression",
            ));
        }
        let Some(Token::Word(table)) = out.last().map(|t| t.token.clone()) else {
            return Err(SqlError::parse(for_pos, "FOR SYSTEM_TIME AS OF must follow a table name"));
        };
        let alias = !starts_alias(toks.get(j));
        mark_table(&mut out, format!("{}{TEMPORAL_MARKER}{}", table.value, time.join(".")), alias);
        i = j;
    }
    Ok(out)
}

/// Parameter names of the window table functions, in positional order.
fn window_tvf_params(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "TUMBLE" => &["DATA", "TIMECOL", "SIZE", "OFFSET"],
        "HOP" => &["DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET"],
        "CUMULATE" => &["DATA", "TIMECOL", "STEP", "SIZE", "OFFSET"],
        "SESSION" => &["DATA", "TIMECOL", "GAP"],
        _ => return None,
    })
}

/// `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size))` (also with `NAME => value` arguments) becomes
/// the table-function call `__rask_window_tumble('t', 'ts', size)`, which the planner resolves.
fn rewrite_window_tvfs(toks: &[TokenWithSpan]) -> Result<Vec<TokenWithSpan>> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let is_tvf = is_word(&toks[i].token, "TABLE")
            && matches!(toks.get(i + 1).map(|t| &t.token), Some(Token::LParen))
            && matches!(toks.get(i + 2).map(|t| &t.token), Some(Token::Word(w)) if window_tvf_params(&w.value.to_ascii_uppercase()).is_some())
            && matches!(toks.get(i + 3).map(|t| &t.token), Some(Token::LParen));
        if !is_tvf {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        let Token::Word(fname) = &toks[i + 2].token else { unreachable!() };
        let fname = fname.value.to_ascii_uppercase();
        let params = window_tvf_params(&fname).unwrap_or(&[]);
        let fpos = pos_of(&toks[i + 2]);
        // Split the arguments at top-level commas, up to the function's ')'.
        let mut j = i + 4;
        let mut depth = 0i32;
        let mut args: Vec<Vec<TokenWithSpan>> = vec![Vec::new()];
        loop {
            let Some(t) = toks.get(j) else {
                return Err(SqlError::parse(fpos, format!("{fname}(…) is not closed")));
            };
            match &t.token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::Comma if depth == 0 => {
                    args.push(Vec::new());
                    j += 1;
                    continue;
                }
                _ => {}
            }
            if let Some(a) = args.last_mut() { a.push(t.clone()) }
            j += 1;
        }
        // j is at the function's ')'; the TABLE( ... ) must close right after.
        if !matches!(toks.get(j + 1).map(|t| &t.token), Some(Token::RParen)) {
            return Err(SqlError::parse(fpos, format!("expected ')' after {fname}(…) to close TABLE(…)")));
        }
        // Named arguments go to their positions.
        let mut partition: Option<TokenWithSpan> = None;
        let mut positional: Vec<Option<Vec<TokenWithSpan>>> = vec![None; params.len()];
        let mut next = 0;
        for a in args.into_iter().filter(|a| !a.is_empty()) {
            let named = matches!(a.first().map(|t| &t.token), Some(Token::Word(_))) && matches!(a.get(1).map(|t| &t.token), Some(Token::RArrow));
            let (slot, body) = if named {
                let Token::Word(w) = &a[0].token else { unreachable!() };
                let n = w.value.to_ascii_uppercase();
                match params.iter().position(|p| *p == n) {
                    Some(k) => (k, a[2..].to_vec()),
                    None => {
                        return Err(SqlError::parse(pos_of(&a[0]), format!("{fname} has no parameter '{}'; parameters: {}", w.value, params.join(", "))));
                    }
                }
            } else {
                (next, a)
            };
            if slot >= params.len() {
                return Err(SqlError::parse(fpos, format!("too many arguments for {fname}; parameters: {}", params.join(", "))));
            }
            next = slot + 1;
            // TABLE name → 'name'; DESCRIPTOR(col) → 'col'; SESSION's `TABLE name PARTITION BY
            // k` / `PARTITION BY (k1, k2)` → 'name' plus a trailing 'k1,k2' argument.
            let body = if slot == 0 && fname == "SESSION" && body.len() > 4 && is_word(&body[2].token, "PARTITION") && is_word(&body[3].token, "BY") {
                let mut keys = Vec::new();
                for t in &body[4..] {
                    match &t.token {
                        Token::Word(w) => keys.push(w.value.clone()),
                        Token::LParen | Token::RParen | Token::Comma => {}
                        _ => return Err(SqlError::parse(pos_of(t), "PARTITION BY of SESSION expects column names")),
                    }
                }
                let mut t = body[4].clone();
                t.token = Token::SingleQuotedString(keys.join(","));
                partition = Some(t);
                body[..2].to_vec()
            } else {
                body
            };
            let body = match (body.first().map(|t| &t.token), body.get(1).map(|t| &t.token)) {
                (Some(t0), Some(Token::Word(w))) if is_word(t0, "TABLE") && body.len() == 2 => {
                    let mut t = body[1].clone();
                    t.token = Token::SingleQuotedString(w.value.clone());
                    vec![t]
                }
                (Some(t0), Some(Token::LParen)) if is_word(t0, "DESCRIPTOR") && body.len() == 4 => match &body[2].token {
                    Token::Word(w) => {
                        let mut t = body[2].clone();
                        t.token = Token::SingleQuotedString(w.value.clone());
                        vec![t]
                    }
                    _ => body,
                },
                _ => body,
            };
            positional[slot] = Some(body);
        }
        let mut call = toks[i + 2].clone();
        call.token = Token::Word(Word { value: format!("__rask_window_{}", fname.to_ascii_lowercase()), quote_style: None, keyword: Keyword::NoKeyword });
        out.push(call);
        out.push(toks[i + 3].clone());
        let required = if fname == "SESSION" { params.len() } else { params.len() - 1 }; // OFFSET is optional
        for (k, a) in positional.into_iter().enumerate() {
            match a {
                Some(a) => {
                    if k > 0 {
                        let mut c = toks[i + 3].clone();
                        c.token = Token::Comma;
                        out.push(c);
                    }
                    out.extend(a);
                }
                None if k < required => {
                    return Err(SqlError::parse(fpos, format!("{fname} needs the parameter {} ({})", params[k], params.join(", "))));
                }
                None => {}
            }
        }
        if let Some(p) = partition {
            let mut c = toks[i + 3].clone();
            c.token = Token::Comma;
            out.push(c);
            out.push(p);
        }
        out.push(toks[j].clone());
        i = j + 2;
    }
    Ok(out)
}

fn parse_statement(toks: &[TokenWithSpan], pos: Pos) -> Result<FlinkStatement> {
    let hinted = rewrite_hints(toks)?;
    let windowed = rewrite_window_tvfs(&hinted)?;
    let temporal = rewrite_temporal_tables(&windowed)?;
    let rewritten = rewrite_flink_tokens(&temporal);
    let toks: &[TokenWithSpan] = &rewritten;
    let end_pos = toks.last().map(|t| Pos::new(t.span.end.line, t.span.end.column)).unwrap_or(pos);
    let mut c = Cursor::new(toks, end_pos);
    let first = c.peek().clone();
    let kw = match &first {
        Token::Word(w) => w.value.to_ascii_uppercase(),
        Token::LParen => "(".into(),
        _ => return Err(c.unexpected("expected a statement")),
    };
    let stmt = match kw.as_str() {
        "CREATE" => {
            c.next();
            let temporary = c.eat_word("TEMPORARY");
            if c.eat_word("TABLE") {
                FlinkStatement::CreateTable(parse_create_table(&mut c, temporary)?)
            } else if c.eat_word("VIEW") {
                let if_not_exists = eat_if_not_exists(&mut c)?;
                let name = c.object_name()?;
                let mut columns = Vec::new();
                if c.eat(&Token::LParen) {
                    loop {
                        columns.push(c.ident()?);
                        if !c.eat(&Token::Comma) {
                            break;
                        }
                    }
                    c.expect(&Token::RParen)?;
                }
                c.expect_word("AS")?;
                let query = c.with_sqlparser(|p| p.parse_query())?;
                FlinkStatement::CreateView(CreateView { name, if_not_exists, columns, query })
            } else if c.eat_word("DATABASE") {
                let if_not_exists = eat_if_not_exists(&mut c)?;
                let name = c.object_name()?;
                if c.eat_word("COMMENT") {
                    c.string_lit()?;
                }
                if c.eat_word("WITH") {
                    // Database properties: accepted, not used.
                    c.expect(&Token::LParen)?;
                    while !c.at_end() && !c.eat(&Token::RParen) {
                        c.next();
                    }
                }
                FlinkStatement::CreateDatabase { name, if_not_exists }
            } else if is_word(c.peek(), "SYSTEM") || is_word(c.peek(), "FUNCTION") {
                if is_word(c.peek(), "SYSTEM") && !temporary {
                    return Err(c.unexpected("SYSTEM functions are temporary: CREATE TEMPORARY SYSTEM FUNCTION"));
                }
                let system = c.eat_word("SYSTEM");
                c.expect_word("FUNCTION")?;
                let if_not_exists = eat_if_not_exists(&mut c)?;
                let name = c.object_name()?;
                c.expect_word("AS")?;
                let identifier_pos = c.pos();
                let identifier = c.string_lit()?;
                let (language, language_pos) = if c.eat_word("LANGUAGE") {
                    let p = c.pos();
                    (c.ident()?.to_ascii_uppercase(), p)
                } else {
                    ("JAVA".to_string(), identifier_pos)
                };
                if c.eat_word("USING") {
                    // `USING JAR '…' [, JAR '…']`: Java code, refused with the language below.
                    loop {
                        c.expect_word("JAR")?;
                        c.string_lit()?;
                        if !c.eat(&Token::Comma) {
                            break;
                        }
                    }
                }
                FlinkStatement::CreateFunction(CreateFunction { name, if_not_exists, temporary, system, identifier, identifier_pos, language, language_pos })
            } else {
                return Err(c.unexpected("expected TABLE, VIEW, DATABASE or FUNCTION after CREATE"));
            }
        }
        "DROP" if is_word(c.peek_at(1), "DATABASE") => {
            c.next();
            c.next();
            let if_exists = if c.eat_word("IF") {
                c.expect_word("EXISTS")?;
                true
            } else {
                false
            };
            let name = c.object_name()?;
            let cascade = c.eat_word("CASCADE");
            if !cascade {
                c.eat_word("RESTRICT");
            }
            FlinkStatement::DropDatabase { name, if_exists, cascade }
        }
        "USE" => {
            c.next();
            if c.eat_word("CATALOG") { FlinkStatement::UseCatalog(c.ident()?) } else { FlinkStatement::Use(c.object_name()?) }
        }
        "DROP" if is_word(c.peek_at(1), "FUNCTION") || (is_word(c.peek_at(1), "TEMPORARY") && (is_word(c.peek_at(2), "FUNCTION") || is_word(c.peek_at(2), "SYSTEM"))) => {
            c.next();
            let temporary = c.eat_word("TEMPORARY");
            let system = c.eat_word("SYSTEM");
            c.expect_word("FUNCTION")?;
            let if_exists = if c.eat_word("IF") {
                c.expect_word("EXISTS")?;
                true
            } else {
                false
            };
            FlinkStatement::DropFunction { name: c.object_name()?, if_exists, temporary, system }
        }
        "DROP" => {
            c.next();
            c.eat_word("TEMPORARY");
            let view = if c.eat_word("VIEW") {
                true
            } else {
                c.expect_word("TABLE")?;
                false
            };
            let if_exists = if c.eat_word("IF") {
                c.expect_word("EXISTS")?;
                true
            } else {
                false
            };
            FlinkStatement::Drop { name: c.object_name()?, if_exists, view }
        }
        "INSERT" => {
            let s = c.with_sqlparser(|p| p.parse_statement())?;
            FlinkStatement::Insert(Box::new(s))
        }
        "SELECT" | "WITH" | "VALUES" | "(" => FlinkStatement::Query(c.with_sqlparser(|p| p.parse_query())?),
        "EXECUTE" => {
            c.next();
            c.expect_word("STATEMENT")?;
            c.expect_word("SET")?;
            c.expect_word("BEGIN")?;
            let mut inserts = Vec::new();
            loop {
                while c.eat(&Token::SemiColon) {}
                if c.eat_word("END") {
                    break;
                }
                let p = c.pos();
                if !is_word(c.peek(), "INSERT") {
                    return Err(c.unexpected("only INSERT statements are allowed in a STATEMENT SET"));
                }
                let s = c.with_sqlparser(|p| p.parse_statement())?;
                inserts.push((Box::new(s), p));
            }
            FlinkStatement::StatementSet(inserts)
        }
        "SET" => {
            c.next();
            if c.at_end() {
                FlinkStatement::Set(None)
            } else {
                let key = match c.peek().clone() {
                    Token::SingleQuotedString(_) => c.string_lit()?,
                    _ => c.object_name()?,
                };
                c.expect(&Token::Eq)?;
                let value = match c.peek().clone() {
                    Token::SingleQuotedString(_) => c.string_lit()?,
                    Token::Number(n, _) => {
                        c.next();
                        n
                    }
                    Token::Word(w) => {
                        c.next();
                        w.value
                    }
                    _ => return Err(c.unexpected("expected a value")),
                };
                FlinkStatement::Set(Some((key, value)))
            }
        }
        "RESET" => {
            c.next();
            if c.at_end() { FlinkStatement::Reset(None) } else { FlinkStatement::Reset(Some(c.string_lit()?)) }
        }
        "SHOW" => {
            c.next();
            if c.eat_word("TABLES") {
                FlinkStatement::ShowTables
            } else if c.eat_word("VIEWS") {
                FlinkStatement::ShowViews
            } else if c.eat_word("FUNCTIONS") {
                FlinkStatement::ShowFunctions { user: false }
            } else if c.eat_word("USER") {
                c.expect_word("FUNCTIONS")?;
                FlinkStatement::ShowFunctions { user: true }
            } else if c.eat_word("DATABASES") {
                FlinkStatement::ShowDatabases
            } else if c.eat_word("CATALOGS") {
                FlinkStatement::ShowCatalogs
            } else if c.eat_word("CURRENT") {
                if c.eat_word("DATABASE") {
                    FlinkStatement::ShowCurrentDatabase
                } else {
                    c.expect_word("CATALOG")?;
                    FlinkStatement::ShowCurrentCatalog
                }
            } else {
                return Err(c.unexpected("expected TABLES, VIEWS, [USER] FUNCTIONS, DATABASES, CATALOGS or CURRENT after SHOW"));
            }
        }
        "DESCRIBE" | "DESC" => {
            c.next();
            FlinkStatement::Describe(c.object_name()?)
        }
        "EXPLAIN" => {
            c.next();
            if c.eat_word("PLAN") {
                c.expect_word("FOR")?;
            }
            // Flink's EXPLAIN detail keywords are accepted and ignored.
            while matches!(c.peek(), Token::Word(w) if matches!(w.value.to_ascii_uppercase().as_str(), "ESTIMATED_COST" | "CHANGELOG_MODE" | "JSON_EXECUTION_PLAN" | "PLAN_ADVICE")) {
                c.next();
                c.eat(&Token::Comma);
            }
            let inner_pos = c.pos();
            let inner = parse_statement(&toks[c.i..], inner_pos)?;
            return Ok(FlinkStatement::Explain(Box::new(Located { stmt: inner, pos: inner_pos, text: String::new() })));
        }
        other => {
            return Err(SqlError::parse(
                pos,
                format!("unknown statement '{other}': expected CREATE, DROP, INSERT, SELECT, EXECUTE STATEMENT SET, SET, RESET, SHOW, DESCRIBE or EXPLAIN"),
            ));
        }
    };
    if !c.at_end() {
        return Err(c.unexpected("expected end of statement"));
    }
    Ok(stmt)
}

fn eat_if_not_exists(c: &mut Cursor) -> Result<bool> {
    if c.eat_word("IF") {
        c.expect_word("NOT")?;
        c.expect_word("EXISTS")?;
        Ok(true)
    } else {
        Ok(false)
    }
}

fn parse_create_table(c: &mut Cursor, temporary: bool) -> Result<CreateTable> {
    let if_not_exists = eat_if_not_exists(c)?;
    let name_pos = c.pos();
    let name = c.object_name()?;
    let mut t = CreateTable {
        name,
        name_pos,
        if_not_exists,
        temporary,
        columns: vec![],
        watermark: None,
        primary_key: None,
        options: vec![],
        comment: None,
        partitioned_by: vec![],
        like: None,
    };
    if c.eat(&Token::LParen) {
        loop {
            let p = c.pos();
            if c.eat_word("WATERMARK") {
                c.expect_word("FOR")?;
                let column = c.ident()?;
                c.expect_word("AS")?;
                let expr = c.with_sqlparser(|p| p.parse_expr())?;
                if t.watermark.is_some() {
                    return Err(SqlError::validation(p, "a table can have only one WATERMARK definition"));
                }
                t.watermark = Some(WatermarkDef { column, expr, pos: p });
            } else if is_word(c.peek(), "PRIMARY") || (is_word(c.peek(), "CONSTRAINT") && !matches!(c.peek_at(1), Token::Word(w) if is_type_start(w))) {
                if c.eat_word("CONSTRAINT") {
                    c.ident()?;
                }
                c.expect_word("PRIMARY")?;
                c.expect_word("KEY")?;
                c.expect(&Token::LParen)?;
                let mut cols = vec![c.ident()?];
                while c.eat(&Token::Comma) {
                    cols.push(c.ident()?);
                }
                c.expect(&Token::RParen)?;
                expect_not_enforced(c)?;
                t.primary_key = Some(cols);
            } else {
                let col = parse_column(c, &mut t)?;
                t.columns.push(col);
            }
            if c.eat(&Token::Comma) {
                continue;
            }
            c.expect(&Token::RParen)?;
            break;
        }
    }
    if c.eat_word("COMMENT") {
        t.comment = Some(c.string_lit()?);
    }
    if c.eat_word("PARTITIONED") {
        c.expect_word("BY")?;
        c.expect(&Token::LParen)?;
        loop {
            t.partitioned_by.push(c.ident()?);
            if !c.eat(&Token::Comma) {
                break;
            }
        }
        c.expect(&Token::RParen)?;
    }
    if c.eat_word("WITH") {
        c.expect(&Token::LParen)?;
        if !c.eat(&Token::RParen) {
            loop {
                let p = c.pos();
                let k = c.string_lit()?;
                c.expect(&Token::Eq)?;
                let v = c.string_lit()?;
                if t.options.iter().any(|(ek, _, _)| *ek == k) {
                    return Err(SqlError::validation(p, format!("option '{k}' is given twice")));
                }
                t.options.push((k, v, p));
                if c.eat(&Token::Comma) {
                    continue;
                }
                c.expect(&Token::RParen)?;
                break;
            }
        }
    }
    if c.eat_word("LIKE") {
        let pos = c.pos();
        let source = c.object_name()?;
        let mut options = Vec::new();
        if c.eat(&Token::LParen) {
            loop {
                let strategy = c.ident()?.to_ascii_uppercase();
                if !matches!(strategy.as_str(), "INCLUDING" | "EXCLUDING" | "OVERWRITING") {
                    return Err(SqlError::parse(c.pos(), format!("expected INCLUDING, EXCLUDING or OVERWRITING, found '{strategy}'")));
                }
                let feature = c.ident()?.to_ascii_uppercase();
                if !matches!(feature.as_str(), "ALL" | "CONSTRAINTS" | "GENERATED" | "METADATA" | "OPTIONS" | "PARTITIONS" | "WATERMARKS") {
                    return Err(SqlError::parse(
                        c.pos(),
                        format!("unknown LIKE option '{feature}'; expected ALL, CONSTRAINTS, GENERATED, METADATA, OPTIONS, PARTITIONS or WATERMARKS"),
                    ));
                }
                options.push((strategy, feature));
                if !c.eat(&Token::Comma) {
                    break;
                }
            }
            c.expect(&Token::RParen)?;
        }
        t.like = Some(LikeClause { source, pos, options });
    }
    Ok(t)
}

fn expect_not_enforced(c: &mut Cursor) -> Result<()> {
    let p = c.pos();
    if c.eat_word("NOT") {
        c.expect_word("ENFORCED")?;
        Ok(())
    } else {
        Err(SqlError::validation(
            p,
            "Flink does not support ENFORCED mode for PRIMARY KEY constraints: write PRIMARY KEY (…) NOT ENFORCED",
        ))
    }
}

fn is_type_start(w: &Word) -> bool {
    matches!(w.keyword, Keyword::PRIMARY) || w.value.eq_ignore_ascii_case("PRIMARY")
}

fn parse_column(c: &mut Cursor, t: &mut CreateTable) -> Result<ColumnDef> {
    let pos = c.pos();
    let name = c.ident()?;
    if c.eat_word("AS") {
        let expr = c.with_sqlparser(|p| p.parse_expr())?;
        let comment = if c.eat_word("COMMENT") { Some(c.string_lit()?) } else { None };
        return Ok(ColumnDef { name, pos, kind: ColumnKind::Computed(expr), comment });
    }
    let ty = parse_type(c)?;
    let mut kind = ColumnKind::Physical(ty.clone());
    if c.eat_word("METADATA") {
        let key = if c.eat_word("FROM") { Some(c.string_lit()?) } else { None };
        let is_virtual = c.eat_word("VIRTUAL");
        kind = ColumnKind::Metadata { ty, key, is_virtual };
    }
    let p = c.pos();
    if c.eat_word("PRIMARY") {
        c.expect_word("KEY")?;
        expect_not_enforced(c)?;
        if t.primary_key.is_some() {
            return Err(SqlError::validation(p, "a table can have only one PRIMARY KEY"));
        }
        t.primary_key = Some(vec![name.clone()]);
    }
    let comment = if c.eat_word("COMMENT") { Some(c.string_lit()?) } else { None };
    Ok(ColumnDef { name, pos, kind, comment })
}

fn opt_len(c: &mut Cursor, default: u32) -> Result<u32> {
    if c.eat(&Token::LParen) {
        let n = c.number()?;
        c.expect(&Token::RParen)?;
        Ok(n.min(u32::MAX as u64) as u32)
    } else {
        Ok(default)
    }
}

fn opt_precision(c: &mut Cursor, default: u8, max: u8) -> Result<u8> {
    let p = c.pos();
    let n = opt_len(c, default as u32)?;
    if n > max as u32 {
        return Err(SqlError::validation(p, format!("precision {n} is out of range [0, {max}]")));
    }
    Ok(n as u8)
}

/// Parse a Flink data type with optional `NOT NULL` / `NULL`.
fn parse_type(c: &mut Cursor) -> Result<FlinkTypeN> {
    let pos = c.pos();
    let word = match c.peek().clone() {
        Token::Word(w) => w.value.to_ascii_uppercase(),
        _ => return Err(c.unexpected("expected a data type")),
    };
    c.next();
    let ty = match word.as_str() {
        "STRING" => FlinkType::String,
        "VARCHAR" => FlinkType::Varchar(opt_len(c, 1)?),
        "CHAR" | "CHARACTER" => {
            if c.eat_word("VARYING") { FlinkType::Varchar(opt_len(c, 1)?) } else { FlinkType::Char(opt_len(c, 1)?) }
        }
        "BOOLEAN" | "BOOL" => FlinkType::Boolean,
        "BYTES" => FlinkType::Bytes,
        "BINARY" => FlinkType::Binary(opt_len(c, 1)?),
        "VARBINARY" => FlinkType::Varbinary(opt_len(c, 1)?),
        "DECIMAL" | "DEC" | "NUMERIC" => {
            let (mut p, mut s) = (10u64, 0u64);
            if c.eat(&Token::LParen) {
                p = c.number()?;
                if c.eat(&Token::Comma) {
                    s = c.number()?;
                }
                c.expect(&Token::RParen)?;
            }
            if !(1..=38).contains(&p) || s > p {
                return Err(SqlError::validation(pos, format!("DECIMAL({p}, {s}): precision must be 1..38 and scale 0..precision")));
            }
            FlinkType::Decimal(p as u8, s as i8)
        }
        "TINYINT" => FlinkType::TinyInt,
        "SMALLINT" => FlinkType::SmallInt,
        "INT" | "INTEGER" => FlinkType::Int,
        "BIGINT" => FlinkType::BigInt,
        "FLOAT" | "REAL" => FlinkType::Float,
        "DOUBLE" => {
            c.eat_word("PRECISION");
            FlinkType::Double
        }
        "DATE" => FlinkType::Date,
        "TIME" => {
            let p = opt_precision(c, 0, 9)?;
            if c.eat_word("WITHOUT") {
                c.expect_word("TIME")?;
                c.expect_word("ZONE")?;
            }
            FlinkType::Time(p)
        }
        "TIMESTAMP" => {
            let p = opt_precision(c, 6, 9)?;
            if c.eat_word("WITH") {
                c.expect_word("LOCAL")?;
                c.expect_word("TIME")?;
                c.expect_word("ZONE")?;
                FlinkType::TimestampLtz(p)
            } else {
                if c.eat_word("WITHOUT") {
                    c.expect_word("TIME")?;
                    c.expect_word("ZONE")?;
                }
                FlinkType::Timestamp(p)
            }
        }
        "TIMESTAMP_LTZ" => FlinkType::TimestampLtz(opt_precision(c, 6, 9)?),
        "INTERVAL" => {
            let unit = c.ident()?.to_ascii_uppercase();
            let _ = opt_len(c, 0)?;
            if c.eat_word("TO") {
                let _ = c.ident()?;
                let _ = opt_len(c, 0)?;
            }
            if unit == "YEAR" || unit == "MONTH" { FlinkType::IntervalYearMonth } else { FlinkType::IntervalDayTime }
        }
        "ARRAY" | "MULTISET" => {
            c.expect(&Token::Lt)?;
            let inner = parse_type(c)?;
            c.expect_gt()?;
            if word == "ARRAY" { FlinkType::Array(Box::new(inner.ty)) } else { FlinkType::Multiset(Box::new(inner.ty)) }
        }
        "MAP" => {
            c.expect(&Token::Lt)?;
            let k = parse_type(c)?;
            c.expect(&Token::Comma)?;
            let v = parse_type(c)?;
            c.expect_gt()?;
            FlinkType::Map(Box::new(k.ty), Box::new(v.ty))
        }
        "ROW" => {
            let angle = if c.eat(&Token::Lt) {
                true
            } else {
                c.expect(&Token::LParen)?;
                false
            };
            let mut fields = Vec::new();
            loop {
                let n = c.ident()?;
                let t = parse_type(c)?;
                if c.eat_word("COMMENT") {
                    c.string_lit()?;
                }
                fields.push((n, t.ty));
                if !c.eat(&Token::Comma) {
                    break;
                }
            }
            if angle { c.expect_gt()? } else { c.expect(&Token::RParen)? }
            FlinkType::Row(fields)
        }
        "NULL" => FlinkType::Null,
        other => {
            return Err(SqlError::parse(
                pos,
                format!("unknown data type '{other}'; Flink types are STRING, VARCHAR(n), CHAR(n), BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), DATE, TIME(p), TIMESTAMP(p), TIMESTAMP_LTZ(p), BYTES, BINARY(n), VARBINARY(n), ARRAY<T>, MAP<K, V>, MULTISET<T>, ROW<…>"),
            ));
        }
    };
    let nullable = if c.eat_word("NOT") {
        c.expect_word("NULL")?;
        false
    } else {
        c.eat_word("NULL");
        true
    };
    Ok(FlinkTypeN { ty, nullable })
}

/// Parse a standalone Flink type (e.g. the target of CAST, for tests and tools).
pub fn parse_type_str(s: &str) -> Result<FlinkTypeN> {
    let toks = tokenize(s)?;
    let toks: Vec<_> = toks.into_iter().filter(|t| !matches!(t.token, Token::EOF)).collect();
    let mut c = Cursor::new(&toks, Pos::new(1, s.len() as u64 + 1));
    let t = parse_type(&mut c)?;
    if !c.at_end() {
        return Err(c.unexpected("expected end of type"));
    }
    Ok(t)
}

/// sqlparser's `Statement::Insert` target name and source query.
pub fn insert_parts(stmt: &Statement) -> Option<(&ast::ObjectName, &Query)> {
    match stmt {
        Statement::Insert(ins) => match (&ins.table, &ins.source) {
            (ast::TableObject::TableName(n), Some(q)) => Some((n, q)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flink_ddl() {
        let sql = "CREATE TABLE `orders` (\n  id BIGINT NOT NULL,\n  tags ARRAY<ARRAY<STRING>>,\n  m MAP<STRING, INT>,\n  r ROW<a INT, b STRING>,\n  ts TIMESTAMP(3),\n  ltz TIMESTAMP_LTZ(3),\n  total AS price * qty,\n  price DECIMAL(10, 2), qty INT,\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND,\n  PRIMARY KEY (id) NOT ENFORCED\n) WITH ('connector' = 'datagen', 'rows-per-second' = '10');";
        let stmts = parse_script(sql).unwrap();
        assert_eq!(stmts.len(), 1);
        let FlinkStatement::CreateTable(t) = &stmts[0].stmt else { panic!() };
        assert_eq!(t.name, "orders");
        assert_eq!(t.columns.len(), 9);
        assert_eq!(t.primary_key, Some(vec!["id".to_string()]));
        assert_eq!(t.watermark.as_ref().unwrap().column, "ts");
        assert_eq!(t.options.len(), 2);
        let ColumnKind::Physical(ty) = &t.columns[1].kind else { panic!() };
        assert_eq!(ty.ty.to_string(), "ARRAY<ARRAY<STRING>>");
        assert_eq!(t.columns[6].pos, Pos::new(8, 3));
    }

    #[test]
    fn parses_statement_sets_and_set() {
        let sql = "SET 'parallelism.default' = '2';\nEXECUTE STATEMENT SET BEGIN\nINSERT INTO a SELECT * FROM b;\nINSERT INTO c SELECT * FROM b;\nEND;\nBEGIN STATEMENT SET;\nINSERT INTO a SELECT 1;\nEND;";
        let s = parse_script(sql).unwrap();
        assert_eq!(s.len(), 3);
        assert!(matches!(&s[0].stmt, FlinkStatement::Set(Some((k, v))) if k == "parallelism.default" && v == "2"));
        assert!(matches!(&s[1].stmt, FlinkStatement::StatementSet(v) if v.len() == 2));
        assert!(matches!(&s[2].stmt, FlinkStatement::StatementSet(v) if v.len() == 1));
    }

    #[test]
    fn errors_have_positions() {
        let e = parse_script("CREATE TABLE t (\n  a INTEGR\n) WITH ('connector'='x')").unwrap_err();
        assert_eq!(e.pos(), Some(Pos::new(2, 5)), "{e}");
        assert!(e.to_string().contains("unknown data type 'INTEGR'"), "{e}");
        let e = parse_script("SELECT a FROM t WHERE").unwrap_err();
        assert!(e.pos().unwrap().line == 1, "{e}");
        let e = parse_script("CREATE TABLE t (a INT, PRIMARY KEY (a)) WITH ()").unwrap_err();
        assert!(e.to_string().contains("NOT ENFORCED"), "{e}");
    }
}
