"""The bounds on work for untrusted input (predictions, references and contexts from any file), in one place.

Each is named in the verdict's note when it is reached (`ExecResult.note`, `execution_note` per example).
A predictions file's line length is bounded where files are read (`ftwizard.datasource.MAX_LINE_CHARS`: a longer
line stops the file with exit 2, naming the line); a prediction within that but over `MAX_QUERY_CHARS` is scored
as a miss (`pred_too_long`) and the rest of the file is scored.
"""

MAX_QUERY_CHARS = 5_000  # a query longer than this is not parsed or run: about 9x the seed's longest gold (577)
MAX_CONTEXT_CHARS = 100_000  # CREATE TABLE statements read for one example
MAX_TABLES = 64  # tables built per test database: the gold's first, then the context's in order
# Work is bounded in SQLite virtual-machine instructions, not seconds, so a score never depends on how busy the
# machine is (a wall-clock limit failed gold queries of the seed's own eval set at load 9). The seed's 568 gold
# queries use at most 12,000 instructions on one test database; 5,000,000 is about 0.1-0.4 s of SQLite work.
QUERY_INSTRUCTION_LIMIT = 5_000_000  # per query on one test database (SQLite progress handler)
PAIR_INSTRUCTION_LIMIT = 15_000_000  # for the prediction over all test databases
PROGRESS_EVERY = 1_000  # instructions between two calls of the progress handler
QUERY_WALL_LIMIT_S = 20.0  # a backstop only: no query within the instruction limit comes near it
MAX_RESULT_ROWS = 10_000  # rows read back from one query
MAX_VALUE_BYTES = 1_000_000  # the longest string or blob a query may build (SQLITE_LIMIT_LENGTH)
MAX_SIMPLIFY_NODES = 400  # normalized match skips sqlglot's simplify above this (its cost grows faster than the tree)
MAX_CONSTANTS_PER_COLUMN = 16  # a gold's comparisons read per column when filling the test databases
# SQLite functions whose work inside one call has no bound the progress handler can stop (a wide printf loops for
# seconds): a query calling one is not run
UNBOUNDED_FUNCTIONS = frozenset({"printf", "format", "zeroblob", "randomblob"})
