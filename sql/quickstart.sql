-- aeflow in SQL, start to finish. Runs as it is:
--   aeflow sql -f sql/quickstart.sql
-- (add --model-dir models/ to keep the trained model for later sessions).

-- 1. A table of pump readings: four sensors that move together, and a few broken rows
--    (every 250th reading has a vibration spike that does not match the other sensors).
CREATE TABLE readings AS
SELECT value AS id,
       1450 + 40 * sin(value / 50.0)                              AS rpm,
       12 + 0.5 * sin(value / 50.0) + 0.1 * cos(value / 7.0)      AS pressure_bar,
       30 + 0.8 * sin(value / 50.0) + 0.2 * cos(value / 11.0)     AS power_kw,
       CASE WHEN value % 250 = 0 THEN 9.0
            ELSE 2 + 0.3 * sin(value / 50.0) + 0.05 * cos(value / 3.0) END AS vibration
FROM generate_series(1, 5000);

-- 2. Train an autoencoder on it. Every option is optional; they mirror `aeflow train`.
CREATE MODEL pumps
OPTIONS (hidden_units = [16, 2, 16], epochs = 40, contamination = 0.005, seed = 7)
AS SELECT rpm, pressure_bar, power_kw, vibration FROM readings;

SHOW MODELS;

-- 3. Score every row in place: the highest reconstruction errors are the broken readings.
SELECT id,
       round(ae_reconstruction_error('pumps', rpm, pressure_bar, power_kw, vibration), 4) AS error,
       ae_is_anomaly('pumps', rpm, pressure_bar, power_kw, vibration) AS anomaly
FROM readings
ORDER BY error DESC
LIMIT 8;

-- 4. How many rows are flagged, and how many of the broken ones are among them.
SELECT count(*) FILTER (WHERE ae_is_anomaly('pumps', rpm, pressure_bar, power_kw, vibration)) AS flagged,
       count(*) FILTER (WHERE id % 250 = 0
                          AND ae_is_anomaly('pumps', rpm, pressure_bar, power_kw, vibration)) AS broken_flagged,
       count(*) FILTER (WHERE id % 250 = 0) AS broken
FROM readings;

-- 5. What the model is, and how training went.
SELECT name, kind, n_features, array_to_string(dims, ' -> ') AS layers, round(threshold, 4) AS threshold, scaler
FROM ae_model_info('pumps');

SELECT epoch, round(train_loss, 5) AS train_loss, round(val_loss, 5) AS val_loss
FROM ae_training_history('pumps')
ORDER BY epoch DESC
LIMIT 3;
