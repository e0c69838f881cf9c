"""tradeapi's code, by layer; data flows one way:

    app.py (routes, thin) -> api/ (HTTP and SQS edge: parse, validate, answer)
        -> services/ (use cases, one transaction each through the unit of work)
        -> domain/ (rules, models, events, views) and adapters/ (PostgreSQL, Redis, SQS, logs)

`config.py` reads the settings; `lazy.py` is how a process builds its clients once."""
