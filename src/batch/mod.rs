//! Parquet / CSV / NDJSON batch jobs with bounded memory (owner: io work).
