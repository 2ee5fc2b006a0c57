"""Qt front end. Observes the engine in ``studio/`` through signals; never computes."""
