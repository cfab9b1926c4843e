-- q4 average price per category: the closing price of an auction is its highest bid before it
-- expires; average those per category (an updating result).
CREATE TABLE nexmark_q4 (id BIGINT, final BIGINT) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q4
SELECT q.category, AVG(q.final)
FROM (
    SELECT MAX(b.price) AS final, a.category
    FROM auction AS a, bid AS b
    WHERE a.id = b.auction AND b.`dateTime` BETWEEN a.`dateTime` AND a.expires
    GROUP BY a.id, a.category
) AS q
GROUP BY q.category;
