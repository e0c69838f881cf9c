"""The domain: trading rules over plain values, the tables that enforce them a second time, what a unit of work
can report as having happened (events), the errors it raises, and how its records read as JSON (views).
Nothing here opens a connection."""
