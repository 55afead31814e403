"""One module per CLI command: parse options, call library code, choose the exit code."""

from lvatool.logs import quiet_grpc_core_logs

# Before any command imports grpc, whose C core reads GRPC_VERBOSITY once at import:
# its own log lines would repeat our one-sentence errors in internal words.
quiet_grpc_core_logs()
