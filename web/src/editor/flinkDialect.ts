// The Flink SQL dialect for CodeMirror's SQL mode: Flink's keywords and types, backtick-quoted
// identifiers, '--' and '/* */' comments.
import { SQLDialect } from "@codemirror/lang-sql";

const keywords =
  "add after all alter analyze and any array as asc at between both by call cascade case cast catalog catalogs " +
  "column columns comment compute constraint create cross cube cumulate current current_date current_time " +
  "current_timestamp current_watermark database databases default delete desc describe descriptor distinct drop " +
  "else end enforced escape except execute exists explain extended false fetch filter first following for " +
  "foreign from full function functions group grouping having hop if ilike in inner insert intersect interval " +
  "into is join jar key last lateral leading left like limit load localtime localtimestamp match_recognize " +
  "measures metadata minus module modules natural next not null nulls of offset on only or order over overwrite " +
  "overwriting partition partitioned pattern plan preceding primary proctime range rename reset right rollup " +
  "row row_number rows select session set show statement system system_time table tables temporary then ties " +
  "to trailing true tumble unbounded union unload unnest update use using value values view views virtual when " +
  "where window with within without watermark watermarks including excluding options constraints generated " +
  "partitions begin rank dense_rank lag lead count sum min max avg coalesce";

const types =
  "array bigint binary boolean bytes char character date dec decimal double float int integer interval map " +
  "multiset null numeric raw real row smallint string time timestamp timestamp_ltz tinyint varbinary varchar " +
  "zone local precision";

export const FlinkSQL = SQLDialect.define({
  keywords,
  types,
  identifierQuotes: "`",
  backslashEscapes: false,
  hashComments: false,
  slashComments: false,
  spaceAfterDashes: false,
  doubleQuotedStrings: false,
  operatorChars: "*+-%<>!=|/",
});
