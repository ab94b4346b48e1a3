"""Example agents that aitest-bdd does not run itself: programs that only know where their model is."""
