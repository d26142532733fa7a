"""Workflows the tests' workers serve beside the agents'. A folder of their own: a worker writes
the bytecode of every module in its workflows' folders when it starts (agents/framework/bytecode.py),
and this one is small."""
