"""Digital-Asset Policy Q&A: answers questions about digital-asset regulation from indexed articles."""
