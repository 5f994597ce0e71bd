"""Sync billing exports from where the clouds write them: folders and object stores (fsspec), the
providers' delivery layouts, newest delivery per export and period, one atomic publish per sync,
a lock, a record of each run, and a worker with an in-process schedule (docs/sync.md).

``sources`` (sources.yaml), ``remote`` (fsspec), ``layouts`` (which files form a delivery),
``runner`` (one sync), ``history`` (the state database), ``worker``, ``commands`` (CLI).
"""
