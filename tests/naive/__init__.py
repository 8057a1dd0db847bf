"""Naive per-read Python references of the ops (tests only): slow and obvious."""
