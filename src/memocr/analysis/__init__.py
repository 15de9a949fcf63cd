"""Analyses of a run: where memories put their facts (`density`) and the heading-vs-body `oracle`."""
