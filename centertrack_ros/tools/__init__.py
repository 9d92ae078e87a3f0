"""Command-line tools built on the core, and what they share.

``harness`` runs the node in a process of its own and drives it over DDS (demo, soak test,
tests); ``random_models`` makes seeded random-weight models (soak test, benchmark, tests);
``machine`` describes the machine a measurement ran on; ``cli`` holds the exit convention (a
user error on one line with status 2, Ctrl-C or SIGTERM with 130) and the argument types
the tools share.
"""
