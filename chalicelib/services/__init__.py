"""Business operations. Each takes a unit of work and the cache; none opens sessions or clients itself."""
