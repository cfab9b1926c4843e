-- q5 hot items: in every 10 s window sliding by 2 s, the auction(s) with the most bids.
CREATE TABLE nexmark_q5 (auction BIGINT, num BIGINT) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q5
SELECT c.auction, c.num
FROM (
    SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end
) AS c
JOIN (
    SELECT MAX(cb.num) AS maxn, cb.starttime, cb.endtime
    FROM (
        SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
        FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
        GROUP BY auction, window_start, window_end
    ) AS cb
    GROUP BY cb.starttime, cb.endtime
) AS m
ON c.starttime = m.starttime AND c.endtime = m.endtime AND c.num >= m.maxn;
