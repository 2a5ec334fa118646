"""The example pipelines, shipped inside the package so an installed streamwise has them too
(``streamwise run clickstream``); in the source tree ``pipelines/`` links here."""
