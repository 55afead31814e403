"""One module per CLI command: parse options, call library code, choose the exit code."""
