"""The log store: a local folder or an S3 bucket, both laid out by ``logpipe.layout``.

``Store`` speaks the layout (windows, partitions, services); an ``ObjectStore`` (local or S3) holds
the bytes; ``logpipe.store.records`` reads gzip'd JSON lines and counts bad records by reason.
"""

from __future__ import annotations

from logpipe.store.base import ObjectStore, StoredObject
from logpipe.store.local import LocalObjectStore
from logpipe.store.logs import Store, open_object_store
from logpipe.store.records import MAX_RECORD_BYTES, ReadStats, decompress_lines, gzip_lines, parse_record
from logpipe.store.s3 import S3ObjectStore, split_s3_url

__all__ = ["MAX_RECORD_BYTES", "LocalObjectStore", "ObjectStore", "ReadStats", "S3ObjectStore", "Store",
           "StoredObject", "decompress_lines", "gzip_lines", "open_object_store", "parse_record", "split_s3_url"]
