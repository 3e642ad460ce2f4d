"""How a job hands its result to the CLI: one stdout line, this marker then JSON."""

RESULT_MARKER = "LAKEHOUSE_RESULT "
