"""The Alpaca surface: Alpaca's Trading API v2 under /v2, over the same core and order engine as the classic one."""
