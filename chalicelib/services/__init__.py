"""The use cases, one module each (users, stocks, trades, history, portfolio, settlement, outbox, health). Each
speaks only to the unit of work's repositories and to the domain; none imports SQLAlchemy, Redis or another use
case. `unit_of_work` owns the transaction; `after_commit` is what follows each event it reports."""
