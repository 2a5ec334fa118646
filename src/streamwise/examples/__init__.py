"""The example pipelines, shipped inside the package so an installed streamwise has them too
(``streamwise run clickstream``); in the source tree ``pipelines/`` links here.

Owns data only (YAML files); imports nothing of streamwise. ``pipeline.catalog`` finds them.
"""
