"""Adapters to the outside systems, one module each: PostgreSQL (engine and repositories), Redis (the cache),
SQS (the trade queue), boto3 clients, and CloudWatch-style logs and metrics."""
