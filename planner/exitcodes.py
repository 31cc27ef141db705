"""Exit codes, named in one place. Documented in the README."""
OK = 0
FINDINGS = 1          # lint: findings at or above --fail-on
DIFFERS = 1           # catalog diff --exit-code: the two catalogs differ
USAGE = 2             # bad input, usage, config
INFEASIBLE = 3        # solve: no plan satisfies the spec; fit: not one token of context fits
ACCURACY_BUDGET = 4   # bundle: the converted model breaks the spec's accuracy budget
VERIFY_FAILED = 5     # bundle: the generated script failed to run or its outputs disagree
TIMED_OUT = 6         # solve/report: --time-limit ran out before any plan was found
TOO_LARGE = 7         # solve/report: the model would need more than --max-memory
INTERRUPTED = 130   # SIGINT (Ctrl-C), as shells report it
TERMINATED = 143    # SIGTERM (128 + 15), as shells report it; temporary files are removed first
INTERNAL = 70       # a bug in edgeplan (EX_SOFTWARE); the message says how to see the traceback
