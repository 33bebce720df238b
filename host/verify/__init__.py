"""Replays of real data checked against independent ground truth, one module per source."""
