-- q13 bounded side input join: every bid joined with a static side table by a lookup on
-- auction % 10000.
CREATE TABLE side_input (
    key BIGINT,
    `value` STRING
) WITH (
    'connector' = 'filesystem',
    'path' = '${NEXMARK_OUT}/side_input.csv',
    'format' = 'csv'
);

CREATE TABLE nexmark_q13 (
    auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), `value` STRING
) WITH ('connector' = 'blackhole');

CREATE VIEW bid_proctime AS SELECT *, PROCTIME() AS p_time FROM bid;

INSERT INTO nexmark_q13
SELECT b.auction, b.bidder, b.price, b.`dateTime`, s.`value`
FROM bid_proctime AS b
JOIN side_input FOR SYSTEM_TIME AS OF b.p_time AS s
ON MOD(b.auction, 10000) = s.key;
