-- q7 highest bid: the bid(s) with the highest price in each 10 s tumbling window.
CREATE TABLE nexmark_q7 (
    auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), extra STRING
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q7
SELECT b.auction, b.price, b.bidder, b.`dateTime`, b.extra
FROM bid AS b
JOIN (
    SELECT MAX(price) AS maxprice, window_end AS `dateTime`
    FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end
) AS b1
ON b.price = b1.maxprice
WHERE b.`dateTime` BETWEEN b1.`dateTime` - INTERVAL '10' SECOND AND b1.`dateTime`;
