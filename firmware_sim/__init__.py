"""World simulator, device replay and evaluation."""
