-- Vectors in, vectors out: compress 8-wide embeddings to a 2-wide latent, decode them back, and
-- find the rows the model cannot rebuild. Every function takes one vector column (List or
-- FixedSizeList of floats) instead of n columns. Runs as it is:
--   aeflow sql -f sql/vectors.sql

CREATE TABLE embeddings AS
SELECT value AS id,
       make_array(sin(value / 10.0), cos(value / 10.0),
                  sin(value / 10.0) * 0.5, cos(value / 10.0) * 0.5,
                  sin(value / 10.0) + cos(value / 10.0), sin(value / 10.0) - cos(value / 10.0),
                  CASE WHEN value % 300 = 0 THEN 3.0 ELSE 0.1 * sin(value / 10.0) END,
                  0.2 * cos(value / 10.0)) AS v
FROM generate_series(1, 3000);

CREATE MODEL emb OPTIONS (hidden_units = [16, 2, 16], epochs = 30, seed = 11)
AS SELECT v FROM embeddings;

-- The latent vector of each row (FixedSizeList<Float32>[2]), and its reconstruction.
SELECT id,
       ae_encode('emb', v) AS latent,
       arrow_typeof(ae_decode('emb', ae_encode('emb', v))) AS decoded_type
FROM embeddings
ORDER BY id
LIMIT 3;

-- decode(encode(v)) is the reconstruction; the rows it misses most are the odd ones.
SELECT id, round(array_distance(ae_decode('emb', ae_encode('emb', v)), v), 3) AS distance
FROM embeddings
ORDER BY distance DESC
LIMIT 5;

-- A latent vector can be given as a literal too.
SELECT ae_decode('emb', make_array(0.0, 0.0)) AS centre_of_latent_space;
