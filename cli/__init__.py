"""The `archsearch` command line."""
