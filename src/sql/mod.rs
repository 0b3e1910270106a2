//! DataFusion functions, the model registry and CREATE MODEL (owner: sql work).
