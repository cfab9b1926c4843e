-- q14 calculation: bids in a price range converted to euros, classified by time of day, with
-- the number of 'c' characters in 'extra' (a scalar UDF: Java in Flink's nexmark, here the same
-- function in Python, nexmark/udf/nexmark_udf.py; `rask bench` puts its path for ${NEXMARK_UDF}).
SET 'python.files' = '${NEXMARK_UDF}';
CREATE FUNCTION count_char AS 'nexmark_udf.count_char' LANGUAGE PYTHON;

CREATE TABLE nexmark_q14 (
    auction BIGINT, bidder BIGINT, price DECIMAL(23, 3), bidTimeType STRING,
    `dateTime` TIMESTAMP(3), extra STRING, c_counts BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q14
SELECT auction, bidder, 0.908 * price AS price,
       CASE
           WHEN HOUR(`dateTime`) >= 8 AND HOUR(`dateTime`) <= 18 THEN 'dayTime'
           WHEN HOUR(`dateTime`) <= 6 OR HOUR(`dateTime`) >= 20 THEN 'nightTime'
           ELSE 'otherTime'
       END AS bidTimeType,
       `dateTime`, extra, count_char(extra, 'c') AS c_counts
FROM bid
WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
