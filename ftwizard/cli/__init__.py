"""The command line: a thin face on the engine. Each command is one module with `register` and `run`."""
