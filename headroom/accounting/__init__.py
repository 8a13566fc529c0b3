"""Accounting: tokens, prices, cost, budgets, rate limits, savings and the response cache."""
