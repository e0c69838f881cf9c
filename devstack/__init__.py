"""Local tooling: find or start the services tradeapi needs, migrate, and run the stack."""
