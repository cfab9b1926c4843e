-- Rask quickstart: a bounded datagen source, a filter and a projection with Flink functions,
-- printed as Flink's print connector does.
CREATE TABLE orders (
  order_id   BIGINT,
  customer   STRING,
  amount     DECIMAL(10, 2),
  quantity   INT,
  order_time AS LOCALTIMESTAMP
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '20',
  'rows-per-second' = '10',
  'fields.order_id.kind' = 'sequence',
  'fields.order_id.start' = '1',
  'fields.order_id.end' = '20',
  'fields.customer.length' = '6',
  'fields.amount.min' = '1',
  'fields.amount.max' = '500',
  'fields.quantity.min' = '1',
  'fields.quantity.max' = '9'
);

CREATE TABLE big_orders (
  order_id BIGINT,
  customer STRING,
  total    DECIMAL(20, 2),
  size     STRING
) WITH ('connector' = 'print');

INSERT INTO big_orders
SELECT order_id,
       UPPER(customer),
       amount * quantity,
       CASE WHEN quantity >= 5 THEN 'bulk' ELSE 'single' END
FROM orders
WHERE amount * quantity > 100;
