"""Locust scenarios for the peak path of a live broadcast."""
