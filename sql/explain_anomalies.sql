-- Which feature makes a row anomalous? ae_feature_errors splits the reconstruction error over
-- the features (their mean is ae_reconstruction_error). Runs as it is:
--   aeflow sql -f sql/explain_anomalies.sql

CREATE TABLE orders AS
SELECT value AS order_id,
       20 + 10 * sin(value / 30.0)                                  AS items,
       (20 + 10 * sin(value / 30.0)) * 4.5 + 0.5 * cos(value / 5.0) AS amount_eur,
       (20 + 10 * sin(value / 30.0)) * 0.8 + 0.1 * cos(value / 7.0) AS weight_kg,
       CASE WHEN value % 500 = 0 THEN 30.0
            ELSE 3 + 0.3 * sin(value / 30.0) END                    AS shipping_days
FROM generate_series(1, 4000);

CREATE MODEL orders_ae
OPTIONS (hidden_units = [12, 1, 12], epochs = 30, contamination = 0.002, seed = 3)
AS SELECT items, amount_eur, weight_kg, shipping_days FROM orders;

-- The worst rows, with the share of their error each feature carries.
SELECT order_id,
       round(err, 3) AS error,
       round(fe[1] / (4 * err), 2) AS items_share,
       round(fe[2] / (4 * err), 2) AS amount_share,
       round(fe[3] / (4 * err), 2) AS weight_share,
       round(fe[4] / (4 * err), 2) AS shipping_share
FROM (
  SELECT order_id,
         ae_reconstruction_error('orders_ae', items, amount_eur, weight_kg, shipping_days) AS err,
         ae_feature_errors('orders_ae', items, amount_eur, weight_kg, shipping_days) AS fe
  FROM orders
)
ORDER BY err DESC
LIMIT 5;

-- A stricter threshold for large orders: the threshold may be any numeric expression.
SELECT count(*) AS flagged
FROM orders
WHERE ae_is_anomaly('orders_ae', items, amount_eur, weight_kg, shipping_days,
                    CASE WHEN amount_eur > 100 THEN 0.05 ELSE 0.5 END);

-- What the model expected instead, in the original units.
SELECT order_id, shipping_days,
       round(arrow_cast(ae_reconstruct('orders_ae', items, amount_eur, weight_kg, shipping_days)[4], 'Float64'), 1) AS expected_shipping_days
FROM orders
WHERE order_id % 500 = 0
ORDER BY order_id
LIMIT 3;
