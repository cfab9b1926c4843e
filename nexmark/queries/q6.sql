-- q6 average selling price by seller: the average closing price of each seller's last 10
-- closed auctions (OVER on an updating input; Flink itself rejects this query).
CREATE TABLE nexmark_q6 (seller BIGINT, avg_price BIGINT) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q6
SELECT q.seller,
       AVG(q.final) OVER (PARTITION BY q.seller ORDER BY q.`dateTime` ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)
FROM (
    SELECT MAX(b.price) AS final, a.seller, b.`dateTime`
    FROM auction AS a, bid AS b
    WHERE a.id = b.auction AND b.`dateTime` BETWEEN a.`dateTime` AND a.expires
    GROUP BY a.id, a.seller, b.`dateTime`
) AS q;
