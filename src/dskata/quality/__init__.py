"""What the kit measures besides the hidden checks: the candidate's own tests (testing
dimension, ``own_tests``), code-health signals (``health``) and integrity signals
(``integrity``: information for the interviewer, never points)."""
