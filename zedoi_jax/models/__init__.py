"""Score networks: the pose prior and its control branch."""
