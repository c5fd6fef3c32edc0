"""Data sources: the built-in transaction simulator and CSV/Parquet files described by a schema."""
