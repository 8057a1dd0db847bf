"""Fixtures of the cache and Parquet tests."""

from cache_files import copy_data  # noqa: F401
