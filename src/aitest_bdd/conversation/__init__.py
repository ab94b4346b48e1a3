"""The conversation engine: a session and its tool-calling loop, what each turn did, the judge, prices."""
