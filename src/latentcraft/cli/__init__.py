"""The command line: thin parsers that call the API."""
