"""The classic surface: today's routes (users, stocks, bars, transactions), their request and response shapes,
how records read in their JSON, and their error body."""
