-- A datagen source and a filesystem JSON source, projections and filters with Flink's
-- functions, into a print sink and a filesystem (csv) sink. Run from the repository root:
--   rask run examples/acceptance.sql
CREATE TABLE clicks (
  user_id  BIGINT,
  url      STRING,
  referrer STRING,
  ts       TIMESTAMP(3),
  meta     STRING,
  host     AS REGEXP_EXTRACT(url, 'https?://([^/]+)/', 1),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = 'examples/data/clicks.json',
  'format' = 'json'
);

CREATE TABLE users (
  id    INT,
  score INT
) WITH (
  'connector' = 'datagen',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '15',
  'fields.score.kind' = 'sequence', 'fields.score.start' = '101', 'fields.score.end' = '115'
);

CREATE TABLE click_report (
  user_id   BIGINT,
  host      STRING,
  page      STRING,
  item      STRING,
  source    STRING,
  device    STRING,
  minute_ts STRING,
  day_of    DATE
) WITH ('connector' = 'print', 'print-identifier' = 'clicks');

CREATE TABLE user_tiers (
  id    INT,
  tier  STRING,
  label STRING
) WITH ('connector' = 'filesystem', 'path' = '/tmp/rask-acceptance/user_tiers', 'format' = 'csv');

INSERT INTO click_report
SELECT
  user_id,
  host,
  SPLIT_INDEX(REGEXP_REPLACE(url, '\?.*$', ''), '/', 3),
  REGEXP_EXTRACT(url, 'item=([0-9]+)', 1),
  COALESCE(LOWER(referrer), 'direct'),
  COALESCE(JSON_VALUE(meta, '$.device'), 'unknown'),
  DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm'),
  CAST(ts AS DATE)
FROM clicks
WHERE host LIKE 'shop.%' OR user_id > 10;

INSERT INTO user_tiers
SELECT id,
       CASE WHEN score >= 110 THEN 'gold' WHEN score >= 105 THEN 'silver' ELSE 'bronze' END,
       CONCAT_WS('-', 'user', LPAD(CAST(id AS STRING), 3, '0'), UPPER(SUBSTRING('tier', 1, 1)))
FROM users
WHERE MOD(id, 4) <> 0;
